//! One file per subcommand. Each takes its parsed arguments and the output settings, does the
//! I/O, and returns an exit code or an `Error`.

pub mod alerts;
pub mod backup;
pub mod check;
pub mod compose;
pub mod env;
pub mod init;
pub mod k8s;
pub mod renew;
pub mod restore;
pub mod rollback;
pub mod rotate;
pub mod schedule;
pub mod seal;

use crate::core::bundle::{self, Files, Manifest};
use crate::core::cakey::{self, CaKeyError, Protection, Sealer, CA_KEY_AGE};
use crate::core::inspect;
use crate::core::render::{self, Templates};
use crate::core::secret::Secret;
use crate::core::spec::{Role, Spec};
use crate::error::{Error, Result};
use crate::store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Reads and parses the manifest of a bundle.
pub fn manifest_of(files: &Files, dir: &Path) -> Result<Manifest> {
    let text = files.text(bundle::MANIFEST).ok_or_else(|| {
        Error::failed(
            format!("`{}` has no manifest.json", dir.display()),
            Some("is this a provision bundle?".into()),
        )
    })?;
    serde_json::from_str(text).map_err(|e| {
        Error::failed(
            format!("`{}/manifest.json` is not valid: {e}", dir.display()),
            None,
        )
    })
}

/// One line per certificate for human output: "expires 2027-11-23 (in 365d 0h)".
pub fn expiry_note(pem: &[u8], now: time::OffsetDateTime) -> String {
    match inspect::pem_certificates(pem)
        .ok()
        .and_then(|d| inspect::inspect(&d[0]).ok())
    {
        Some(i) => format!(
            "expires {} ({})",
            i.not_after.date(),
            crate::core::duration::human((i.not_after - now).whole_seconds())
        ),
        None => String::new(),
    }
}

