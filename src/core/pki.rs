//! Certificate and key building with rcgen, on the aws-lc-rs backend.
//!
//! Pure apart from randomness: the caller passes the clock. Each builder bakes in the
//! extensions its role needs, so a caller cannot forget one:
//! - CA: basicConstraints CA:TRUE pathlen 0 (critical), keyCertSign + cRLSign, SKI;
//! - server: SANs, EKU serverAuth + clientAuth (Redis presents its server certificate as a
//!   client certificate on replication and cluster-bus links), AKI, CA:FALSE;
//! - client: CN = the ACL user, a URI SAN `spiffe://<trust domain>/redis/user/<user>` (RFC
//!   5280 wants a subject identity in the SAN, and strict verifiers such as Python
//!   `cryptography`'s refuse a leaf without one), EKU clientAuth, AKI, CA:FALSE.
//!
//! Every certificate's SKI is RFC 7093 method 1 ([`key_id`]); a leaf's AKI is its issuer's SKI.
//! Serials are 128 random bits (positive). Certificates are X.509 v3.

use super::secret::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
    SignatureAlgorithm, SigningKey,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Certificates start a few minutes in the past so that a peer whose clock lags a little
/// still accepts them (as cfssl and step do).
pub const BACKDATE: time::Duration = time::Duration::minutes(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order `--help` lists them.
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The key type named `name` (as `name()` spells it).
    pub fn from_name(name: &str) -> Option<KeyType> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct PkiError {
    pub action: String,
    #[source]
    pub source: rcgen::Error,
}

fn ctx<T>(action: &str, r: Result<T, rcgen::Error>) -> Result<T, PkiError> {
    r.map_err(|source| PkiError {
        action: action.to_string(),
        source,
    })
}

/// A private key that can sign certificates.
///
/// ECDSA keys are kept as aws-lc-rs made them. rcgen's `KeyPair::generate_for` serialises a
/// new key to PKCS#8 and parses it straight back, with a full key check (a second scalar
/// multiplication): that round trip cost more than generating the key, 13% of a default
/// `init`. Other keys (Ed25519, RSA, and every key read back from a bundle) are rcgen's.
pub enum Key {
    Ecdsa(EcdsaKey),
    Rcgen(KeyPair),
}

pub struct EcdsaKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for Key {
    fn der_bytes(&self) -> &[u8] {
        use aws_lc_rs::signature::KeyPair as _;
        match self {
            Key::Ecdsa(k) => k.pair.public_key().as_ref(),
            Key::Rcgen(k) => k.der_bytes(),
        }
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            Key::Ecdsa(k) => k.alg,
            Key::Rcgen(k) => PublicKeyData::algorithm(k),
        }
    }
}

impl SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            Key::Ecdsa(k) => k
                .pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| rcgen::Error::RingUnspecified),
            Key::Rcgen(k) => k.sign(msg),
        }
    }
}

/// A new private key of the given type.
pub fn generate_key(kt: KeyType) -> Result<Key, PkiError> {
    use aws_lc_rs::signature::{
        EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    use rcgen::{
        RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    };
    let ecdsa = |signing, alg| {
        EcdsaKeyPair::generate(signing)
            .map(|pair| Key::Ecdsa(EcdsaKey { pair, alg }))
            .map_err(|_| rcgen::Error::RingUnspecified)
    };
    let r = match kt {
        KeyType::EcdsaP256 => ecdsa(&ECDSA_P256_SHA256_ASN1_SIGNING, &PKCS_ECDSA_P256_SHA256),
        KeyType::EcdsaP384 => ecdsa(&ECDSA_P384_SHA384_ASN1_SIGNING, &PKCS_ECDSA_P384_SHA384),
        KeyType::Ed25519 => KeyPair::generate_for(&PKCS_ED25519).map(Key::Rcgen),
        KeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map(Key::Rcgen)
        }
        KeyType::Rsa3072 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072).map(Key::Rcgen)
        }
        KeyType::Rsa4096 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096).map(Key::Rcgen)
        }
    };
    ctx(&format!("generating a {kt} key"), r)
}

