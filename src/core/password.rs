//! Password generation and the SHA-256 form Redis ACL files store (`#<hex>`).

use super::secret::Secret;
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

/// 43 characters from a 62-symbol alphabet: 43 * log2(62) = 256.03 bits.
pub const PASSWORD_LEN: usize = 43;

/// A fresh password from the OS CSPRNG, `[A-Za-z0-9]` only: safe in URLs, shells, ACL rules
/// and YAML without quoting.
pub fn generate() -> Secret {
    let mut rng = OsRng.unwrap_err();
    let bytes: Vec<u8> = (0..PASSWORD_LEN)
        .map(|_| rng.sample(Alphanumeric))
        .collect();
    Secret::new(bytes)
}

/// Random lowercase letters and digits. Redis command names are case-insensitive, so a
/// mixed-case suffix would carry no more entropy than this 36-symbol one.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = OsRng.unwrap_err();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Lowercase hex SHA-256, the form `#<hash>` in users.acl expects (exactly 64 characters).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// True if `s` is a valid ACL password hash: 64 lowercase hex characters.
pub fn is_acl_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_are_long_alphanumeric_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..500 {
            let p = generate();
            assert_eq!(p.expose().len(), PASSWORD_LEN);
            assert!(p.expose().iter().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(p.expose().to_vec()), "duplicate password");
        }
        // 43 symbols of 62 carry at least 256 bits.
        assert!(PASSWORD_LEN as f64 * 62f64.log2() >= 256.0);
    }

    #[test]
    fn alphabet_is_used_fully() {
        let mut chars = HashSet::new();
        for _ in 0..200 {
            chars.extend(generate().expose().iter().copied());
        }
        assert_eq!(
            chars.len(),
            62,
            "all of [A-Za-z0-9] should appear over 8600 draws"
        );
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_acl_hash(&sha256_hex(b"x")));
        assert!(!is_acl_hash("ABC"));
    }

    #[test]
    fn tokens_are_lowercase_alnum() {
        let t = random_token(26);
        assert_eq!(t.len(), 26);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(t, random_token(26));
    }
}
