//! One file per subcommand. Each takes its parsed arguments and the output settings, does the
//! I/O, and returns an exit code or an `Error`.

pub mod check;
pub mod init;

use crate::core::bundle::{self, Files, Manifest};
use crate::core::inspect;
use crate::error::{Error, Result};
use std::path::Path;

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
