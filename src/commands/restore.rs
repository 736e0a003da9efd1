//! `provision restore` (the issue's `import`): decrypt a backup in memory, validate every
//! entry, verify the bundle as `check` would, then install it as one new generation.
//! Nothing decrypted touches the disk outside that generation.

use crate::cli::RestoreArgs;
use crate::core::archive;
use crate::core::bundle::{self, Files, Manifest};
use crate::core::checkup;
use crate::core::{inspect, integrity};
use crate::error::{Error, ExitStatus, Result};
use crate::io::age::{self as crypt, Key};
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Read;

use zeroize::Zeroizing;

pub fn run(args: &RestoreArgs, out: Output) -> Result<ExitStatus> {
    let mut store = Store::prepare(args.bundle.path())?;
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

    // The anchor, before anything is decrypted: the CA the operator names, or the CAs of the
    // bundle being replaced. age encryption is not authentication (anyone with the public
    // recipient can make an archive); the signature is.
    let expected = match &args.expect_ca {
        Some(fp) => Some(integrity::parse_fingerprint(fp).ok_or_else(|| {
            Error::input(
                format!("--expect-ca `{fp}` is not a SHA-256 fingerprint (64 hex digits)"),
                "copy it from `provision backup` or `provision check`, or `openssl x509 -in ca.crt -noout -fingerprint -sha256`",
            )
        })?),
        None => None,
    };
    let existing = if store.has_bundle(&[]) && store.current_generation().is_some() {
        Some(store.read_generation(None)?)
    } else {
        None
    };
    if expected.is_none() && existing.is_none() {
        return Err(Error::input(
            format!(
                "nothing in `{}` to verify the backup against",
                store.dir.display()
            ),
            "pass --expect-ca FINGERPRINT: the CA SHA-256 fingerprint `provision backup` printed (or `provision check` on the original host)",
        ));
    }

    let mut files = decrypt(&args.file, &key)?;
    authenticate(&files, expected.as_deref(), existing.as_ref(), &args.file)?;
    if let Some(current) = &existing {
        super::refuse_revoked(
            current,
            &files,
            args.allow_revoked,
            &format!("`{}`", args.file.display()),
        )?;
    }
    // Every file against the signed digests before anything is rewritten: relocating re-signs
    // the manifest, which must never launder an edited file.
    let local: Vec<String> = checkup::check(
        &files,
        time::OffsetDateTime::now_utc(),
        Default::default(),
        &|_| true,
    )
    .findings
    .into_iter()
    .filter(|f| f.local_change)
    .map(|f| format!("{}: {}", f.file, f.message))
    .collect();
    if !local.is_empty() {
        return Err(Error::input(
            format!(
                "refusing `{}`: it does not match its signed manifest:\n  - {}",
                args.file.display(),
                local.join("\n  - ")
            ),
            "restore only archives written by `provision backup`; nothing was written",
        ));
    }
    let moved_from = relocate(&mut files, &store)?;
    let m = verify(&files, &store)?;

    store.ensure_dir()?;
    let _lock = store.lock(args.lock.timeout())?;
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
    if let Some(from) = &moved_from {
        entry["paths_moved_from"] = json!(from);
    }
    let generation = store.commit(&files, &gen_id, &entry)?;

    out.report(&Restored {
        action: "restore",
        dir: &store.dir,
        generation: &gen_id,
        from_generation: &m.generation,
        paths_moved_from: moved_from.as_deref(),
        files: files
            .0
            .iter()
            .map(|f| RestoredFile {
                name: &f.name,
                mode: format!("{:04o}", f.mode),
            })
            .collect(),
        generation_dir: generation,
    });
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Restored<'a> {
    action: &'static str,
    dir: &'a std::path::Path,
    generation: &'a str,
    from_generation: &'a str,
    paths_moved_from: Option<&'a str>,
    files: Vec<RestoredFile<'a>>,
    /// The generation as the store names it, for people.
    #[serde(skip)]
    generation_dir: String,
}

#[derive(serde::Serialize)]
struct RestoredFile<'a> {
    name: &'a str,
    mode: String,
}