/// Generates `n` keys, spread over the available cores: RSA keys always (RSA-4096 takes a
/// second or more each), others when there are many (an EC key takes about 25 µs, so a thread
/// pays for itself only past a few dozen).
pub fn generate_keys(
    kt: KeyType,
    n: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Key>, PkiError> {
    let threads = if kt.is_rsa() || n >= 64 {
        std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(n.max(1))
    } else {
        1
    };
    if threads <= 1 {
        return (0..n)
            .map(|_| {
                let k = generate_key(kt);
                tick();
                k
            })
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Key, PkiError>>> = (0..n).map(|_| None).collect();
    let results = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let k = generate_key(kt);
                tick();
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(k);
            });
        }
    });
    slots
        .into_iter()
        .map(|k| k.expect("every slot is filled"))
        .collect()
}

/// 128 random bits, top bit cleared so the DER INTEGER is positive, never zero.
pub fn random_serial() -> SerialNumber {
    use rand::{rngs::OsRng, TryRngCore};
    let mut b = [0u8; 16];
    OsRng.unwrap_err().try_fill_bytes(&mut b).expect("OS RNG");
    b[0] &= 0x7f;
    b[0] |= 0x01 << 6; // keep all 16 bytes significant (no leading zero byte)
    SerialNumber::from_slice(&b)
}

/// The private key in PKCS#8 PEM, held as a secret.
///
/// Ed25519 keys are written as PKCS#8 v1 (RFC 8410): aws-lc emits v2 (with the public key
/// attached), which OpenSSL 3.0 — and so Debian's redis-server — refuses to load.
pub fn key_pem(key: &Key) -> Secret {
    let key = match key {
        Key::Ecdsa(k) => {
            let doc = k
                .pair
                .to_pkcs8v1()
                .expect("aws-lc serialises a key it generated");
            return Secret::from_string(pem_lf("PRIVATE KEY", doc.as_ref()));
        }
        Key::Rcgen(k) => k,
    };
    let der = key.serialized_der();
    match ed25519_v1(der) {
        Some(v1) => Secret::from_string(pem_lf("PRIVATE KEY", &v1)),
        None => Secret::from_string(key.serialize_pem()),
    }
}

/// PEM with LF line endings (the `pem` crate defaults to CRLF).
pub fn pem_lf(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The `-----BEGIN ...-----` ... `-----END ...-----` blocks of a PEM text, verbatim.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END ") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// PKCS#8 v2 Ed25519 (`30 51 02 01 01 30 05 06 03 2b 65 70 04 22 04 20 <seed> 81 21 00 <pub>`)
/// re-encoded as v1 (`30 2e 02 01 00 ... 04 22 04 20 <seed>`). None for any other key.
fn ed25519_v1(der: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    const V2_PREFIX: &[u8] = &[
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    const V1_PREFIX: &[u8] = &[
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    if der.len() != 83 || !der.starts_with(V2_PREFIX) {
        return None;
    }
    let mut v1 = zeroize::Zeroizing::new(Vec::with_capacity(48));
    v1.extend_from_slice(V1_PREFIX);
    v1.extend_from_slice(&der[16..48]);
    Some(v1)
}

/// The key identifier of a public key, RFC 7093 section 2 method 1: the leftmost 160 bits of
/// the SHA-256 hash of the subjectPublicKey BIT STRING's value (without tag, length and
/// unused-bits octet). rcgen's default hashes the whole SubjectPublicKeyInfo instead, which no
/// RFC describes (pkilint: `pkix.unknown_subject_key_identifier_calculation_method`).
pub fn key_id(key: &impl PublicKeyData) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.der_bytes());
    d.as_ref()[..20].to_vec()
}

/// Parameters of a private CA whose key is `key`.
pub fn ca_params(
    common_name: &str,
    key: &impl PublicKeyData,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    // The SKI, and (through `Issuer::from_params`) the AKI of every leaf this CA signs.
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(key));
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "provision");
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(random_serial());
    p
}