/// The admin user's login material from a bundle generation, trusting `extra_ca` too.
pub fn admin_creds(files: &Files, m: &Manifest, extra_ca: &[u8]) -> Result<crate::live::Creds> {
    let admin = &m.spec.admin().name;
    let get = |n: &str| {
        files
            .get(n)
            .map(|f| f.data.clone())
            .ok_or_else(|| Error::failed(format!("the bundle has no {n}"), None))
    };
    let mut ca = get(bundle::CA_CRT)?.expose().to_vec();
    ca.extend_from_slice(extra_ca);
    Ok(crate::live::Creds {
        user: admin.clone(),
        password: get(&bundle::user_password(admin))?,
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
) -> Result<Vec<crate::live::NodeResult>> {
    use crate::core::checkup::conf_value;
    if nodes.is_empty() {
        return Ok(vec![]);
    }
    let Some(config) = renamed_config(now)? else {
        return Err(Error::failed(
            "CONFIG is disabled in this bundle (--disable-commands), so Redis cannot hot-reload certificates",
            Some("restart redis-server to load the new files".into()),
        ));
    };
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
            let serving = crate::live::presented_certificate(n, &after)
                .ok()
                .map(|d| crate::core::password::sha256_hex(&d));
            if serving.as_deref() == Some(want.as_str())
                && before.get(bundle::CA_CRT).map(|f| &f.data)
                    == now.get(bundle::CA_CRT).map(|f| &f.data)
            {
                crate::live::NodeResult {
                    node: n.clone(),
                    ok: true,
                    presented_serial: None,
                    presented_sha256: serving,
                    error: None,
                }
            } else {
                crate::live::reload_tls(
                    n,
                    &config,
                    [&paths[0], &paths[1], &paths[2]],
                    &login,
                    &after,
                    &want,
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
        crate::live::parse_node(n).map_err(|e| {
            Error::input(
                e,
                "give nodes as HOST:PORT, for example 10.0.0.5:6379 or [::1]:6379",
            )
        })?;
        v.push(n.clone());
    }
    Ok(v)
}

/// Compose and Kubernetes output describe one Redis server; a replication or cluster bundle
/// (one config and certificate per node) is refused with a clear message instead of being
/// half-exported.
pub fn standalone_only(m: &Manifest, dir: &Path) -> Result<()> {
    if m.spec.topology.is_standalone() {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "the bundle in `{}` is a {} topology with one config per node; this output is for a standalone bundle",
            dir.display(),
            format!("{:?}", m.spec.topology.kind).to_lowercase()
        ),
        "mount the bundle into each node yourself (each node runs `redis-server <node>.conf`), or make a standalone bundle for this purpose",
    ))
}

/// Fails with a message naming every node that did not take the change.
pub fn node_failures(results: &[crate::live::NodeResult], what: &str) -> Result<()> {
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

/// An audit line: certificate serials and fingerprints, password hash prefixes; never a secret.
pub fn audit_entry(action: &str, gen_id: &str, files: &Files) -> serde_json::Value {
    let m: Option<bundle::Manifest> = files
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str(t).ok());
    let certs: Vec<_> = m
        .iter()
        .flat_map(|m| m.certificates.iter())
        .map(|c| json!({"file": c.file, "serial": c.serial, "sha256": c.sha256_fingerprint, "not_after": c.not_after}))
        .collect();
    let hashes: serde_json::Map<String, serde_json::Value> = files
        .0
        .iter()
        .filter_map(|f| f.name.strip_suffix(".password").map(|u| (u, f)))
        .map(|(u, f)| {
            (
                u.to_string(),
                json!(crate::core::password::sha256_hex(f.data.expose())[..12].to_string()),
            )
        })
        .collect();
    json!({
        "time": bundle::rfc3339(time::OffsetDateTime::now_utc()),
        "action": action,
        "generation": gen_id,
        "certificates": certs,
        "password_hash_prefixes": hashes,
        "tool_version": env!("CARGO_PKG_VERSION"),
    })
}

/// Refuses to change a bundle that `check` finds inconsistent (anything CRITICAL but expiry):
/// renewing or rotating over a tampered or corrupt bundle would hide the damage. With
/// `accept_local_changes`, files that only differ from the signed manifest (a hand edit made
/// on purpose) are carried on; their names are returned for the audit line.
pub fn refuse_if_inconsistent(
    files: &Files,
    dir: &Path,
    accept_local_changes: bool,
) -> Result<Vec<String>> {
    let exists = host_path_exists(files, dir);
    let report = crate::core::checkup::check(
        files,
        time::OffsetDateTime::now_utc(),
        Default::default(),
        &exists,
    );
    let foreign = crate::core::checkup::foreign_paths(files, &dir_names(dir));
    let bad = crate::core::checkup::blocking(&report);
    let (accepted, refused): (Vec<_>, Vec<_>) = bad
        .into_iter()
        .chain(foreign.iter())
        .partition(|f| accept_local_changes && f.local_change);
    if refused.is_empty() {
        let mut names: Vec<String> = accepted.iter().map(|f| f.file.clone()).collect();
        names.dedup();
        return Ok(names);
    }
    let only_local = refused.iter().all(|f| f.local_change);
    Err(Error::failed(
        format!(
            "the bundle in `{}` is inconsistent; refusing to change it:\n  - {}",
            dir.display(),
            refused
                .iter()
                .map(|f| format!("{}: {}", f.file, f.message))
                .collect::<Vec<_>>()
                .join("\n  - ")
        ),
        Some(if only_local {
            "inspect it with `provision check`; undo the edit or `provision rollback`; if the edit was made on purpose, run the command again with --accept-local-changes".into()
        } else {
            "inspect it with `provision check`; restore it with `provision rollback`, or replace it with `provision init --force`".into()
        }),
    ))
}

/// The names a bundle directory goes by: as given (absolute) and with links resolved.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v = vec![dir.to_string_lossy().into_owned()];
    if let Ok(c) = std::fs::canonicalize(dir) {
        v.push(c.to_string_lossy().into_owned());
    }
    v
}

/// Whether a path named in redis.conf exists, seen from the host: with `--mount-dir`, paths
/// under the mount point are looked up in the bundle directory instead.
pub fn host_path_exists<'a>(files: &Files, dir: &'a Path) -> impl Fn(&str) -> bool + 'a {
    let mount = files
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str::<Manifest>(t).ok())
        .and_then(|m| m.spec.mount_dir);
    move |p: &str| match mount
        .as_deref()
        .and_then(|m| p.strip_prefix(m.trim_end_matches('/')))
    {
        Some(rest) => dir.join(rest.trim_start_matches('/')).exists(),
        None => Path::new(p).exists(),
    }
}