impl Report for Restored<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        writeln!(
            w,
            "Restored {} files into {} as generation {} (backed up from generation {}).",
            self.files.len(),
            self.dir.display(),
            self.generation_dir,
            self.from_generation
        )?;
        if let Some(from) = self.paths_moved_from {
            writeln!(
                w,
                "  paths in the configs moved from {from} to {} (manifest re-signed)",
                self.dir.display()
            )?;
        }
        writeln!(
            w,
            "  verified as `provision check` does; run it for expiry details"
        )
    }
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

/// Restore anywhere: a bundle made for another directory (a new host, another mount point)
/// gets its configs' paths rewritten for the target, and a new manifest signed with the
/// archive's own signer (already authenticated). `--mount-dir` bundles keep their paths.
/// Returns the directory the paths were moved from.
fn relocate(files: &mut Files, store: &Store) -> Result<Option<String>> {
    let Some(m) = files
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str::<Manifest>(t).ok())
    else {
        return Ok(None);
    };
    if m.spec.mount_dir.is_some() {
        return Ok(None);
    }
    let from = bundle::conf_dir_of(files, &m.spec);
    let to = store.dir.to_string_lossy().into_owned();
    if from.is_empty() || from.trim_end_matches('/') == to.trim_end_matches('/') {
        return Ok(None);
    }
    let mut changed = false;
    for inst in m.spec.instances() {
        let Some(text) = files.text(&inst.conf) else {
            continue;
        };
        if let Some(new) = crate::core::conf::relocate_paths(text, &from, &to) {
            files.put(bundle::OutFile::secret(
                inst.conf.clone(),
                crate::core::secret::Secret::from_string(new),
            ));
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    let now = time::OffsetDateTime::now_utc();
    let manifest = bundle::build_manifest(&m.spec, files, &m.generation, now, m.records())
        .and_then(|t| bundle::put_manifest(files, t))
        .map_err(|e| Error::failed(format!("re-signing the moved bundle: {e}"), None));
    manifest?;
    Ok(Some(from))
}

/// The archive's manifest must be signed by a signer that the trusted CA issued: the CA
/// whose fingerprint is `expected` (found in the archive's ca.crt), or any CA of the bundle
/// being replaced. The files themselves are then checked against the signed manifest by
/// `verify` (check's integrity audit).
fn authenticate(
    files: &Files,
    expected: Option<&str>,
    existing: Option<&Files>,
    path: &std::path::Path,
) -> Result<()> {
    let refuse = |why: String| {
        Error::input(
            format!("refusing `{}`: {why}", path.display()),
            "restore only archives written by `provision backup` from this CA; nothing was written",
        )
    };
    let ders = |f: &Files| -> Vec<Vec<u8>> {
        f.get(bundle::CA_CRT)
            .and_then(|c| inspect::pem_certificates(c.data.expose()).ok())
            .unwrap_or_default()
    };
    let trusted: Vec<Vec<u8>> = match expected {
        Some(fp) => ders(files)
            .into_iter()
            .filter(|d| crate::core::password::sha256_hex(d) == fp)
            .collect(),
        None => existing.map(ders).unwrap_or_default(),
    };
    if trusted.is_empty() {
        return Err(refuse(match expected {
            Some(fp) => format!(
                "its ca.crt holds no CA with the fingerprint given ({})",
                integrity::openssl_fingerprint(fp)
            ),
            None => "the existing bundle has no readable ca.crt to verify it against".into(),
        }));
    }
    let get = |n: &str| files.get(n).map(|f| f.data.expose());
    let (Some(signer), Some(sig), Some(manifest)) = (
        get(integrity::SIGNER_CRT),
        get(integrity::MANIFEST_SIG),
        get(bundle::MANIFEST),
    ) else {
        return Err(refuse(format!(
            "the archive is not signed (no {} or {}): made by a provision that did not sign its bundles, or stripped",
            integrity::SIGNER_CRT,
            integrity::MANIFEST_SIG
        )));
    };
    integrity::verify(signer, &trusted, manifest, sig).map_err(|e| {
        refuse(match e {
            integrity::IntegrityError::Untrusted => match expected {
                Some(_) => "its signer was not issued by the CA given with --expect-ca (forged, or from another bundle)".to_string(),
                None => "its signer was not issued by the CA of the bundle it would replace (forged, or from another bundle; pass --expect-ca to restore another bundle's backup)".to_string(),
            },
            e => e.to_string(),
        })
    })?;
    Ok(())
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
        .chain([bundle::MANIFEST, integrity::MANIFEST_SIG])
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
