//! A bundle's live side: the admin's login material, which nodes to reach, the verified
//! reload of each and the error naming every node that did not take a change.

use crate::core::bundle::{self, Files, Manifest};
use crate::core::inspect;
use crate::error::{Error, Result};

/// The admin user's login material from a bundle generation, trusting `extra_ca` too.
pub fn admin_creds(files: &Files, m: &Manifest, extra_ca: &[u8]) -> Result<super::Creds> {
    let admin_spec = m.spec.admin();
    let admin = &admin_spec.name;
    let get = |n: &str| {
        files
            .get(n)
            .map(|f| f.data.clone())
            .ok_or_else(|| Error::failed(format!("the bundle has no {n}"), None))
    };
    let mut ca = get(bundle::CA_CRT)?.expose().to_vec();
    ca.extend_from_slice(extra_ca);
    Ok(super::Creds {
        user: admin_spec.acl_name().to_string(),
        password: if admin_spec.has_password() {
            Some(get(&bundle::user_password(admin))?)
        } else {
            None
        },
        cert_pem: get(&bundle::user_crt(admin))?.expose().to_vec(),
        key_pem: get(&bundle::user_key(admin))?,
        ca_pem: ca,
    })
}

/// The bundle's secret name for CONFIG (from `renamed-commands`), or None when CONFIG is
/// disabled (`--disable-commands`).
pub fn renamed_config(files: &Files) -> Result<Option<String>> {
    let renames = crate::core::render::parse_rename_map(files.text(bundle::RENAMED).unwrap_or(""))
        .map_err(|e| Error::failed(e, None))?;
    let config = renames
        .iter()
        .find(|r| r.from == "CONFIG")
        .map(|r| r.to.clone())
        .unwrap_or_else(|| "CONFIG".into());
    Ok((!config.is_empty()).then_some(config))
}

/// Hot-reloads every node in `nodes` from the bundle `now` (`before` = the generation the
/// nodes may still be serving). Returns per-node results; nodes already serving the current
/// server certificate are only verified.
pub fn reload_nodes(
    nodes: &[String],
    before: &Files,
    now: &Files,
    m: &Manifest,
) -> Result<Vec<super::NodeResult>> {
    use crate::core::checkup::conf_value;
    if nodes.is_empty() {
        return Ok(vec![]);
    }
    let config = renamed_config(now)?;
    // Without CONFIG, a server that re-reads its files itself (Valkey 9.1) is waited for.
    let auto_reload = m.spec.target().caps().tls_auto_reload;
    if config.is_none() && !auto_reload {
        return Err(Error::failed(
            "CONFIG is disabled in this bundle (--disable-commands), so Redis cannot hot-reload certificates",
            Some("restart redis-server to load the new files (a bundle for valkey-9.1 reloads by itself)".into()),
        ));
    }
    let instances = m.spec.instances();
    // Which instance a node address is: the one listening there, else (an extra --redis
    // node of a standalone bundle) the first.
    let instance_of = |n: &str| {
        instances
            .iter()
            .find(|i| i.address == n)
            .unwrap_or(&instances[0])
    };
    let paths_of = |inst: &crate::core::topology::Instance| -> Result<[String; 3]> {
        let conf = now.text(&inst.conf).unwrap_or("");
        let path = |k: &str| {
            conf_value(conf, k)
                .ok_or_else(|| Error::failed(format!("{} has no {k}", inst.conf), None))
        };
        Ok([
            path("tls-cert-file")?,
            path("tls-key-file")?,
            path("tls-ca-cert-file")?,
        ])
    };
    let old_ca = before
        .get(bundle::CA_CRT)
        .map(|f| f.data.expose().to_vec())
        .unwrap_or_default();
    let new_ca = now
        .get(bundle::CA_CRT)
        .map(|f| f.data.expose().to_vec())
        .unwrap_or_default();
    let login = admin_creds(before, m, &new_ca)?;
    let after = admin_creds(now, m, &old_ca)?;
    let want_of = |crt: &str| {
        inspect::pem_certificates(now.get(crt).map(|f| f.data.expose()).unwrap_or(b""))
            .ok()
            .and_then(|d| d.into_iter().next())
            .map(|d| crate::core::password::sha256_hex(&d))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for n in nodes {
        let inst = instance_of(n);
        let paths = paths_of(inst)?;
        let want = want_of(&inst.crt);
        out.push({
            let serving = super::presented_certificate(n, &after)
                .ok()
                .map(|d| crate::core::password::sha256_hex(&d));
            if serving.as_deref() == Some(want.as_str())
                && before.get(bundle::CA_CRT).map(|f| &f.data)
                    == now.get(bundle::CA_CRT).map(|f| &f.data)
            {
                super::NodeResult {
                    node: n.clone(),
                    ok: true,
                    presented_serial: None,
                    presented_sha256: serving,
                    error: None,
                }
            } else if let Some(config) = &config {
                super::reload_tls(
                    n,
                    config,
                    [&paths[0], &paths[1], &paths[2]],
                    &login,
                    &after,
                    &want,
                )
            } else if serving.as_deref() == Some(want.as_str()) {
                // Only ca.crt changed: nothing a handshake can show has changed.
                super::NodeResult {
                    presented_sha256: serving,
                    ..super::NodeResult::failed(n, Some(format!(
                        "{n} reloads ca.crt by itself within {} s, but without CONFIG that cannot be verified; restart it to be sure",
                        crate::core::server::AUTO_RELOAD_INTERVAL_SECS
                    )))
                }
            } else {
                eprintln!(
                    "  waiting for {n} to reload its certificate files by itself (at most {} s) ...",
                    crate::core::server::AUTO_RELOAD_INTERVAL_SECS + 10
                );
                super::wait_for_certificate(
                    n,
                    &after,
                    &want,
                    std::time::Duration::from_secs(
                        (crate::core::server::AUTO_RELOAD_INTERVAL_SECS + 10).into(),
                    ),
                )
            }
        });
    }
    Ok(out)
}

/// The nodes a command should reload: the bundle's own Redis with `--reload`, plus `--redis`.
pub fn nodes(reload: bool, extra: &[String], m: &Manifest) -> Result<Vec<String>> {
    let mut v = Vec::new();
    if reload {
        // Every Redis node of the bundle (Sentinels are not reloaded: they re-read nothing
        // at runtime and are restarted instead).
        v.extend(
            m.spec
                .instances()
                .into_iter()
                .filter(|i| i.kind == crate::core::topology::InstanceKind::Redis)
                .map(|i| i.address),
        );
    }
    for n in extra {
        super::parse_node(n).map_err(|e| {
            Error::input(
                e.to_string(),
                "give nodes as HOST:PORT, for example 10.0.0.5:6379 or [::1]:6379",
            )
        })?;
        v.push(n.clone());
    }
    Ok(v)
}

/// Fails with a message naming every node that did not take the change.
pub fn node_failures(results: &[super::NodeResult], what: &str) -> Result<()> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{}: {}", r.node, r.error.clone().unwrap_or_default()))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::failed(
        format!("{what} on disk, but {} node(s) did not reload:\n  - {}", failed.len(), failed.join("\n  - ")),
        Some("the bundle on disk is complete and consistent; fix the node and run the same command with --reload again (it reloads only nodes serving an older certificate), or restart redis-server".into()),
    ))
}
