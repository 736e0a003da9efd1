//! `provision backup` (the issue's `export`): the current generation as one age-encrypted tar.
//! With `--remember`, also stores the recipients in the bundle (`backup-recipients`).

use crate::cli::BackupArgs;
use crate::core::archive;
use crate::core::bundle::{self, OutFile};
use crate::error::{Error, ExitStatus, Result};
use crate::io::age::{self as crypt, Sink, RECIPIENTS_FILE};
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;

/// `backup --format age` (`--format k8s` is `commands::k8s`, chosen in `lib.rs`).
pub fn run(args: &BackupArgs, out: Output) -> Result<ExitStatus> {
    for (set, flag) in [
        (args.force, "--force"),
        (args.name.is_some(), "--name"),
        (args.namespace.is_some(), "--namespace"),
    ] {
        if set {
            return Err(Error::input(
                format!("{flag} is for --format k8s"),
                "age archives are never replaced and have no name; drop it, or add --format k8s",
            ));
        }
    }
    if let Some(flag) = args.cert_manager.first_given() {
        return Err(Error::input(
            format!("{flag} is for --format cert-manager"),
            "drop it, or add --format cert-manager",
        ));
    }
    let store = Store::open(args.bundle.path())?;
    if args.output.is_none() && !args.remember {
        return Err(Error::input(
            "nowhere to write the backup",
            "pass -o FILE (or `-o -` for stdout), or --remember to only store the recipients",
        ));
    }
    // Recipients from the flags, before anything else is read.
    let mut recipients = Vec::new();
    for r in &args.recipients {
        recipients.push(crypt::parse_recipient(r, "--recipient")?);
    }
    if let Some(p) = &args.recipients_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Error::io("reading the recipients file", p, e))?;
        let rs = crypt::parse_recipients(&text, &p.display().to_string())?;
        if rs.is_empty() {
            return Err(Error::input_only(format!(
                "`{}` holds no recipient",
                p.display()
            )));
        }
        recipients.extend(rs);
    }
    if args.remember && recipients.is_empty() {
        return Err(Error::input(
            "--remember needs recipients",
            "pass --recipient age1... or --recipients-file FILE",
        ));
    }
    let pass = if args.passphrase || args.passphrase_file.is_some() {
        Some(crypt::passphrase(args.passphrase_file.as_deref(), true)?)
    } else {
        None
    };
    // Check the output is writable before taking the lock; created 0600, never replaced.
    let sink = args.output.as_deref().map(Sink::open).transpose()?;

    let lock = store.lock(args.lock.timeout());
    let fail = |e: Error, sink: Option<Sink>| {
        if let Some(p) = sink.as_ref().and_then(|s| s.path()) {
            let _ = std::fs::remove_file(p);
        }
        Err(e)
    };
    let _lock = match lock {
        Ok(l) => l,
        Err(e) => return fail(e, sink),
    };
    store.cleanup();
    let mut files = match store.read_generation(None) {
        Ok(f) => f,
        Err(e) => return fail(e, sink),
    };
    // A tampered bundle is not exported: its archive would carry the damage (and restore
    // would refuse it anyway).
    if !args.remember {
        if let Err(e) = super::refuse_if_inconsistent(&files, &store.dir, false) {
            return fail(e, sink);
        }
    }
    let mut remembered = None;
    if args.remember {
        match remember(&store, &files, &recipients) {
            Ok((f, gen)) => {
                files = f;
                remembered = Some(gen);
            }
            Err(e) => return fail(e, sink),
        }
    }
    if recipients.is_empty() && pass.is_none() {
        if let Some(t) = files.text(RECIPIENTS_FILE) {
            match crypt::parse_recipients(t, RECIPIENTS_FILE) {
                Ok(rs) => recipients = rs,
                Err(e) => return fail(e, sink),
            }
        }
        if recipients.is_empty() {
            return fail(
                Error::input(
                    "no recipient: pass --recipient, --recipients-file, --passphrase-file or --passphrase",
                    "or store recipients once with `provision backup --recipient age1... --remember`",
                ),
                sink,
            );
        }
    }

    let Some(sink) = sink else {
        print_result(
            out,
            &store,
            None,
            &files,
            remembered.as_deref(),
            &recipients,
        );
        return Ok(ExitStatus::Success);
    };
    let mtime = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let tar = archive::pack(&files, mtime)
        .map_err(|e| Error::failed(format!("building the archive: {e}"), None))?;
    let enc = match &pass {
        Some(p) => age::Encryptor::with_user_passphrase(p.clone()),
        None => crypt::encryptor_to(&recipients)?,
    };
    let label = sink
        .path()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| "stdout".into());
    let written = sink.write_with(|w| {
        crypt::encrypt_stream(enc, args.armor, &mut &tar[..], w, &label).map(|_| ())
    })?;
    print_result(
        out,
        &store,
        written.as_deref().or(Some("-".as_ref())),
        &files,
        remembered.as_deref(),
        &recipients,
    );
    Ok(ExitStatus::Success)
}

