//! The generated chain checked by OpenSSL itself (`openssl verify -x509_strict`), not by our
//! own parser: server and client purposes, and the negative cases that prove the check bites.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str], cwd: &Path) -> (bool, String) {
    require("openssl");
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

fn verify(dir: &Path, purpose: &str, file: &str) -> (bool, String) {
    openssl(
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            "ca.crt",
            file,
        ],
        dir,
    )
}

fn check(key_type: &str) {
    let bundle = Bundle::init(&["--key-type", key_type]);
    let dir = bundle.dir.as_path();
    let (ok, out) = verify(dir, "sslserver", "redis.crt");
    assert!(
        ok && out.contains("redis.crt: OK"),
        "{key_type} server: {out}"
    );
    for f in ["redis.crt", "admin.crt", "app.crt", "monitor.crt"] {
        let (ok, out) = verify(dir, "sslclient", f);
        assert!(
            ok && out.contains(": OK"),
            "{key_type} {f} as client: {out}"
        );
    }
    // A client certificate must not pass as a server certificate.
    let (ok, out) = verify(dir, "sslserver", "app.crt");
    assert!(
        !ok,
        "{key_type}: app.crt accepted as a server certificate: {out}"
    );

    let (_, text) = openssl(&["x509", "-in", "redis.crt", "-noout", "-text"], dir);
    for want in [
        "Version: 3 (0x2)",
        "DNS:redis, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Authority Key Identifier",
        "CA:FALSE",
    ] {
        assert!(
            text.contains(want),
            "{key_type} redis.crt lacks {want:?}:\n{text}"
        );
    }
    let (_, text) = openssl(&["x509", "-in", "ca.crt", "-noout", "-text"], dir);
    for want in [
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(
            text.contains(want),
            "{key_type} ca.crt lacks {want:?}:\n{text}"
        );
    }
    // Each key matches its certificate, as OpenSSL sees them.
    for stem in ["ca", "redis", "app"] {
        let (_, a) = openssl(&["pkey", "-in", &format!("{stem}.key"), "-pubout"], dir);
        let (_, b) = openssl(
            &["x509", "-in", &format!("{stem}.crt"), "-pubkey", "-noout"],
            dir,
        );
        assert!(
            a.contains("BEGIN PUBLIC KEY") && a == b,
            "{key_type} {stem}.key does not match {stem}.crt"
        );
    }
}

#[test]
fn openssl_verifies_ecdsa_p256_chain() {
    check("ecdsa-p256");
}
#[test]
fn openssl_verifies_ecdsa_p384_chain() {
    check("ecdsa-p384");
}
#[test]
fn openssl_verifies_ed25519_chain() {
    check("ed25519");
}
#[test]
fn openssl_verifies_rsa_2048_chain() {
    check("rsa-2048");
}

#[test]
fn openssl_rejects_a_leaf_from_another_ca() {
    let t = tempdir();
    let a = t.path().join("a");
    let b = t.path().join("b");
    run(&["init", "--dir", a.to_str().unwrap(), "--quiet"]).success();
    run(&["init", "--dir", b.to_str().unwrap(), "--quiet"]).success();
    let (ok, out) = openssl(
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            a.join("ca.crt").to_str().unwrap(),
            b.join("redis.crt").to_str().unwrap(),
        ],
        t.path(),
    );
    assert!(!ok, "foreign leaf verified: {out}");
}