/// What a leaf certificate is for.
#[derive(Clone, Debug)]
pub enum Leaf {
    /// A Redis server: SANs from `hosts`, serverAuth + clientAuth.
    Server {
        common_name: String,
        hosts: Vec<String>,
    },
    /// A client for one ACL user: CN = user, one URI SAN, clientAuth. `common_name` is the
    /// user's name, unless the bundle needs another (`Spec::client_cn`); `uri` is the user's
    /// SPIFFE ID [`client_uri`], or the URI identity it logs in with (`UserSpec::uri`).
    Client { common_name: String, uri: String },
    /// The bundle's signer: signs `manifest.json` and backups. codeSigning only, so no TLS
    /// peer (OpenSSL checks the purpose) accepts it as a server or client certificate.
    Signer,
}

/// The common name of the bundle's signing certificate.
pub const SIGNER_CN: &str = "provision bundle signer";

/// The trust domain client certificates name when `init --trust-domain` is not given (and for
/// bundles made before the trust domain existed).
pub const DEFAULT_TRUST_DOMAIN: &str = "redis.internal";

/// The URI SAN of the client certificate of ACL user `user`: a SPIFFE ID.
pub fn client_uri(trust_domain: &str, user: &str) -> String {
    format!("spiffe://{trust_domain}/redis/user/{user}")
}

/// Parameters of a leaf certificate for `key`. `hosts`, the user and the trust domain must
/// already be validated.
pub fn leaf_params(
    leaf: &Leaf,
    key_type: KeyType,
    key: &impl PublicKeyData,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(key));
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "provision");
    match leaf {
        Leaf::Server { common_name, hosts } => {
            p.distinguished_name
                .push(DnType::CommonName, common_name.as_str());
            for h in hosts {
                let san = match h.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(ctx(&format!("host `{h}`"), h.clone().try_into())?),
                };
                p.subject_alt_names.push(san);
            }
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        }
        Leaf::Client { common_name, uri } => {
            p.distinguished_name
                .push(DnType::CommonName, common_name.as_str());
            p.subject_alt_names.push(SanType::URI(ctx(
                &format!("client URI `{uri}`"),
                uri.clone().try_into(),
            )?));
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Leaf::Signer => {
            p.distinguished_name.push(DnType::CommonName, SIGNER_CN);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        }
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key_type.is_rsa() {
        p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.use_authority_key_identifier_extension = true;
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(random_serial());
    Ok(p)
}

/// A self-signed CA certificate (PEM).
pub fn self_sign(params: &CertificateParams, key: &Key) -> Result<String, PkiError> {
    Ok(ctx("signing the CA certificate", params.self_signed(key))?.pem())
}

/// A leaf certificate signed by `issuer` (PEM).
pub fn sign_leaf(
    params: &CertificateParams,
    leaf_key: &Key,
    issuer: &Issuer<'_, &Key>,
) -> Result<String, PkiError> {
    Ok(ctx("signing a certificate", params.signed_by(leaf_key, issuer))?.pem())
}

/// An issuer built from an existing CA certificate and its key (for renewals).
pub fn issuer_from_pem<'a>(ca_pem: &str, key: &'a Key) -> Result<Issuer<'a, &'a Key>, PkiError> {
    ctx(
        "reading the CA certificate",
        Issuer::from_ca_cert_pem(ca_pem, key),
    )
}

/// Parses a PKCS#8 PEM private key.
pub fn key_from_pem(pem: &str) -> Result<Key, PkiError> {
    ctx(
        "reading a private key",
        KeyPair::from_pem(pem).map(Key::Rcgen),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_match_serde_and_parse_back() {
        for k in KeyType::ALL {
            assert_eq!(KeyType::from_name(k.name()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(KeyType::from_name("dsa"), None);
    }
}
