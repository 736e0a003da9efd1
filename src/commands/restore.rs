//! `provision restore` (the issue's `import`): decrypt a backup in memory, validate every
//! entry, verify the bundle as `check` would, then install it as one new generation.
//! Nothing decrypted touches the disk outside that generation.

use super::crypt::{self, Key};
use crate::cli::RestoreArgs;
use crate::core::archive;
use crate::core::bundle::{self, Files, Manifest};
use crate::core::checkup;
use crate::error::{exit, Error, Result};
use crate::output::Output;
use crate::store::{self, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;
use zeroize::Zeroizing;

pub fn run(args: &RestoreArgs, out: Output) -> Result<u8> {
    let mut store = Store::prepare(args.dir.as_deref().unwrap_or("secrets".as_ref()))?;
    if !args.force && store.has_bundle(&[]) {
        return Err(Error::Exists(store.dir.clone()));
    }
    let key = if args.passphrase || args.passphrase_file.is_some() {
        Key::Passphrase(crypt::passphrase(args.passphrase_file.as_deref(), false)?)
    } else if args.identity.is_empty() {
        return Err(Error::input(
            "no key to decrypt with",
            "pass --identity KEYFILE, --passphrase-file FILE or --passphrase",
        ));
    } else {
        Key::Identities(crypt::identities(&args.identity)?)
    };

    let files = decrypt(&args.file, &key)?;
    let m = verify(&files, &store)?;

    store.ensure_dir()?;
    let _lock = store.lock(Duration::from_secs(args.lock_timeout.secs()))?;
    if !args.force && store.current_generation().is_some() {
        return Err(Error::Exists(store.dir.clone()));
    }
    let names: Vec<&str> = files.names().collect();
    store.check_targets(&names)?;
    store.cleanup();
    let gen_id = store::new_generation_id(time::OffsetDateTime::now_utc());
    let mut entry = super::audit_entry("restore", &gen_id, &files);
    entry["from_generation"] = json!(m.generation);
    entry["archive"] = json!(args.file);
    let generation = store.commit(&files, &gen_id, &entry)?;

    if out.json {
        out.print_json(&json!({
            "action": "restore",
            "dir": store.dir,
            "generation": gen_id,
            "from_generation": m.generation,
            "files": files.0.iter().map(|f| json!({"name": f.name, "mode": format!("{:04o}", f.mode)})).collect::<Vec<_>>(),
        }));
    } else if !out.quiet {
        crate::outln!(
            "Restored {} files into {} as generation {generation} (backed up from generation {}).",
            files.0.len(),
            store.dir.display(),
            m.generation
        );
        crate::outln!("  verified as `provision check` does; run it for expiry details");
    }
    Ok(exit::OK)
}

/// Decrypts and unpacks the archive, entirely in memory (bounded by `archive::MAX_ARCHIVE`).
fn decrypt(path: &std::path::Path, key: &Key) -> Result<Files> {
    let reader = crypt::decrypt_reader(path, key)?;
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .take(archive::MAX_ARCHIVE + 1)
        .read_to_end(&mut plain)
        .map_err(|e| crypt::payload_error(path, e))?;
    if plain.len() as u64 > archive::MAX_ARCHIVE {
        return Err(Error::input_only(format!(
            "`{}` decrypts to more than {} bytes: not a provision backup",
            path.display(),
            archive::MAX_ARCHIVE
        )));
    }
    archive::unpack(&plain).map_err(|e| {
        Error::input(
            format!("refusing `{}`: {e}", path.display()),
            "restore only archives written by `provision backup` (see README, Backup and restore)",
        )
    })
}

/// The archive must be exactly the files its manifest lists, and pass `check`'s consistency
/// audit with redis.conf's paths resolved inside the target bundle.
fn verify(files: &Files, store: &Store) -> Result<Manifest> {
    let refuse = |msg: String| {
        Error::input(
            msg,
            "restore only archives written by `provision backup`; nothing was written",
        )
    };
    let text = files
        .text(bundle::MANIFEST)
        .ok_or_else(|| refuse("the archive has no manifest.json".into()))?;
    let m: Manifest = serde_json::from_str(text)
        .map_err(|e| refuse(format!("the archive's manifest.json is invalid: {e}")))?;
    let listed: BTreeSet<&str> = m
        .files
        .iter()
        .map(|f| f.name.as_str())
        .chain([bundle::MANIFEST])
        .collect();
    let present: BTreeSet<&str> = files.names().collect();
    if let Some(extra) = present.difference(&listed).next() {
        return Err(refuse(format!(
            "the archive holds `{extra}`, which its manifest does not list"
        )));
    }
    if let Some(missing) = listed.difference(&present).next() {
        return Err(refuse(format!(
            "the archive lacks `{missing}`, which its manifest lists"
        )));
    }
    // Paths in redis.conf are absolute: they must name this bundle's own files (under the
    // target directory, or under --mount-dir for a container bundle).
    let target = store.dir.to_string_lossy().into_owned();
    let mount = m.spec.mount_dir.clone();
    let exists = |p: &str| {
        mount
            .as_deref()
            .and_then(|d| p.strip_prefix(d.trim_end_matches('/')))
            .or_else(|| p.strip_prefix(target.trim_end_matches('/')))
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|n| files.get(n).is_some())
    };
    let report = checkup::check(
        files,
        time::OffsetDateTime::now_utc(),
        Default::default(),
        &exists,
    );
    let bad = checkup::blocking(&report);
    if !bad.is_empty() {
        let conf_dir = files
            .text(bundle::REDIS_CONF)
            .and_then(|c| checkup::conf_value(c, "aclfile"))
            .and_then(|p| {
                std::path::Path::new(&p)
                    .parent()
                    .map(|d| d.display().to_string())
            });
        return Err(Error::input(
            format!(
                "the backup does not verify; refusing to restore it into `{}`:\n  - {}",
                store.dir.display(),
                bad.iter()
                    .map(|f| format!("{}: {}", f.file, f.message))
                    .collect::<Vec<_>>()
                    .join("\n  - ")
            ),
            match conf_dir {
                Some(d) if mount.is_none() && d != target => format!(
                    "its redis.conf names files in `{d}`: restore it into that directory (paths in redis.conf are absolute)"
                ),
                _ => "nothing was written; restore an intact backup".into(),
            },
        ));
    }
    Ok(m)
}