/// A template error as the user sees it: an operator's override at fault is bad input (exit
/// 2, naming the file and line); a built-in template failing is a bug.
pub fn template_error(e: crate::core::render::TemplateError) -> Error {
    if e.is_override() {
        Error::input(
            e.to_string(),
            "fix the override (it gets the same variables as the built-in template of that name, in the provision repository's templates/), or move it out of the --templates directory; nothing was written",
        )
    } else {
        Error::failed(e.to_string(), None)
    }
}

/// The largest override template read (the built-ins are a few KiB).
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// Reads the overrides in `dir`: every file named like a built-in template replaces it. Each is
/// compiled now, so a syntax error is reported (file and line) before anything is generated.
/// Other files in `dir` are reported on stderr, since a misnamed override would be ignored.
pub fn load_templates(dir: &Path) -> Result<Templates> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::input(
                format!("the templates directory `{}` does not exist", dir.display()),
                format!(
                    "create it with overrides named {}, or drop --templates",
                    render::names()
                ),
            )
        } else {
            Error::io("reading", dir, e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::input(
            format!("--templates `{}` is not a directory", dir.display()),
            "pass the directory that holds the override templates",
        ));
    }
    let mut list = Vec::new();
    for (name, _) in render::BUILTIN {
        let p = dir.join(name);
        let m = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading", &p, e)),
        };
        if !m.is_file() || m.len() > MAX_TEMPLATE_BYTES {
            return Err(Error::input(
                format!(
                    "template `{}` is not a regular file of at most 1 MiB",
                    p.display()
                ),
                "an override must be a text file named like the built-in template",
            ));
        }
        let bytes = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        let source = String::from_utf8(bytes).map_err(|_| {
            Error::input_only(format!("template `{}` is not UTF-8 text", p.display()))
        })?;
        list.push((name.to_string(), p.display().to_string(), source));
    }
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("reading", dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !render::BUILTIN.iter().any(|(b, _)| b == n))
        .collect();
    if !others.is_empty() {
        others.sort();
        eprintln!(
            "warning: ignoring {} in `{}`: not the name of a built-in template ({})",
            others.join(", "),
            dir.display(),
            render::names()
        );
    }
    Templates::with_overrides(list).map_err(template_error)
}

/// `--templates DIR` as recorded in a manifest: absolute, UTF-8.
pub fn templates_dir_string(dir: &Path) -> Result<String> {
    let abs = std::path::absolute(dir).map_err(|e| Error::io("resolving", dir, e))?;
    abs.to_str().map(str::to_string).ok_or_else(|| {
        Error::input_only(format!(
            "the templates directory `{}` is not valid UTF-8",
            abs.display()
        ))
    })
}

/// The templates for re-rendering a bundle's files: `--templates` when given, else the
/// directory recorded in the bundle's manifest, else the built-ins. Also returns the directory
/// to record in a new generation.
pub fn templates_for(flag: Option<&Path>, spec: &Spec) -> Result<(Templates, Option<String>)> {
    match (flag, &spec.templates) {
        (Some(d), _) => Ok((load_templates(d)?, Some(templates_dir_string(d)?))),
        (None, Some(d)) => {
            if !Path::new(d).is_dir() {
                return Err(Error::input(
                    format!("the bundle was made with --templates `{d}`, which no longer exists"),
                    "restore that directory, or pass --templates DIR to use another one (an empty directory means the built-in templates)",
                ));
            }
            Ok((load_templates(Path::new(d))?, Some(d.clone())))
        }
        (None, None) => Ok((Templates::builtin(), None)),
    }
}

/// The bundle's current CA key (PEM) for signing, and how a new CA key is to be stored.
/// A protected key (`ca.key.age`) is opened with `key` and checked against ca.crt; without a
/// key the error (exit 2) names the file and the flag to pass. `why` says what needs the key
/// ("renewing redis.crt, app.crt").
pub fn unlock_ca_key(
    files: &Files,
    m: &Manifest,
    key: Option<&crate::io::age::Key>,
    dir: &Path,
    why: &str,
) -> Result<(Secret, Sealer)> {
    let protection = m.spec.ca_key.as_ref();
    let unlock = key.map(|k| k.unlock());
    let err = |e| ca_key_error(e, protection, dir, why);
    let pem = cakey::load(files, protection, unlock.as_ref()).map_err(err)?;
    let sealer =
        Sealer::for_protection(protection, key.and_then(|k| k.passphrase())).map_err(err)?;
    Ok((pem, sealer))
}

