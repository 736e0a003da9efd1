//! The bundle's signature: every generation's `manifest.json` records the SHA-256 of every
//! file, and `manifest.sig` is an ECDSA P-256 signature over those exact bytes, made with
//! the bundle's signer key (`signer.key`, 0600) whose certificate (`signer.crt`) the CA
//! issued (EKU codeSigning only: no TLS peer accepts it). `check` verifies the signature
//! against a CA in `ca.crt`, then every file against its recorded digest; backups carry the
//! same signature, so `restore` accepts only an archive made by a holder of the signer key.
//!
//! Anyone can verify a bundle with stock OpenSSL:
//! `openssl x509 -in signer.crt -pubkey -noout > signer.pub`,
//! `base64 -d manifest.sig > sig.der`,
//! `openssl dgst -sha256 -verify signer.pub -signature sig.der manifest.json`.

use super::inspect::{self, InspectError};
use super::pki::{self, Key, KeyType, Leaf, PkiError};
use super::secret::Secret;
use base64::Engine as _;
use rcgen::SigningKey as _;
use time::OffsetDateTime;

pub const SIGNER_CRT: &str = "signer.crt";
pub const SIGNER_KEY: &str = "signer.key";
pub const MANIFEST_SIG: &str = "manifest.sig";

/// Largest signature file accepted (a P-256 DER signature is at most 72 bytes).
const MAX_SIG: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{MANIFEST_SIG} is not a signature (base64 of at most {MAX_SIG} bytes expected)")]
    Malformed,
    #[error("{SIGNER_CRT} was not issued by a CA in ca.crt")]
    Untrusted,
    #[error("{SIGNER_CRT} is not provision's signing certificate ({0})")]
    NotSigner(String),
    #[error("the signature does not verify: manifest.json was changed after provision signed it, or signed by another key")]
    BadSignature,
    #[error("signing: {0}")]
    Sign(String),
}

/// A new signer (certificate PEM, key PEM) issued by `issuer`, valid from `not_before` until
/// `not_after` (the CA's end: the signer is renewed with the CA).
pub fn issue_signer(
    issuer: &rcgen::Issuer<'_, &Key>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(String, Secret), PkiError> {
    let key = pki::generate_key(KeyType::EcdsaP256)?;
    let p = pki::leaf_params(
        &Leaf::Signer,
        KeyType::EcdsaP256,
        &key,
        not_before,
        not_after,
    )?;
    Ok((pki::sign_leaf(&p, &key, issuer)?, pki::key_pem(&key)))
}

/// The signature file over `msg`: base64 of the DER ECDSA signature, one line.
pub fn sign(key_pem: &Secret, msg: &[u8]) -> Result<String, IntegrityError> {
    let key =
        pki::key_from_pem(key_pem.expose_str()).map_err(|e| IntegrityError::Sign(e.to_string()))?;
    let sig = key
        .sign(msg)
        .map_err(|e| IntegrityError::Sign(e.to_string()))?;
    let mut s = base64::engine::general_purpose::STANDARD.encode(sig);
    s.push('\n');
    Ok(s)
}

/// Verifies `sig_file` over `msg` with `signer_pem`, which must be provision's signing
/// certificate issued by one of `cas` (DER). Returns the signer's fingerprint.
pub fn verify(
    signer_pem: &[u8],
    cas: &[Vec<u8>],
    msg: &[u8],
    sig_file: &[u8],
) -> Result<String, IntegrityError> {
    if sig_file.len() > MAX_SIG {
        return Err(IntegrityError::Malformed);
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8_lossy(sig_file).trim())
        .map_err(|_| IntegrityError::Malformed)?;
    let der = inspect::pem_certificates(signer_pem)
        .map_err(|e| IntegrityError::NotSigner(e.to_string()))?
        .into_iter()
        .next()
        .ok_or(IntegrityError::NotSigner("no certificate".into()))?;
    let info = inspect::inspect(&der).map_err(|e| IntegrityError::NotSigner(e.to_string()))?;
    if info.common_name != pki::SIGNER_CN || info.is_ca || info.server_auth || info.client_auth {
        return Err(IntegrityError::NotSigner(format!(
            "subject `{}`",
            info.subject
        )));
    }
    if !cas
        .iter()
        .any(|ca| inspect::verify_signed_by(&der, ca).is_ok())
    {
        return Err(IntegrityError::Untrusted);
    }
    match inspect::verify_data(&der, msg, &sig) {
        Ok(()) => Ok(info.sha256_fingerprint),
        Err(InspectError::BadSignature) => Err(IntegrityError::BadSignature),
        Err(e) => Err(IntegrityError::NotSigner(e.to_string())),
    }
}

/// The SHA-256 fingerprint of a certificate's DER in the form `openssl x509 -fingerprint
/// -sha256` prints it: upper-case hex pairs joined by colons.
pub fn openssl_fingerprint(hex: &str) -> String {
    hex.to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// A fingerprint as the operator typed it (colons, spaces and case optional), as lower-case
/// hex; `None` when it is not 64 hex digits.
pub fn parse_fingerprint(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix("sha256 Fingerprint=")
        .or_else(|| s.strip_prefix("SHA256 Fingerprint="))
        .unwrap_or(s);
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_over_the_same_bytes_and_the_same_ca() {
        let now = OffsetDateTime::now_utc();
        let ca_key = pki::generate_key(KeyType::EcdsaP256).unwrap();
        let params = pki::ca_params("t", &ca_key, now, now + time::Duration::days(1));
        let ca_pem = pki::self_sign(&params, &ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&params, &ca_key);
        let (crt, key) = issue_signer(&issuer, now, now + time::Duration::days(1)).unwrap();
        let ca_der = inspect::pem_certificates(ca_pem.as_bytes()).unwrap();
        let sig = sign(&key, b"manifest").unwrap();
        verify(crt.as_bytes(), &ca_der, b"manifest", sig.as_bytes()).unwrap();
        assert!(matches!(
            verify(crt.as_bytes(), &ca_der, b"manifest!", sig.as_bytes()),
            Err(IntegrityError::BadSignature)
        ));
        let other_key = pki::generate_key(KeyType::EcdsaP256).unwrap();
        let other = pki::self_sign(&pki::ca_params("o", &other_key, now, now), &other_key).unwrap();
        let other_der = inspect::pem_certificates(other.as_bytes()).unwrap();
        assert!(matches!(
            verify(crt.as_bytes(), &other_der, b"manifest", sig.as_bytes()),
            Err(IntegrityError::Untrusted)
        ));
        // The CA certificate itself is not a signer, even though it verifies its own.
        assert!(matches!(
            verify(ca_pem.as_bytes(), &ca_der, b"manifest", sig.as_bytes()),
            Err(IntegrityError::NotSigner(_))
        ));
    }

    #[test]
    fn fingerprints_are_read_as_openssl_prints_them() {
        let hex = "ab".repeat(32);
        let shown = openssl_fingerprint(&hex);
        assert!(shown.starts_with("AB:AB:"));
        assert_eq!(parse_fingerprint(&shown).as_deref(), Some(hex.as_str()));
        assert_eq!(
            parse_fingerprint(&format!("sha256 Fingerprint={shown}")).as_deref(),
            Some(hex.as_str())
        );
        assert_eq!(parse_fingerprint("abc"), None);
    }
}
