//! Every certificate of a generated bundle, read back with x509-parser: signatures verified
//! against the issuer, extensions, SANs, EKUs, validity, serials, key/certificate pairing,
//! passwords and their ACL hashes. For every key type.

use provision::core::bundle::{self, Files};
use provision::core::inspect::{self, CertInfo};
use provision::core::password::sha256_hex;
use provision::core::pki::KeyType;
use provision::core::spec::Spec;
use time::OffsetDateTime;

fn gen(spec: &Spec) -> (Files, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    let f = bundle::generate(spec, &bundle::Gen::new("/srv/secrets", "g1", now)).expect("generate");
    (f, now)
}

fn cert(files: &Files, name: &str) -> CertInfo {
    let ders = inspect::pem_certificates(files.get(name).unwrap().data.expose()).unwrap();
    assert_eq!(ders.len(), 1, "{name} holds one certificate");
    inspect::inspect(&ders[0]).unwrap()
}

/// RFC 7093 section 2 method 1: the leftmost 160 bits of SHA-256 over the subjectPublicKey
/// BIT STRING's value, computed here independently of provision (from the certificate).
fn rfc7093_method1(c: &CertInfo) -> String {
    let (_, x) = x509_parser::parse_x509_certificate(&c.der).unwrap();
    sha256_hex(&x.public_key().subject_public_key.data)[..40].to_string()
}

fn check_bundle(kt: KeyType) {
    let spec = Spec {
        key_type: kt,
        ..Spec::default()
    };
    let (files, now) = gen(&spec);
    let ca = cert(&files, "ca.crt");
    assert_eq!(ca.version, 3);
    assert!(ca.is_ca && ca.path_len == Some(0), "CA:TRUE pathlen 0");
    assert!(ca.key_cert_sign && ca.crl_sign);
    assert!(ca.subject_key_id.is_some(), "CA has SKI");
    assert_eq!(
        ca.subject_key_id.as_deref(),
        Some(rfc7093_method1(&ca).as_str()),
        "CA SKI is RFC 7093 method 1"
    );
    assert_eq!(ca.subject, ca.issuer);
    inspect::verify_signed_by(&ca.der, &ca.der).expect("CA self-signature");
    assert_eq!(ca.serial.len(), 32, "128-bit serial: {}", ca.serial);
    assert!(
        u8::from_str_radix(&ca.serial[..2], 16).unwrap() < 0x80,
        "positive serial"
    );
    let ca_life = (ca.not_after - now).whole_days();
    assert!((3649..=3650).contains(&ca_life), "CA lifetime {ca_life}d");
    assert!(ca.not_before < now && now - ca.not_before <= time::Duration::minutes(6));
    assert_eq!(ca.key_algorithm, kt.name(), "key type");

    let srv = cert(&files, "redis.crt");
    assert_eq!(srv.version, 3);
    assert!(!srv.is_ca);
    assert!(
        srv.server_auth && srv.client_auth,
        "server cert needs serverAuth and clientAuth"
    );
    assert_eq!(srv.sans, vec!["redis", "localhost", "127.0.0.1", "::1"]);
    assert_eq!(srv.common_name, "redis");
    assert_eq!(srv.authority_key_id, ca.subject_key_id, "AKI = CA SKI");
    assert_eq!(srv.subject_key_id, Some(rfc7093_method1(&srv)));
    assert_eq!(srv.issuer, ca.subject);
    inspect::verify_signed_by(&srv.der, &ca.der).expect("server signed by CA");
    assert!(srv.not_after <= ca.not_after);
    assert!((364..=365).contains(&(srv.not_after - now).whole_days()));
    assert_ne!(srv.serial, ca.serial);

    let mut serials = vec![ca.serial.clone(), srv.serial.clone()];
    let mut passwords = Vec::new();
    for u in ["admin", "app", "monitor"] {
        let c = cert(&files, &format!("{u}.crt"));
        assert_eq!(c.common_name, u);
        assert!(c.client_auth && !c.server_auth, "{u}: clientAuth only");
        assert!(!c.is_ca);
        assert_eq!(
            c.sans,
            vec![format!("URI:spiffe://redis.internal/redis/user/{u}")],
            "{u}: the URI SAN names the user"
        );
        assert_eq!(c.subject_key_id, Some(rfc7093_method1(&c)));
        assert_eq!(c.authority_key_id, ca.subject_key_id, "{u}: AKI = CA SKI");
        inspect::verify_signed_by(&c.der, &ca.der).expect("client signed by CA");
        let key = files.text(&format!("{u}.key")).unwrap();
        assert_eq!(
            inspect::key_spki(key).unwrap(),
            c.spki_der,
            "{u}.key matches {u}.crt"
        );
        serials.push(c.serial.clone());
        let pw = files.get(&format!("{u}.password")).unwrap();
        assert_eq!(pw.mode, 0o600);
        assert_eq!(pw.data.expose().len(), 43);
        assert!(pw.data.expose().iter().all(|b| b.is_ascii_alphanumeric()));
        let acl = files.text("users.acl").unwrap();
        assert!(
            acl.contains(&format!("user {u} on #{} ", sha256_hex(pw.data.expose()))),
            "users.acl holds {u}'s hash"
        );
        passwords.push(pw.data.expose().to_vec());
    }
    assert_eq!(
        inspect::key_spki(files.text("redis.key").unwrap()).unwrap(),
        srv.spki_der
    );
    assert_eq!(
        inspect::key_spki(files.text("ca.key").unwrap()).unwrap(),
        ca.spki_der
    );
    // The signer: issued by the CA for code signing only (no TLS use), always P-256.
    let signer = cert(&files, "signer.crt");
    inspect::verify_signed_by(&signer.der, &ca.der).expect("signer signed by CA");
    assert!(!signer.client_auth && !signer.server_auth && !signer.is_ca);
    assert_eq!(signer.key_algorithm, "ecdsa-p256");
    assert_eq!(signer.subject_key_id, Some(rfc7093_method1(&signer)));
    assert_eq!(
        signer.authority_key_id, ca.subject_key_id,
        "signer AKI = CA SKI"
    );
    assert_eq!(
        signer.not_after, ca.not_after,
        "the signer lives as long as the CA"
    );
    assert_eq!(
        inspect::key_spki(files.text("signer.key").unwrap()).unwrap(),
        signer.spki_der
    );
    serials.push(signer.serial.clone());
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 6, "serials are unique");
    passwords.sort();
    passwords.dedup();
    assert_eq!(passwords.len(), 3, "passwords are distinct");
    // Modes by role.
    for f in &files.0 {
        let want =
            if f.name.ends_with(".crt") || f.name == "manifest.json" || f.name == "manifest.sig" {
                0o644
            } else {
                0o600
            };
        assert_eq!(f.mode, want, "{}", f.name);
    }
}