/// Writes `backup-recipients` into a new generation (manifest updated), audited.
fn remember(
    store: &Store,
    before: &bundle::Files,
    recipients: &[age::x25519::Recipient],
) -> Result<(bundle::Files, String)> {
    super::refuse_if_inconsistent(before, &store.dir, false)?;
    let m = super::manifest_of(before, &store.dir)?;
    let now = time::OffsetDateTime::now_utc();
    let gen_id = store::new_generation_id(now);
    let mut files = before.clone();
    // Public keys, but 0600 like every non-certificate file of the bundle (check's rule).
    files.put(OutFile::secret(
        RECIPIENTS_FILE,
        crate::core::secret::Secret::from_string(crypt::recipients_text(recipients)),
    ));
    let manifest = bundle::build_manifest(&m.spec, &files, &gen_id, now, m.records())
        .map_err(|e| Error::failed(format!("rebuilding the manifest: {e}"), None))?;
    bundle::put_manifest(&mut files, manifest)
        .map_err(|e| Error::failed(format!("signing the manifest: {e}"), None))?;
    let mut entry = super::audit_entry("backup-recipients", &gen_id, &files);
    entry["recipients"] = json!(recipients.iter().map(|r| r.to_string()).collect::<Vec<_>>());
    store.commit(&files, &gen_id, &entry)?;
    Ok((files, gen_id))
}

fn print_result(
    out: Output,
    store: &Store,
    written: Option<&std::path::Path>,
    files: &bundle::Files,
    remembered: Option<&str>,
    recipients: &[age::x25519::Recipient],
) {
    let r = BackedUp {
        action: "backup",
        dir: &store.dir,
        output: written,
        files: files.0.iter().map(|f| f.name.as_str()).collect(),
        remembered_generation: remembered,
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        ca_fingerprint: ca_fingerprint(files),
    };
    // With `-o -` stdout carries the archive: the summary goes to stderr.
    if written == Some("-".as_ref()) {
        out.report_beside_data(&r);
    } else {
        out.report(&r);
    }
}

#[derive(serde::Serialize)]
struct BackedUp<'a> {
    action: &'static str,
    dir: &'a std::path::Path,
    /// None when only the recipients were remembered; `-` for stdout.
    output: Option<&'a std::path::Path>,
    files: Vec<&'a str>,
    remembered_generation: Option<&'a str>,
    recipients: Vec<String>,
    ca_fingerprint: String,
}

impl Report for BackedUp<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        if let Some(g) = self.remembered_generation {
            writeln!(
                w,
                "Stored {} backup recipient(s) in {}/{RECIPIENTS_FILE} (generation {g}).",
                self.recipients.len(),
                self.dir.display()
            )?;
        }
        if let Some(p) = self.output {
            writeln!(
                w,
                "Backed up {} files of {} to {} (age-encrypted tar, 0600).",
                self.files.len(),
                self.dir.display(),
                if p == std::path::Path::new("-") {
                    "stdout".into()
                } else {
                    p.display().to_string()
                }
            )?;
            writeln!(w, "  CA SHA-256 fingerprint: {}", self.ca_fingerprint)?;
            writeln!(w, "  keep it with the backup: restoring into an empty directory needs --expect-ca FINGERPRINT")?;
        }
        Ok(())
    }
}

/// The issuing CA's SHA-256 fingerprint, as OpenSSL prints it.
fn ca_fingerprint(files: &bundle::Files) -> String {
    files
        .get(bundle::CA_CRT)
        .and_then(|f| crate::core::inspect::pem_certificates(f.data.expose()).ok())
        .and_then(|d| d.into_iter().next())
        .and_then(|der| crate::core::inspect::inspect(&der).ok())
        .map(|i| crate::core::integrity::openssl_fingerprint(&i.sha256_fingerprint))
        .unwrap_or_default()
}
