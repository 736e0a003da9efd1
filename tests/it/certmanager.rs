//! `export --format cert-manager`: every object checked against the schema of its kind
//! (cert-manager's and trust-manager's own CRDs in tests/schemas, Kubernetes' for the
//! Secrets), and every Certificate spec proven to ask for certificates the bundle's chain
//! accepts: openssl signs a CSR made to the spec with the exported CA, and `openssl verify`
//! checks the result for its purpose and each of its names.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of the venv kubernetes-validate runs in (it has jsonschema and PyYAML).
pub fn k8s_python() -> PathBuf {
    let kv = kubernetes_validate();
    let kv = if kv.is_absolute() {
        kv
    } else {
        let out = Command::new("sh")
            .args(["-c", "command -v kubernetes-validate"])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let py = kv.parent().unwrap().join("python3");
    assert!(py.exists(), "no python3 beside {}", kv.display());
    py
}

/// tests/schemas/validate.py on FILE: (success, report).
fn crd_validate(file: &Path) -> (bool, String) {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas");
    let out = Command::new(k8s_python())
        .arg(schemas.join("validate.py"))
        .arg(schemas.join("cert-manager"))
        .arg(file)
        .output()
        .expect("run validate.py");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Exports `b` as cert-manager objects into a 0600 file; returns the file and its documents.
pub fn export_cm(b: &Bundle, extra: &[&str]) -> (PathBuf, Vec<Value>) {
    let file = b.path("cert-manager.yaml");
    let mut args = vec![
        "export",
        "--dir",
        b.d(),
        "--format",
        "cert-manager",
        "--namespace",
        "cache",
        "--force",
        "-o",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
        .success()
        .stderr_has("holds the CA's private key");
    assert_eq!(mode_of(&file), 0o600);
    let docs = k8s_docs(&std::fs::read_to_string(&file).unwrap());
    (file, docs)
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The three bundles the tests export: standalone (ECDSA P-256), replication with Sentinels
/// (RSA 2048) and a 6-node cluster (Ed25519), all made for pods.
fn bundles() -> Vec<(&'static str, Bundle, usize)> {
    let pod = ["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"];
    let mk = |extra: &[&str]| {
        let mut a: Vec<&str> = pod.to_vec();
        a.extend_from_slice(extra);
        Bundle::init(&a)
    };
    vec![
        ("standalone", mk(&[]), 1),
        (
            "replication",
            mk(&[
                "--topology",
                "replication",
                "--nodes",
                "3",
                "--sentinels",
                "3",
                "--key-type",
                "rsa-2048",
            ]),
            6,
        ),
        (
            "cluster",
            mk(&[
                "--topology",
                "cluster",
                "--nodes",
                "6",
                "--key-type",
                "ed25519",
            ]),
            6,
        ),
    ]
}

#[test]
fn cert_manager_objects_validate_against_the_crds_and_kubernetes() {
    for (what, b, processes) in bundles() {
        let (file, docs) = export_cm(&b, &["--client-namespace", "apps"]);
        // Every custom resource against its CRD, strictly.
        let (ok, report) = crd_validate(&file);
        assert!(ok, "{what}: CRD validation failed:\n{report}");
        let manifest: Value = serde_json::from_str(&read(&b.dir, "manifest.json")).unwrap();
        let users = manifest["spec"]["users"].as_array().unwrap().len();
        assert_eq!(
            report.matches("ok cert-manager.io/v1 Certificate ").count(),
            processes + users,
            "{what}: {report}"
        );
        assert_eq!(report.matches("ok cert-manager.io/v1 Issuer ").count(), 1);
        assert_eq!(
            report
                .matches("ok trust.cert-manager.io/v1alpha1 Bundle ")
                .count(),
            1
        );
        // The Secrets against Kubernetes' own schema, strictly.
        let core: Vec<&Value> = docs.iter().filter(|d| d["apiVersion"] == "v1").collect();
        let core_file = b.path("core.yaml");
        let mut text = String::new();
        for d in &core {
            text.push_str("---\n");
            text.push_str(&serde_json::to_string_pretty(d).unwrap());
            text.push('\n');
        }
        std::fs::write(&core_file, text).unwrap();
        let (ok, report) = k8s_validate(&core_file);
        assert!(ok, "{what}: kubernetes-validate failed:\n{report}");
        assert_eq!(
            report.matches("passed for resource secret/").count(),
            core.len(),
            "{report}"
        );
        // Every object carries the export's labels and the generation.
        for d in &docs {
            let md = &d["metadata"];
            assert_eq!(md["labels"]["app.kubernetes.io/managed-by"], "provision");
            assert_eq!(md["labels"]["app.kubernetes.io/instance"], "redis");
            assert_eq!(
                md["annotations"]["provision/generation"], manifest["generation"],
                "{what}: {md}"
            );
        }
        // The configs are the bundle's bytes; the CA key only in the issuer's Secret.
        let config = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "redis-config")
            .unwrap();
        for (k, v) in config["data"].as_object().unwrap() {
            assert_eq!(
                b64decode(v.as_str().unwrap()),
                std::fs::read(b.dir.join(k)).unwrap(),
                "{what}: {k}"
            );
        }
        let ca_key = std::fs::read(b.dir.join("ca.key")).unwrap();
        let holders: Vec<&str> = docs
            .iter()
            .filter(|d| {
                d["data"]
                    .as_object()
                    .is_some_and(|m| m.values().any(|v| b64decode(v.as_str().unwrap()) == ca_key))
            })
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(holders, ["redis-ca-key"], "{what}");
        // Password Secrets hold the password files, and nothing else.
        for s in by_kind(&docs, "Secret") {
            let Some(user) = s["metadata"]["annotations"]["provision/user"].as_str() else {
                continue;
            };
            let data = s["data"].as_object().unwrap();
            assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
            assert_eq!(
                b64decode(data["password"].as_str().unwrap()),
                std::fs::read(b.dir.join(format!("{user}.password"))).unwrap()
            );
        }
    }
}

#[test]
fn the_crd_validator_refuses_what_cert_manager_would() {
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"]);
    let (file, _) = export_cm(&b, &[]);
    let text = std::fs::read_to_string(&file).unwrap();
    for (from, to, says) in [
        ("\"server auth\"", "\"server-auth\"", "is not one of"),
        (
            "\"secretName\"",
            "\"secretNam\"",
            "'secretName' is a required property",
        ),
        (
            "\"algorithm\": \"ECDSA\"",
            "\"algorithm\": \"EC\"",
            "is not one of",
        ),
        ("\"inLine\"", "\"inline\"", "exactly one of the fields"),
        (
            "\"renewBefore\"",
            "\"renewBeforeSeconds\"",
            "was unexpected",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = b.path("bad.yaml");
        std::fs::write(&bad, text.replacen(from, to, 1)).unwrap();
        let (ok, report) = crd_validate(&bad);
        assert!(!ok, "{from} -> {to} passed:\n{report}");
        assert!(report.contains(says), "{from} -> {to}:\n{report}");
    }
}

/// Signs a certificate the way cert-manager's CA issuer would for `spec`: a key of the
/// spec's algorithm and size, a CSR with its subject, and the spec's names, usages and
/// duration, signed by `ca_crt`/`ca_key` with openssl. Returns (certificate, key) files.
pub fn openssl_sign(
    spec: &Value,
    ca_crt: &Path,
    ca_key: &Path,
    work: &Path,
    name: &str,
) -> (PathBuf, PathBuf) {
    let sh = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = work.join(format!("{name}.key"));
    let csr = work.join(format!("{name}.csr"));
    let crt = work.join(format!("{name}.crt"));
    let ext = work.join(format!("{name}.ext"));
    let pk = &spec["privateKey"];
    let k = key.to_str().unwrap();
    match (pk["algorithm"].as_str().unwrap(), pk["size"].as_u64()) {
        ("ECDSA", Some(256)) => sh(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            k,
        ]),
        ("ECDSA", Some(384)) => sh(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            k,
        ]),
        ("RSA", Some(bits)) => sh(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            k,
        ]),
        ("Ed25519", None) => sh(&["genpkey", "-algorithm", "ED25519", "-out", k]),
        other => panic!("unexpected privateKey {other:?}"),
    }
    let org = strs(&spec["subject"]["organizations"]).join(",");
    let subj = format!("/O={org}/CN={}", spec["commonName"].as_str().unwrap());
    sh(&[
        "req",
        "-new",
        "-key",
        k,
        "-subj",
        &subj,
        "-out",
        csr.to_str().unwrap(),
    ]);
    let mut sans: Vec<String> = strs(&spec["dnsNames"])
        .iter()
        .map(|d| format!("DNS:{d}"))
        .collect();
    sans.extend(strs(&spec["ipAddresses"]).iter().map(|i| format!("IP:{i}")));
    sans.extend(strs(&spec["uris"]).iter().map(|u| format!("URI:{u}")));
    let usages = strs(&spec["usages"]);
    let ku: Vec<&str> = usages
        .iter()
        .filter_map(|u| match u.as_str() {
            "digital signature" => Some("digitalSignature"),
            "key encipherment" => Some("keyEncipherment"),
            _ => None,
        })
        .collect();
    let eku: Vec<&str> = usages
        .iter()
        .filter_map(|u| match u.as_str() {
            "server auth" => Some("serverAuth"),
            "client auth" => Some("clientAuth"),
            _ => None,
        })
        .collect();
    assert_eq!(
        ku.len() + eku.len(),
        usages.len(),
        "unmapped usage in {usages:?}"
    );
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,{}\nextendedKeyUsage={}\nsubjectAltName={}\n",
            ku.join(","),
            eku.join(","),
            sans.join(",")
        ),
    )
    .unwrap();
    let hours: u64 = spec["duration"]
        .as_str()
        .unwrap()
        .trim_end_matches('h')
        .parse()
        .unwrap();
    let days = hours.div_ceil(24).to_string();
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        ca_crt.to_str().unwrap(),
        "-CAkey",
        ca_key.to_str().unwrap(),
        "-set_serial",
        "0x5eed",
        "-days",
        &days,
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        crt.to_str().unwrap(),
    ];
    if pk["algorithm"] != "Ed25519" {
        args.push("-sha256");
    }
    sh(&args);
    (crt, key)
}

