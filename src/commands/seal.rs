//! `provision seal` / `provision unseal`: encrypt any file (a Redis dump.rdb, an AOF) to the
//! bundle's backup recipients, and back, streaming in constant memory (age's 64 KiB chunks
//! through `std::io::copy`), so a multi-GiB dump costs no more memory than a small one.

use crate::cli::{SealArgs, UnsealArgs};
use crate::error::{Error, ExitStatus, Result};
use crate::io::age::{self as crypt, Key, Sink, RECIPIENTS_FILE};
use crate::output::{Output, Report};
use crate::store::Store;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

pub fn seal(args: &SealArgs, out: Output) -> Result<ExitStatus> {
    let store = Store::open_readonly(args.bundle.path())?;
    let files = store.read_generation(None)?;
    let recipients = match files.text(RECIPIENTS_FILE) {
        Some(t) => crypt::parse_recipients(t, RECIPIENTS_FILE)?,
        None => vec![],
    };
    if recipients.is_empty() {
        return Err(Error::input(
            format!(
                "`{}` has no backup recipients to seal to",
                store.dir.display()
            ),
            "store them once with `provision backup --dir DIR --recipient age1... --remember`",
        ));
    }
    let src = File::open(&args.file).map_err(|e| Error::io("opening", &args.file, e))?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| format!("{}.age", args.file.display()));
    let enc = crypt::encryptor_to(&recipients)?;
    let mut reader = BufReader::with_capacity(64 * 1024, src);
    let mut bytes = 0;
    let written = Sink::open(&output)?.write_with(|w| {
        bytes = crypt::encrypt_stream(enc, args.armor, &mut reader, w, &args.file)?;
        Ok(())
    })?;
    report(out, "seal", &args.file, written.as_deref(), bytes);
    Ok(ExitStatus::Success)
}

pub fn unseal(args: &UnsealArgs, out: Output) -> Result<ExitStatus> {
    let key = Key::Identities(crypt::identities(&args.identity)?);
    let output = match &args.output {
        Some(o) => o.clone(),
        None => match args.file.to_str().and_then(|s| s.strip_suffix(".age")) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                return Err(Error::input(
                    format!("`{}` does not end in .age", args.file.display()),
                    "pass -o FILE",
                ))
            }
        },
    };
    // Decrypt the header first: a wrong key fails before any output file exists.
    let mut reader = crypt::decrypt_reader(&args.file, &key)?;
    let mut bytes = 0;
    let written = Sink::open(&output)?.write_with(|w: &mut dyn Write| {
        // age releases only authenticated chunks; a truncated or altered file fails here and
        // the partly written output is removed.
        bytes = io::copy(&mut reader, w).map_err(|e| crypt::payload_error(&args.file, e))?;
        Ok(())
    })?;
    report(out, "unseal", &args.file, written.as_deref(), bytes);
    Ok(ExitStatus::Success)
}

fn report(out: Output, action: &'static str, input: &Path, written: Option<&Path>, bytes: u64) {
    let r = Sealed {
        action,
        input,
        output: written,
        bytes,
    };
    match written {
        Some(_) => out.report(&r),
        None => out.report_beside_data(&r),
    }
}

#[derive(serde::Serialize)]
struct Sealed<'a> {
    action: &'static str,
    input: &'a Path,
    /// None: the result went to stdout.
    output: Option<&'a Path>,
    bytes: u64,
}

impl Report for Sealed<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        writeln!(
            w,
            "{}ed {} ({} bytes) to {}",
            if self.action == "seal" {
                "Seal"
            } else {
                "Unseal"
            },
            self.input.display(),
            self.bytes,
            self.output
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "stdout".into())
        )
    }
}
