//! Reading a bundle for a command: its manifest, its files, what is due, and the audit line
//! of a change.

use super::store::Store;
use crate::core::bundle::{self, Files, Manifest};
use crate::core::inspect;
use crate::error::{Error, Result};
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
        "by": who(),
        "action": action,
        "generation": gen_id,
        "certificates": certs,
        "password_hash_prefixes": hashes,
        "tool_version": env!("CARGO_PKG_VERSION"),
    })
}

/// Who makes a change, for its audit line: the real uid, its name from /etc/passwd (the uid is
/// what the kernel vouches for; the name is for people), and `SUDO_USER` when run through sudo.
fn who() -> serde_json::Value {
    let uid = rustix::process::getuid().as_raw();
    let name = std::fs::File::open("/etc/passwd").ok().and_then(|f| {
        use std::io::{BufRead, Read};
        std::io::BufReader::new(f.take(1 << 20))
            .lines()
            .map_while(|l| l.ok())
            .find_map(|l| {
                let mut p = l.split(':');
                let name = p.next()?.to_string();
                (p.nth(1)?.parse::<u32>().ok()? == uid).then_some(name)
            })
    });
    let mut v = json!({"uid": uid, "user": name});
    if let Ok(s) = std::env::var("SUDO_USER") {
        v["sudo_user"] = json!(s.chars().take(64).collect::<String>());
    }
    v
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

/// Opens a bundle read-only: its absolute directory, the current generation's files and the
/// manifest: what `compose`, `env`, `export` and `schedule` describe to another system.
pub fn open_bundle(dir: &Path) -> Result<(PathBuf, Files, Manifest)> {
    let store = Store::open_readonly(dir).map_err(|e| match e {
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

/// Refuses to make `incoming` (a previous generation, a backup) the bundle when it holds a
/// certificate the current bundle revoked (`provision user remove`): undoing a revocation
/// must be asked for by name (`--allow-revoked`), not come with a routine rollback or restore.
pub fn refuse_revoked(current: &Files, incoming: &Files, allow: bool, what: &str) -> Result<()> {
    let Some(m) = current
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str::<Manifest>(t).ok())
    else {
        return Ok(());
    };
    let found = crate::core::users::revoked_certificates(incoming, &m.revoked);
    if found.is_empty() || allow {
        return Ok(());
    }
    let list: Vec<String> = found
        .iter()
        .map(|(f, r)| {
            format!(
                "{f}: user `{}`, serial {}, revoked {}",
                r.user, r.serial, r.revoked_at
            )
        })
        .collect();
    Err(Error::input(
        format!(
            "{what} holds certificate(s) revoked since, which would log in again:\n  - {}",
            list.join("\n  - ")
        ),
        "pass --allow-revoked to bring them back anyway, or `provision user add` the user again for a new certificate; nothing was changed",
    ))
}

/// Single-quotes a value for POSIX shells (`'` becomes `'\''`).
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}