/// The flag that opens a CA key protected as `p`.
pub fn unlock_flag(p: Option<&Protection>) -> &'static str {
    match p {
        Some(Protection::Passphrase) => "--passphrase-file FILE (or --passphrase to type it)",
        _ => "--identity KEYFILE (an age identity file whose public key is one of the CA key's recipients, listed in manifest.json under spec.ca_key)",
    }
}

/// A clear error for a CA key that cannot be used.
pub fn ca_key_error(e: CaKeyError, p: Option<&Protection>, dir: &Path, why: &str) -> Error {
    let path = dir.join(CA_KEY_AGE);
    let flag = unlock_flag(p);
    match e {
        CaKeyError::Locked => Error::input(
            format!(
                "{why} needs the CA key, which is protected: `{}` opens only with an age identity or passphrase, and none was given; nothing was changed",
                path.display()
            ),
            format!("pass {flag}"),
        ),
        CaKeyError::NeedsPassphrase | CaKeyError::NeedsIdentity | CaKeyError::Decrypt(_) => {
            let msg = match &e {
                CaKeyError::Decrypt(m) => m.clone(),
                e => e.to_string(),
            };
            Error::input(
                format!("{why}: cannot open `{}`: {msg}; nothing was changed", path.display()),
                format!("pass {flag}"),
            )
        }
        CaKeyError::Mismatch => Error::failed(
            format!("`{}` decrypts to a key that does not match the CA in ca.crt; refusing to sign with it", path.display()),
            Some("the bundle is inconsistent: restore it with `provision rollback` or from a backup".into()),
        ),
        CaKeyError::Missing(n) => Error::failed(
            format!("`{}` is missing", dir.join(n).display()),
            Some("inspect the bundle with `provision check`".into()),
        ),
        CaKeyError::NoPassphrase => Error::input(
            format!("{why}: {e}"),
            format!("pass {flag}"),
        ),
        CaKeyError::Encrypt(_) => Error::failed(format!("{why}: {e}"), None),
    }
}

// ---- Shared by the commands that describe or generate for a bundle ----

/// Opens a bundle read-only: its absolute directory, the current generation's files and the
/// manifest. Used by the commands that describe a bundle to another system.
pub fn open_bundle(dir: Option<&Path>) -> Result<(PathBuf, Files, Manifest)> {
    let store = Store::open_readonly(dir.unwrap_or("secrets".as_ref())).map_err(|e| match e {
        Error::Io { path, source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::input(
                format!(
                    "no bundle at `{}`: the directory does not exist",
                    path.display()
                ),
                "create one with `provision init --dir DIR`, or pass the right --dir",
            )
        }
        e => e,
    })?;
    let files = store.read_generation(None)?;
    let m = manifest_of(&files, &store.dir)?;
    Ok((store.dir, files, m))
}