#[test]
fn ecdsa_p256_bundle_round_trips() {
    check_bundle(KeyType::EcdsaP256);
}
#[test]
fn ecdsa_p384_bundle_round_trips() {
    check_bundle(KeyType::EcdsaP384);
}
#[test]
fn ed25519_bundle_round_trips() {
    check_bundle(KeyType::Ed25519);
}
#[test]
fn rsa_2048_bundle_round_trips() {
    check_bundle(KeyType::Rsa2048);
}
#[test]
fn rsa_3072_bundle_round_trips() {
    check_bundle(KeyType::Rsa3072);
}
#[test]
fn rsa_4096_bundle_round_trips() {
    check_bundle(KeyType::Rsa4096);
}

#[test]
fn a_foreign_ca_does_not_verify() {
    let (a, _) = gen(&Spec::default());
    let (b, _) = gen(&Spec::default());
    let leaf = cert(&a, "redis.crt");
    let other_ca = cert(&b, "ca.crt");
    assert!(inspect::verify_signed_by(&leaf.der, &other_ca.der).is_err());
    assert_ne!(
        cert(&a, "ca.crt").subject,
        other_ca.subject,
        "CA names are unique"
    );
}

#[test]
fn leaf_validity_is_clamped_to_the_ca() {
    let spec = Spec {
        ca_validity: "30d".parse().unwrap(),
        cert_validity: "30d".parse().unwrap(),
        ..Spec::default()
    };
    let (files, _) = gen(&spec);
    assert!(cert(&files, "redis.crt").not_after <= cert(&files, "ca.crt").not_after);
    let bad = Spec {
        cert_validity: "31d".parse().unwrap(),
        ..spec
    };
    assert!(bad.validate().unwrap_err()[0].contains("longer than the CA"));
}

#[test]
fn hosts_become_dns_and_ip_sans() {
    let spec = Spec {
        hosts: vec!["10.0.0.5".into(), "redis.internal".into(), "fd00::1".into()],
        ..Spec::default()
    };
    let (files, _) = gen(&spec);
    let srv = cert(&files, "redis.crt");
    assert_eq!(srv.sans, vec!["10.0.0.5", "redis.internal", "fd00::1"]);
    assert_eq!(
        srv.common_name, "redis.internal",
        "CN is the first DNS name"
    );
}

#[test]
fn manifest_lists_every_file_and_no_secret() {
    let (files, _) = gen(&Spec::default());
    let m: bundle::Manifest = serde_json::from_str(files.text("manifest.json").unwrap()).unwrap();
    // Every file but manifest.json and manifest.sig (the signature over it).
    assert_eq!(m.files.len(), files.0.len() - 2);
    assert!(m
        .files
        .iter()
        .all(|r| r.sha256.is_some() != r.secret_digest.is_some()));
    assert_eq!(m.certificates.len(), 6, "CA, server, 3 clients, signer");
    let text = files.text("manifest.json").unwrap();
    for f in &files.0 {
        if f.mode == 0o600 {
            for line in f
                .data
                .expose_str()
                .lines()
                .filter(|l| l.len() > 20 && !l.starts_with("-----"))
            {
                assert!(!text.contains(line), "manifest leaks a line of {}", f.name);
            }
        }
        let digest_listed = text.contains(&sha256_hex(f.data.expose()));
        if f.mode == 0o600 {
            assert!(
                !digest_listed,
                "manifest lists the digest of secret {}",
                f.name
            );
        } else if f.name != "manifest.json" && f.name != "manifest.sig" {
            assert!(digest_listed, "manifest lacks the digest of {}", f.name);
        }
    }
}