/// `openssl verify` of `crt` against `ca` for `purpose`, plus one name check: (ok, output).
fn verify(ca: &Path, crt: &Path, purpose: &str, name: Option<(&str, &str)>) -> (bool, String) {
    let mut c = Command::new("openssl");
    c.args([
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        "-purpose",
        purpose,
    ]);
    if let Some((flag, v)) = name {
        c.args([flag, v]);
    }
    let out = c.arg(crt).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains(": OK"), text)
}

#[test]
fn every_certificate_spec_signed_by_openssl_verifies_with_the_bundle_chain() {
    require("openssl");
    for (what, b, _) in bundles() {
        let (_, docs) = export_cm(&b, &[]);
        let work = b.path("signed");
        std::fs::create_dir_all(&work).unwrap();
        // The issuer's CA from its Secret; the trust bundle from the Bundle object.
        let ca_secret = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "redis-ca-key")
            .unwrap();
        let ca_crt = work.join("issuer.crt");
        let ca_key = work.join("issuer.key");
        std::fs::write(
            &ca_crt,
            b64decode(ca_secret["data"]["tls.crt"].as_str().unwrap()),
        )
        .unwrap();
        std::fs::write(
            &ca_key,
            b64decode(ca_secret["data"]["tls.key"].as_str().unwrap()),
        )
        .unwrap();
        let trust = work.join("trust.pem");
        let bundle_obj = by_kind(&docs, "Bundle")[0];
        std::fs::write(
            &trust,
            bundle_obj["spec"]["sources"][0]["inLine"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(&trust).unwrap(),
            std::fs::read(b.dir.join("ca.crt")).unwrap()
        );
        for (i, c) in by_kind(&docs, "Certificate").iter().enumerate() {
            let spec = &c["spec"];
            let (crt, _) = openssl_sign(spec, &ca_crt, &ca_key, &work, &format!("c{i}"));
            let usages = strs(&spec["usages"]);
            let server = usages.iter().any(|u| u == "server auth");
            let purposes: &[&str] = if server {
                &["sslserver", "sslclient"]
            } else {
                &["sslclient"]
            };
            for purpose in purposes {
                let (ok, out) = verify(&trust, &crt, purpose, None);
                assert!(ok, "{what} {}: {purpose}: {out}", c["metadata"]["name"]);
            }
            for d in strs(&spec["dnsNames"]) {
                let (ok, out) = verify(&trust, &crt, "sslserver", Some(("-verify_hostname", &d)));
                assert!(ok, "{what} {}: {d}: {out}", c["metadata"]["name"]);
            }
            for ip in strs(&spec["ipAddresses"]) {
                let (ok, out) = verify(&trust, &crt, "sslserver", Some(("-verify_ip", &ip)));
                assert!(ok, "{what} {}: {ip}: {out}", c["metadata"]["name"]);
            }
            // And the checks can fail: a client certificate is not a server's, and no
            // certificate holds a name its spec does not.
            let (ok, _) = verify(
                &trust,
                &crt,
                "sslserver",
                Some(("-verify_hostname", "evil.example")),
            );
            assert!(!ok, "{what}: evil.example verified");
            if !server {
                let (ok, _) = verify(&trust, &crt, "sslserver", None);
                assert!(!ok, "{what}: a client certificate verified as a server's");
            }
        }
    }
}

