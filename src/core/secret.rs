//! Secrets in memory: passwords and private keys.
//!
//! `Secret` zeroizes its buffer on drop and never shows its contents in `Debug` or `Display`,
//! so a secret cannot leak through a log line, a panic message or `{:?}`.

use std::fmt;
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }
    pub fn from_string(s: String) -> Self {
        Secret(Zeroizing::new(s.into_bytes()))
    }
    /// The secret bytes, for writing to a 0600 file or hashing. Never print them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn expose_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_string("hunter2hunter2".into());
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("redacted"));
    }
}