/// Single-quotes a value for POSIX shells (`'` becomes `'\''`).
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// Renders `name` from `templates`, mapping a failure to the user-facing error.
pub fn render_template(
    templates: &crate::core::render::Templates,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String> {
    templates.render(name, ctx).map_err(template_error)
}

/// The key that `--identity` / `--passphrase-file` / `--passphrase` give, if any.
pub fn key_from_args(a: &crate::cli::UnlockArgs) -> Result<Option<crate::io::age::Key>> {
    if a.passphrase || a.passphrase_file.is_some() {
        Ok(Some(crate::io::age::Key::Passphrase(
            crate::io::age::passphrase(a.passphrase_file.as_deref(), false)?,
        )))
    } else if !a.identity.is_empty() {
        Ok(Some(crate::io::age::Key::Identities(
            crate::io::age::identities(&a.identity)?,
        )))
    } else {
        Ok(None)
    }
}

pub const COMPOSE: &str = "docker-compose.yml";

/// A YAML double-quoted scalar (JSON strings are valid YAML) with `$` doubled, so Compose
/// does not interpolate it.
fn yq(s: &str) -> String {
    serde_json::Value::from(s).to_string().replace('$', "$$")
}

/// The Compose file for the bundle in `dir` (absolute) described by `m`, with Redis running as
/// `owner` (uid, gid). Refuses a bundle made without `--mount-dir`; warns when redis.conf
/// binds only loopback.
pub fn compose_file(
    dir: &Path,
    m: &Manifest,
    owner: (u32, u32),
    templates: &Templates,
) -> Result<String> {
    let mount = m.spec.mount_dir.clone().ok_or_else(|| {
        Error::input(
            format!(
                "the bundle in `{}` was made without --mount-dir: its redis.conf names host paths that do not exist in a container",
                dir.display()
            ),
            format!(
                "re-create it for a container: `provision init --dir {} --mount-dir /etc/redis/tls --bind 0.0.0.0 --force`",
                shell_quote(&dir.to_string_lossy())
            ),
        )
    })?;
    let mount = mount.trim_end_matches('/').to_string();
    if m.spec.bind.iter().all(|b| {
        b.trim_start_matches('-').starts_with("127.") || b.trim_start_matches('-') == "::1"
    }) {
        eprintln!(
            "warning: redis.conf binds only loopback ({}); other containers cannot connect. Re-create the bundle with --bind 0.0.0.0",
            m.spec.bind.join(" ")
        );
    }
    let first = |role: Role| {
        m.spec
            .users
            .iter()
            .find(|u| u.role == role)
            .map(|u| u.name.clone())
            .ok_or_else(|| {
                Error::input(
                    format!("the bundle has no user with role `{role:?}`"),
                    "compose needs a monitor user (health check) and an app user (example client)",
                )
            })
    };
    let monitor = first(Role::Monitor)?;
    let app = first(Role::App)?;
    let host = |n: &str| yq(&dir.join(n).to_string_lossy());
    let in_mount = |n: &str| shell_quote(&format!("{mount}/{n}"));

    let healthcheck = format!(
        "REDISCLI_AUTH=\"$(cat /run/secrets/{monitor}_password)\" redis-cli --tls -h 127.0.0.1 -p {port} --cacert {ca} --cert {crt} --key {key} --user {monitor} PING | grep -qx PONG",
        port = m.spec.port,
        ca = in_mount(bundle::CA_CRT),
        crt = in_mount(&bundle::user_crt(&monitor)),
        key = in_mount(&bundle::user_key(&monitor)),
    );
    let example = "REDISCLI_AUTH=\"$(cat \"$REDIS_PASSWORD_FILE\")\" redis-cli --tls -h \"$REDIS_HOST\" -p \"$REDIS_PORT\" --cacert \"$REDIS_TLS_CA\" --cert \"$REDIS_TLS_CERT\" --key \"$REDIS_TLS_KEY\" --user \"$REDIS_USERNAME\" PING";

    let mut secrets: Vec<minijinja::Value> = m
        .spec
        .users
        .iter()
        .map(|u| {
            minijinja::context! {
                name => format!("{}_password", u.name),
                file => host(&bundle::user_password(&u.name)),
            }
        })
        .collect();
    for (name, file) in [
        ("redis_ca_crt".to_string(), bundle::CA_CRT.to_string()),
        (format!("{app}_crt"), bundle::user_crt(&app)),
        (format!("{app}_key"), bundle::user_key(&app)),
    ] {
        secrets.push(minijinja::context! { name => name, file => host(&file) });
    }
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        dir => dir.to_string_lossy(),
        mount => mount,
        conf => yq(&format!("{mount}/{}", bundle::REDIS_CONF)),
        user => yq(&format!("{}:{}", owner.0, owner.1)),
        source => yq(&dir.to_string_lossy()),
        target => yq(&mount),
        port => m.spec.port,
        monitor => monitor,
        app => app,
        app_q => yq(&app),
        healthcheck => yq(&healthcheck),
        example => yq(example),
        secrets => secrets,
    };
    render_template(templates, COMPOSE, ctx)
}

/// The first 12 hex digits of a serial, for people.
pub fn short_serial(serial: &str) -> &str {
    &serial[..serial.len().min(12)]
}

/// One line per node of a live reload (renew, rollback).
pub fn print_nodes(results: &[crate::live::NodeResult]) {
    for r in results {
        if r.ok {
            crate::outln!(
                "  reloaded {:<22} now serving serial {}",
                r.node,
                r.presented_serial
                    .as_deref()
                    .map(short_serial)
                    .unwrap_or("(unchanged)")
            );
        } else {
            crate::outln!(
                "  FAILED   {:<22} {}",
                r.node,
                r.error.as_deref().unwrap_or("")
            );
        }
    }
}
