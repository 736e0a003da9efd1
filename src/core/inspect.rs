//! Reading certificates and keys back with x509-parser: the independent check on what rcgen
//! wrote, used by `check`, `renew`, the manifest and the tests.

use super::password::hex;
use ::time::OffsetDateTime;
use x509_parser::prelude::*;

/// What a certificate says, in plain values.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub common_name: String,
    pub serial: String,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub sha256_fingerprint: String,
    pub version: u32,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
    pub digital_signature: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    pub sans: Vec<String>,
    pub subject_key_id: Option<String>,
    pub authority_key_id: Option<String>,
    pub key_algorithm: String,
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    #[serde(skip)]
    pub der: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("invalid certificate: {0}")]
    Der(String),
    #[error("signature does not verify against the issuer's key")]
    BadSignature,
}

/// Every `CERTIFICATE` block of a PEM file, as DER. Other block types are ignored.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, InspectError> {
    let mut out = Vec::new();
    for p in Pem::iter_from_buffer(pem) {
        let p = p.map_err(|e| InspectError::Pem(e.to_string()))?;
        if p.label == "CERTIFICATE" {
            out.push(p.contents);
        }
    }
    if out.is_empty() {
        return Err(InspectError::NoCertificate);
    }
    Ok(out)
}

/// Parses one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, InspectError> {
    let (rest, c) = X509Certificate::from_der(der).map_err(|e| InspectError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(InspectError::Der(
            "trailing data after the certificate".into(),
        ));
    }
    let bc = c
        .basic_constraints()
        .ok()
        .flatten()
        .map(|e| e.value.clone());
    let ku = c.key_usage().ok().flatten().map(|e| *e.value);
    let eku = c
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| e.value.clone());
    let mut sans = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(b) => sans.push(ip_to_string(b)),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                other => sans.push(other.to_string()),
            }
        }
    }
    let mut ski = None;
    let mut aki = None;
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(hex(k.0)),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| hex(k.0))
            }
            _ => {}
        }
    }
    let common_name = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        common_name,
        serial: hex(c.raw_serial()),
        not_before: c.validity().not_before.to_datetime(),
        not_after: c.validity().not_after.to_datetime(),
        sha256_fingerprint: super::password::sha256_hex(der),
        version: c.version().0 + 1,
        is_ca: bc.as_ref().is_some_and(|b| b.ca),
        path_len: bc.and_then(|b| b.path_len_constraint),
        key_cert_sign: ku.is_some_and(|k| k.key_cert_sign()),
        crl_sign: ku.is_some_and(|k| k.crl_sign()),
        digital_signature: ku.is_some_and(|k| k.digital_signature()),
        server_auth: eku.as_ref().is_some_and(|e| e.server_auth),
        client_auth: eku.as_ref().is_some_and(|e| e.client_auth),
        sans,
        subject_key_id: ski,
        authority_key_id: aki,
        key_algorithm: key_algorithm_name(&c),
        spki_der: c.public_key().raw.to_vec(),
        der: der.to_vec(),
    })
}

fn key_algorithm_name(c: &X509Certificate<'_>) -> String {
    match c.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("rsa-{}", r.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(p)) => match p.key_size() {
            256 => "ecdsa-p256".into(),
            384 => "ecdsa-p384".into(),
            n => format!("ec-{n}"),
        },
        _ if c.public_key().algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 => {
            "ed25519".into()
        }
        _ => c.public_key().algorithm.algorithm.to_id_string(),
    }
}

fn ip_to_string(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
        _ => hex(b),
    }
}

/// Verifies that `child` was signed by the key of `issuer` (both DER).
pub fn verify_signed_by(child: &[u8], issuer: &[u8]) -> Result<(), InspectError> {
    let (_, c) = X509Certificate::from_der(child).map_err(|e| InspectError::Der(e.to_string()))?;
    let (_, i) = X509Certificate::from_der(issuer).map_err(|e| InspectError::Der(e.to_string()))?;
    c.verify_signature(Some(i.public_key()))
        .map_err(|_| InspectError::BadSignature)
}

