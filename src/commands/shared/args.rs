//! What several commands make of the same flags.

use crate::error::Result;

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