#[test]
fn cert_manager_export_refuses_bad_input_and_terminals() {
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"]);
    let out = b.path("x.yaml");
    let o = out.to_str().unwrap();
    for (extra, says) in [
        (vec![], "needs a namespace"),
        (vec!["--namespace", "Cache"], "not a DNS label"),
        (
            vec!["--namespace", "cache", "--client-namespace", "a_b"],
            "not a DNS label",
        ),
        (
            vec!["--namespace", "cache", "--cluster-domain", "cluster..local"],
            "cluster domain",
        ),
        (
            vec!["--namespace", "cache", "--recipient", "age1xyz"],
            "for age archives",
        ),
        (
            vec!["--namespace", "cache", "--identity", "/nonexistent"],
            "not protected",
        ),
    ] {
        let mut args = vec![
            "export",
            "--dir",
            b.d(),
            "--format",
            "cert-manager",
            "-o",
            o,
        ];
        args.extend(extra.iter().copied());
        run(&args).code(2).stderr_has(says);
        assert!(!out.exists(), "{extra:?} wrote the file");
    }
    // cert-manager's flags are refused by the other formats.
    run(&[
        "export",
        "--dir",
        b.d(),
        "--format",
        "k8s",
        "--cluster-issuer",
        "-o",
        o,
    ])
    .code(2)
    .stderr_has("--cluster-issuer is for --format cert-manager");
    run(&["backup", "--dir", b.d(), "--include-ca-key", "-o", o])
        .code(2)
        .stderr_has("--include-ca-key is for --format cert-manager");
    // -o - to a pipe: the objects, and the summary on stderr.
    let r = run(&[
        "export",
        "--dir",
        b.d(),
        "--format",
        "cert-manager",
        "--namespace",
        "cache",
        "-o",
        "-",
    ])
    .success();
    assert!(
        r.stdout
            .starts_with("# cert-manager and trust-manager objects"),
        "{}",
        &r.stdout[..80]
    );
    assert!(r.stderr.contains("Wrote 11 objects"), "{}", r.stderr);
    // A real terminal (script(1) gives the command a pty) never sees the objects.
    require("script");
    let cmd = format!(
        "{} export --dir {} --format cert-manager --namespace cache -o -",
        bin().display(),
        b.d()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert_eq!(tty.status.code(), Some(2), "{seen}");
    assert!(seen.contains("refusing to print private keys"), "{seen}");
    assert!(
        !seen.contains("PRIVATE KEY") && !seen.contains("\"data\""),
        "{seen}"
    );
    // The reload path fits the server: a sidecar for this one, none for Valkey 9.1.
    run(&[
        "export",
        "--dir",
        b.d(),
        "--format",
        "cert-manager",
        "--namespace",
        "cache",
        "-o",
        o,
        "--force",
    ])
    .success()
    .stdout_has("run `provision reload --watch` beside each Redis node");
    let v91 = Bundle::init(&[
        "--server",
        "valkey-9.1",
        "--mount-dir",
        "/etc/redis/tls",
        "--bind",
        "0.0.0.0",
    ]);
    let r = run(&[
        "--json",
        "export",
        "--dir",
        v91.d(),
        "--format",
        "cert-manager",
        "--namespace",
        "cache",
        "-o",
        o,
        "--force",
    ])
    .success();
    let j: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["reload"], "tls-auto-reload-interval", "{j}");
    assert!(read(&v91.dir, "redis.conf").contains("tls-auto-reload-interval"));
    // A ClusterIssuer's Secret lives in cert-manager's namespace.
    let (_, docs) = export_cm(
        &b,
        &["--cluster-issuer", "--cluster-resource-namespace", "cm"],
    );
    assert_eq!(docs[0]["metadata"]["namespace"], "cm");
    assert_eq!(docs[1]["kind"], "ClusterIssuer");
    assert!(docs[1]["metadata"].get("namespace").is_none());
}

