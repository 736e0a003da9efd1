//! Opening a protected CA key for a command, and the errors that say which flag is missing.

use crate::core::bundle::{Files, Manifest};
use crate::core::cakey::{self, CaKeyError, Protection, Sealer, Slot};
use crate::core::secret::Secret;
use crate::error::{Error, Result};
use std::path::Path;

/// The bundle's current CA key (PEM) for signing, and how a new CA key is to be stored.
/// A protected key (`ca.key.age`) is opened with `key` and checked against ca.crt; without a
/// key the error (exit 2) names the file and the flag to pass. `why` says what needs the key
/// ("renewing redis.crt, app.crt"). `slot` is the issuing CA's key, or the new CA's while a
/// rollover is in its overlap.
pub fn unlock_ca_key(
    files: &Files,
    m: &Manifest,
    key: Option<&crate::io::age::Key>,
    dir: &Path,
    why: &str,
    slot: Slot,
) -> Result<(Secret, Sealer)> {
    let protection = m.spec.ca_key.as_ref();
    let unlock = key.map(|k| k.unlock());
    let err = |e| ca_key_error(e, protection, &dir.join(slot.sealed()), why);
    let pem = cakey::load_in(files, protection, unlock.as_ref(), slot).map_err(err)?;
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

/// A clear error for a CA key (sealed at `path`) that cannot be used.
pub fn ca_key_error(e: CaKeyError, p: Option<&Protection>, path: &Path, why: &str) -> Error {
    let dir = path.parent().unwrap_or(Path::new("."));
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
            format!("`{}` decrypts to a key that does not match its CA in ca.crt; refusing to sign with it", path.display()),
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