/// Whether a certificate file, its key and a CA bundle can be served together: the first
/// certificate of `cert_pem` is valid at `now`, `key_pem` is its key, and one CA of `ca_pem`
/// signed it. Returns the certificate, or what is wrong (a half-written update, a key from
/// another version, a CA that does not trust it).
pub fn servable(
    cert_pem: &[u8],
    key_pem: &str,
    ca_pem: &[u8],
    now: OffsetDateTime,
) -> Result<CertInfo, String> {
    let der = pem_certificates(cert_pem)
        .map_err(|e| format!("the certificate: {e}"))?
        .into_iter()
        .next()
        .ok_or("the certificate file holds no certificate")?;
    let cert = inspect(&der).map_err(|e| e.to_string())?;
    match key_spki_as(key_pem, &cert.key_algorithm) {
        Ok(spki) if spki == cert.spki_der => {}
        Ok(_) => {
            return Err(format!(
                "the key is not the key of certificate {}",
                cert.serial
            ))
        }
        Err(e) => return Err(format!("the key: {e}")),
    }
    let cas = pem_certificates(ca_pem).map_err(|e| format!("the CA bundle: {e}"))?;
    if !cas.iter().any(|ca| verify_signed_by(&der, ca).is_ok()) {
        return Err(format!(
            "no CA of the CA bundle signed certificate {}",
            cert.serial
        ));
    }
    if now < cert.not_before || now > cert.not_after {
        return Err(format!(
            "certificate {} is not valid now (valid {} to {})",
            cert.serial, cert.not_before, cert.not_after
        ));
    }
    Ok(cert)
}

/// Verifies an ECDSA P-256 / SHA-256 signature (ASN.1 DER, as `openssl dgst -sha256 -sign`
/// makes) over `msg` with the public key of the certificate `cert` (DER). Only P-256 is
/// accepted: the bundle's signer is always a P-256 key, whatever the bundle's key type.
pub fn verify_data(cert: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), InspectError> {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    let (_, c) = X509Certificate::from_der(cert).map_err(|e| InspectError::Der(e.to_string()))?;
    let spki = c.public_key();
    let p256 = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|o| o == x509_parser::oid_registry::OID_EC_P256);
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY || !p256 {
        return Err(InspectError::Der(
            "the signer's key is not ECDSA P-256".into(),
        ));
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &spki.subject_public_key.data[..])
        .verify(msg, sig)
        .map_err(|_| InspectError::BadSignature)
}

/// The DER SubjectPublicKeyInfo of a PEM private key, to compare with a certificate's.
pub fn key_spki(key_pem: &str) -> Result<Vec<u8>, String> {
    use rcgen::PublicKeyData;
    let k = rcgen::KeyPair::from_pem(key_pem).map_err(|e| e.to_string())?;
    Ok(k.subject_public_key_info())
}

/// `key_spki` for a key expected to be of the type `key_algorithm` names (as in
/// `CertInfo::key_algorithm`): parsed as that type first, instead of trying each type in turn
/// (rcgen tries Ed25519 first, and aws-lc fully parses and checks a P-256 key before
/// rejecting it as not Ed25519: a sixth of `check` on a large bundle). A key of another type
/// is still read, so that the caller reports a mismatch, not an unreadable key.
pub fn key_spki_as(key_pem: &str, key_algorithm: &str) -> Result<Vec<u8>, String> {
    use rcgen::PublicKeyData;
    let alg: &'static rcgen::SignatureAlgorithm = match key_algorithm {
        "ecdsa-p256" => &rcgen::PKCS_ECDSA_P256_SHA256,
        "ecdsa-p384" => &rcgen::PKCS_ECDSA_P384_SHA384,
        "ed25519" => &rcgen::PKCS_ED25519,
        a if a.starts_with("rsa-") => &rcgen::PKCS_RSA_SHA256,
        _ => return key_spki(key_pem),
    };
    match rcgen::KeyPair::from_pem_and_sign_algo(key_pem, alg) {
        Ok(k) => Ok(k.subject_public_key_info()),
        Err(_) => key_spki(key_pem),
    }
}