#[test]
fn a_ca_rollover_publishes_both_cas_then_moves_the_issuer() {
    require("openssl");
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"]);
    let pems = |text: &str| {
        text.split_inclusive("-----END CERTIFICATE-----\n")
            .filter(|p| p.contains("BEGIN CERTIFICATE"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let issuer_and_trust = || {
        let (_, docs) = export_cm(&b, &[]);
        let ca = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "redis-ca-key")
            .unwrap();
        let issuer = String::from_utf8(b64decode(ca["data"]["tls.crt"].as_str().unwrap())).unwrap();
        let key = b64decode(ca["data"]["tls.key"].as_str().unwrap());
        let trust = by_kind(&docs, "Bundle")[0]["spec"]["sources"][0]["inLine"]
            .as_str()
            .unwrap()
            .to_string();
        let spec = by_kind(&docs, "Certificate")[0]["spec"].clone();
        (issuer, key, trust, spec)
    };
    let (first, first_key, trust, _) = issuer_and_trust();
    assert_eq!(pems(&trust), std::slice::from_ref(&first));

    // Step 1: the new CA is published to every namespace; the Issuer still signs with the old.
    run(&["renew", "--dir", b.d(), "--rollover-ca", "--overlap", "1s"]).success();
    let (issuer, key, trust, spec) = issuer_and_trust();
    assert_eq!(issuer, first);
    assert_eq!(key, first_key);
    assert_eq!(trust, read(&b.dir, "ca.crt"));
    assert_eq!(pems(&trust).len(), 2);
    assert_eq!(pems(&trust)[0], first);

    // Step 2: the Issuer moves to the new CA; both stay trusted, so a leaf of either verifies.
    wait_overlap(&b.dir);
    run(&["renew", "--dir", b.d(), "--rollover-ca", "--finish"]).success();
    let (issuer, key, trust, _) = issuer_and_trust();
    assert_ne!(issuer, first);
    assert_eq!(pems(&trust)[0], issuer);
    assert!(pems(&trust).contains(&first));
    let work = b.path("rollover");
    std::fs::create_dir_all(&work).unwrap();
    let trust_file = work.join("trust.pem");
    std::fs::write(&trust_file, &trust).unwrap();
    for (name, crt, k) in [("old", &first, &first_key), ("new", &issuer, &key)] {
        let (c, kf) = (
            work.join(format!("{name}-ca.crt")),
            work.join(format!("{name}-ca.key")),
        );
        std::fs::write(&c, crt).unwrap();
        std::fs::write(&kf, k).unwrap();
        let (leaf, _) = openssl_sign(&spec, &c, &kf, &work, name);
        let (ok, out) = verify(&trust_file, &leaf, "sslserver", None);
        assert!(ok, "a leaf of the {name} CA: {out}");
    }
}
