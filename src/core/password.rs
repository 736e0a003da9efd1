//! Password generation and the SHA-256 form Redis ACL files store (`#<hex>`).

use super::secret::Secret;
use rand::rngs::OsRng;
use rand::TryRngCore;
use zeroize::Zeroizing;

/// 43 characters from a 62-symbol alphabet: 43 * log2(62) = 256.03 bits.
pub const PASSWORD_LEN: usize = 43;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Random bytes are fetched from the OS this many at a time: one getrandom(2) covers a whole
/// password (43 symbols need about 44.4 bytes on average with the rejection below).
const BLOCK: usize = 64;

/// A fresh password from the OS CSPRNG, `[A-Za-z0-9]` only: safe in URLs, shells, ACL rules
/// and YAML without quoting.
pub fn generate() -> Secret {
    Secret::new(std::mem::take(&mut *sample(ALPHANUMERIC, PASSWORD_LEN)))
}

/// Random lowercase letters and digits. Redis command names are case-insensitive, so a
/// mixed-case suffix would carry no more entropy than this 36-symbol one.
pub fn random_token(len: usize) -> String {
    let symbols = std::mem::take(&mut *sample(LOWER_ALNUM, len));
    String::from_utf8(symbols).expect("the alphabet is ASCII")
}

/// `len` symbols drawn uniformly from `alphabet` with bytes from the OS CSPRNG, fetched in
/// blocks of `BLOCK` into a buffer that is zeroized afterwards (as is the result, until the
/// caller takes it). Fetching per symbol cost one getrandom(2) per character: about 63,000
/// system calls for a 1000-user bundle.
fn sample(alphabet: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    // Exactly `len`: the vector never reallocates, so no unzeroized copy is left behind.
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut block = Zeroizing::new([0u8; BLOCK]);
    while out.len() < len {
        OsRng.try_fill_bytes(&mut block[..]).expect("OS RNG");
        take_symbols(alphabet, &block[..], &mut out, len);
    }
    out
}

/// Appends to `out` (up to `len` symbols) one symbol per usable byte of `bytes`. A byte is
/// usable if it is below the largest multiple of the alphabet's size that fits in 256
/// (248 for 62 symbols, 252 for 36); the rest are dropped, so that `byte % size` maps exactly
/// the same number of byte values to every symbol and no symbol is more likely than another.
fn take_symbols(alphabet: &[u8], bytes: &[u8], out: &mut Vec<u8>, len: usize) {
    let n = alphabet.len();
    assert!((1..=256).contains(&n), "alphabet of 1 to 256 symbols");
    let limit = 256 - 256 % n;
    for &b in bytes {
        if out.len() == len {
            return;
        }
        if usize::from(b) < limit {
            out.push(alphabet[usize::from(b) % n]);
        }
    }
}

/// Lowercase hex SHA-256, the form `#<hash>` in users.acl expects (exactly 64 characters).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// Lowercase hex, by table lookup: `write!("{b:02x}")` per byte cost four times the SHA-256
/// it printed (sha256_hex: 1.0 µs, now 0.2 µs), and a 1000-user init or check takes thousands.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
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
    fn every_symbol_gets_the_same_number_of_byte_values() {
        let every_byte: Vec<u8> = (0..=255).collect();
        for alphabet in [ALPHANUMERIC, LOWER_ALNUM, b"abc", &every_byte[..]] {
            let n = alphabet.len();
            let mut out = Vec::new();
            take_symbols(alphabet, &every_byte, &mut out, usize::MAX);
            assert_eq!(out.len(), 256 - 256 % n, "bytes >= the limit are dropped");
            for sym in alphabet {
                assert_eq!(out.iter().filter(|o| *o == sym).count(), 256 / n);
            }
        }
        // 62 symbols: 247 is the last usable byte, 248..=255 are rejected.
        let mut out = Vec::new();
        take_symbols(ALPHANUMERIC, &[247, 248, 255, 0], &mut out, 10);
        assert_eq!(out, [b'9', b'A']);
        // Stops at `len`.
        let mut out = Vec::new();
        take_symbols(ALPHANUMERIC, &[1, 2, 3], &mut out, 2);
        assert_eq!(out, [b'B', b'C']);
    }

    #[test]
    fn symbols_are_roughly_uniform() {
        // About 62 * 2000 draws: each count is 2000 ± 44 (σ). 6σ bounds: a false failure about
        // once in ten million runs; a modulo bias (5/256 instead of 4/256) is off by 9σ.
        let mut counts = [0usize; 256];
        for _ in 0..2000 * 62 / PASSWORD_LEN + 1 {
            for &b in generate().expose() {
                counts[usize::from(b)] += 1;
            }
        }
        for &c in ALPHANUMERIC {
            let n = counts[usize::from(c)];
            assert!(
                (1734..=2266).contains(&n),
                "symbol {} drawn {n} times",
                c as char
            );
        }
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_acl_hash(&sha256_hex(b"x")));
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
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
