//! Every certificate of every bundle, for every key type and topology, checked by tools
//! written by others (issue 20):
//!
//! - PyPI `pkilint` (DigiCert's RFC 5280 linter): `lint_pkix_cert` on each certificate and
//!   `lint_pkix_signer_signee_cert_chain` on each (CA, certificate) pair. Any finding at NOTICE
//!   or above fails, except the two narrow allow-list entries of [`allowed`];
//! - Python `cryptography`'s X.509 path validation (`x509.verification`): every client
//!   certificate as a client, every server certificate as a server for each of its SANs.
//!
//! The tools come from the virtual environment whose python `PROVISION_PKILINT_PYTHON` names
//! (scripts/test.sh makes it, pinned); without it the tests fail, they never skip.

use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every `init --key-type` value; `key_types_are_all_covered` keeps it in step with the CLI.
const KEY_TYPES: &[&str] = &[
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];

/// The venv's bin directory (with `python`, `lint_pkix_cert`, ...), from
/// `PROVISION_PKILINT_PYTHON`. Panics when it is missing: a skipped lint proves nothing.
fn venv_bin() -> PathBuf {
    let python = std::env::var_os("PROVISION_PKILINT_PYTHON").unwrap_or_else(|| {
        panic!(
            "PROVISION_PKILINT_PYTHON is not set: it must name the python of a venv with \
             pkilint==0.13.3 (and its dependency cryptography); run scripts/test.sh, which \
             makes one in ~/.cache/provision/pkilint-venv-0.13.3"
        )
    });
    let python = PathBuf::from(python);
    assert!(
        python.is_file(),
        "PROVISION_PKILINT_PYTHON={} is not a file; run scripts/test.sh",
        python.display()
    );
    let bin = python
        .parent()
        .expect("python has a directory")
        .to_path_buf();
    for tool in ["lint_pkix_cert", "lint_pkix_signer_signee_cert_chain"] {
        assert!(
            bin.join(tool).is_file(),
            "{} has no {tool}: pip install pkilint==0.13.3 into that venv (scripts/test.sh does)",
            bin.display()
        );
    }
    bin
}

/// What a certificate of the bundle is for, which decides the checks and the allow-list.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Ca,
    /// `signer.crt`: signs the manifest (codeSigning), never used for TLS.
    Signer,
    /// A Redis node or Sentinel: serverAuth + clientAuth, DNS and IP SANs.
    Server,
    /// An ACL user: clientAuth, one URI SAN.
    Client,
}

/// Makes the bundle of `topology` with `key_type` in `root/secrets` and returns its
/// directory and the certificates it must hold (file stem, kind).
fn bundle(root: &Path, topology: &str, key_type: &str) -> (PathBuf, Vec<(String, Kind)>) {
    let dir = root.join("secrets");
    let cfg = root.join("provision.toml");
    let d = dir.to_str().unwrap();
    let mut args = vec!["init", "--dir", d, "--key-type", key_type, "--quiet"];
    let (nodes, sentinels, users): (Vec<String>, u16, &[&str]) = match topology {
        "standalone" => (vec!["redis".into()], 0, &["admin", "app", "monitor"]),
        "replication" => {
            args.extend([
                "--topology",
                "replication",
                "--nodes",
                "3",
                "--host",
                "127.0.0.1",
                "--host",
                "localhost",
                "--port",
                "7000",
            ]);
            (
                (1..=3).map(|i| format!("redis-{i}")).collect(),
                0,
                &["admin", "app", "monitor", "replication"],
            )
        }
        "sentinel" => {
            std::fs::write(
                &cfg,
                sentinel_config(7000, 27000, "\"127.0.0.1\", \"localhost\""),
            )
            .unwrap();
            args.extend(["--config", cfg.to_str().unwrap()]);
            (
                (1..=3).map(|i| format!("redis-{i}")).collect(),
                3,
                &["admin", "app", "monitor", "replication", "sentinel"],
            )
        }
        "cluster" => {
            args.extend([
                "--topology",
                "cluster",
                "--nodes",
                "6",
                "--host",
                "127.0.0.1",
                "--port",
                "7000",
            ]);
            (
                (1..=6).map(|i| format!("redis-{i}")).collect(),
                0,
                &["admin", "app", "monitor", "replication"],
            )
        }
        other => panic!("unknown topology {other}"),
    };
    run(&args).success();
    let mut want = vec![
        ("ca".to_string(), Kind::Ca),
        ("signer".into(), Kind::Signer),
    ];
    want.extend(nodes.into_iter().map(|n| (n, Kind::Server)));
    want.extend((1..=sentinels).map(|i| (format!("sentinel-{i}"), Kind::Server)));
    want.extend(users.iter().map(|u| (u.to_string(), Kind::Client)));
    // Every certificate the bundle holds is checked: none left out, none missing.
    let mut have: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".crt").map(str::to_string))
        .collect();
    have.sort();
    let mut names: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(have, names, "the {topology} bundle's certificates");
    (dir, want)
}

/// One row of pkilint's CSV report.
#[derive(Debug, Clone)]
struct Finding {
    node_path: String,
    validator: String,
    severity: String,
    code: String,
    message: String,
}

/// RFC 4180 records (quoted fields, `""` escapes, CRLF or LF line ends).
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field in CSV:\n{s}");
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].is_empty()));
    rows
}

/// pkilint's two console scripts, called in one Python process for many runs (starting
/// Python and importing pkilint costs about 0.4 s per process): each run gets the same
/// arguments as on the command line, and its stdout, stderr and exit status come back as one
/// JSON line.
const DRIVER: &str = r#"
import contextlib, io, json, sys
from pkilint.bin.lint_pkix_cert import main as cert
from pkilint.bin.lint_pkix_signer_signee_cert_chain import main as chain
for tool, files in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = {"lint_pkix_cert": cert, "lint_pkix_signer_signee_cert_chain": chain}[tool](
            ["lint", "-s", "NOTICE", "-f", "CSV", *files])
    print(json.dumps({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}))
"#;

/// Runs `lint -s NOTICE -f CSV FILES...` of each (tool, files) job and returns each job's
/// findings. Fails unless each ran and reported: the CSV header, one row per finding, and the
/// exit status pkilint documents (the number of findings at the threshold, at most 255).
fn lint_all(bin: &Path, jobs: &[(&str, Vec<&Path>)]) -> Vec<Vec<Finding>> {
    let list: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(tool, files)| serde_json::json!([tool, files]))
        .collect();
    let mut child = Command::new(bin.join("python"))
        .args(["-c", DRIVER])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run pkilint: {e}"));
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        serde_json::Value::Array(list).to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pkilint driver failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), jobs.len(), "one result per run: {text}");
    jobs.iter()
        .zip(results)
        .map(|((tool, files), r)| {
            findings_of(
                tool,
                files,
                r["rc"].as_i64().unwrap(),
                r["stdout"].as_str().unwrap(),
                r["stderr"].as_str().unwrap(),
            )
        })
        .collect()
}

fn lint(bin: &Path, tool: &str, files: &[&Path]) -> Vec<Finding> {
    lint_all(bin, &[(tool, files.to_vec())]).remove(0)
}

fn findings_of(tool: &str, files: &[&Path], rc: i64, stdout: &str, stderr: &str) -> Vec<Finding> {
    let what = format!("{tool} {files:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stderr.trim().is_empty(), "{tool} wrote to stderr: {what}");
    let mut rows = parse_csv(stdout).into_iter();
    assert_eq!(
        rows.next().unwrap_or_default(),
        ["node_path", "validator", "severity", "code", "message"],
        "no CSV report from {what}"
    );
    let findings: Vec<Finding> = rows
        .map(|r| {
            let [node_path, validator, severity, code, message]: [String; 5] = r
                .try_into()
                .unwrap_or_else(|r| panic!("CSV row {r:?} is not 5 fields: {what}"));
            Finding {
                node_path,
                validator,
                severity,
                code,
                message,
            }
        })
        .collect();
    assert_eq!(
        rc,
        findings.len().min(255) as i64,
        "{tool}'s exit status is not its finding count: {what}"
    );
    for f in &findings {
        assert!(
            ["NOTICE", "WARNING", "ERROR", "FATAL"].contains(&f.severity.as_str()),
            "severity below the NOTICE threshold reported: {f:?}\n{what}"
        );
    }
    findings
}

/// A certificate's SAN entries, in order, and the index of the SAN among its extensions
/// (pkilint names a finding by that path: `extensions.E.extnValue.subjectAltName.I.<type>`).
enum San {
    Dns(String),
    Uri(String),
    Ip,
    Other,
}

fn sans(pem_file: &Path) -> (usize, Vec<San>) {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let pem = std::fs::read(pem_file).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = p.parse_x509().unwrap();
    let exts = cert.tbs_certificate.extensions();
    let (index, san) = exts
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => Some((i, s)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{} has no subjectAltName", pem_file.display()));
    let list = san
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(n) => San::Dns(n.to_string()),
            GeneralName::URI(u) => San::Uri(u.to_string()),
            GeneralName::IPAddress(_) => San::Ip,
            _ => San::Other,
        })
        .collect();
    (index, list)
}

/// The allow-list, as narrow as it can be: a finding is allowed only if it is exactly one of
/// these two, pointing at exactly the SAN entry it is about.
///
/// 1. `pkix.invalid_domain_name_syntax` on a server certificate's dNSName that is a single
///    RFC 1123 label (`redis`, `localhost`, `redis-1`, `sentinel-2`): pkilint checks DNS
///    names with `validators.domain`, which wants at least two labels. RFC 5280 section
///    4.2.1.6 only asks for the preferred name syntax, which a single label is, and Redis
///    deployments reach their nodes by such names (Docker/Compose service names, the
///    defaults `redis` and `localhost`). A dotted name that pkilint rejects is still a failure.
/// 2. `pkix.invalid_uri_syntax` on a client certificate whose one URI SAN is exactly
///    `spiffe://<trust-domain>/redis/user/<user>`: pkilint checks URIs with `validators.url`,
///    which only knows a fixed list of schemes (http, https, ftp, ...) and so rejects every
///    SPIFFE ID, a valid RFC 3986 URI (the SPIFFE ID standard). Any other URI is a failure.
///
/// The chain linter runs no syntax validators, so nothing is allowed there.
fn allowed(f: &Finding, file: &Path, kind: Kind, stem: &str, trust_domain: &str) -> bool {
    let Some((ext, entry, gn_type)) = f
        .node_path
        .strip_prefix("certificate.tbsCertificate.extensions.")
        .and_then(|p| p.split_once(".extnValue.subjectAltName."))
        .and_then(|(e, rest)| rest.split_once('.').map(|(i, t)| (e, i, t)))
    else {
        return false;
    };
    let (san_ext, list) = sans(file);
    if ext != san_ext.to_string() {
        return false;
    }
    let Some(san) = entry.parse::<usize>().ok().and_then(|i| list.get(i)) else {
        return false;
    };
    match (f.code.as_str(), kind, san) {
        ("pkix.invalid_domain_name_syntax", Kind::Server, San::Dns(name)) => {
            let single_label = !name.is_empty()
                && name.len() <= 63
                && !name.starts_with('-')
                && !name.ends_with('-')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            gn_type == "dNSName"
                && f.validator == "GeneralNameDnsNameSyntaxValidator"
                && f.message == format!("Invalid domain name syntax: \"{name}\"")
                && single_label
        }
        ("pkix.invalid_uri_syntax", Kind::Client, San::Uri(uri)) => {
            let uris = list.iter().filter(|s| matches!(s, San::Uri(_))).count();
            gn_type == "uniformResourceIdentifier"
                && f.validator == "GeneralNameUriSyntaxValidator"
                && f.message == format!("Invalid URI syntax: \"{uri}\"")
                && uris == 1
                && *uri == format!("spiffe://{trust_domain}/redis/user/{stem}")
        }
        _ => false,
    }
}

/// Python `cryptography` path validation. Arguments: the CA, then `client=PATH` or
/// `server=PATH` (certificate paths only; no key or password goes near it). Prints one line
/// per verification, which the caller counts. Ed25519 is outside cryptography's Web PKI
/// algorithm policy (RSA and ECDSA only, not configurable in 50.x): for it the policy
/// verifier must refuse with exactly that reason, and the signature, issuer and EKU are then
/// checked directly.
const VERIFY_PY: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

def load(p):
    with open(p, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())

ca = load(sys.argv[1])
builder = PolicyBuilder().store(Store([ca]))
for arg in sys.argv[2:]:
    role, path = arg.split("=", 1)
    cert = load(path)
    eku = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}[role]
    if role == "client":
        verifiers = [("-", builder.build_client_verifier())]
    else:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [DNSName(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [IPAddress(a) for a in san.get_values_for_type(x509.IPAddress)]
        assert names, f"{path}: no DNS or IP SAN"
        verifiers = [(str(n.value), builder.build_server_verifier(n)) for n in names]
    for name, verifier in verifiers:
        if isinstance(cert.public_key(), ed25519.Ed25519PublicKey):
            try:
                verifier.verify(cert, [])
                raise SystemExit(f"{path}: cryptography now verifies Ed25519; drop the special case")
            except VerificationError as e:
                if "Forbidden public key algorithm" not in str(e) or "Ed25519" not in str(e):
                    raise
            cert.verify_directly_issued_by(ca)
            assert eku in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value, path
            print("direct", role, path, name)
        else:
            verifier.verify(cert, [])
            print("verified", role, path, name)
"#;

fn verify_py(bin: &Path, ca: &Path, certs: &[(&str, PathBuf)]) -> std::process::Output {
    Command::new(bin.join("python"))
        .arg("-c")
        .arg(VERIFY_PY)
        .arg(ca)
        .args(
            certs
                .iter()
                .map(|(role, p)| format!("{role}={}", p.display())),
        )
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("run the venv's python")
}

/// Every check on the bundle of `topology` with `key_type`.
fn check(topology: &str, key_type: &str) {
    let bin = venv_bin();
    let t = tempdir();
    let (dir, certs) = bundle(t.path(), topology, key_type);
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir, "manifest.json")).unwrap();
    let trust_domain = manifest["spec"]["trust_domain"]
        .as_str()
        .expect("manifest spec.trust_domain");
    let ca = dir.join("ca.crt");
    let mut failures = vec![];
    let mut allowed_seen = vec![];
    let files: Vec<PathBuf> = certs
        .iter()
        .map(|(stem, _)| dir.join(format!("{stem}.crt")))
        .collect();
    let mut jobs: Vec<(&str, Vec<&Path>)> = vec![];
    for ((_, kind), file) in certs.iter().zip(&files) {
        jobs.push(("lint_pkix_cert", vec![file.as_path()]));
        if *kind != Kind::Ca {
            jobs.push((
                "lint_pkix_signer_signee_cert_chain",
                vec![ca.as_path(), file.as_path()],
            ));
        }
    }
    let mut results = lint_all(&bin, &jobs).into_iter();
    for ((stem, kind), file) in certs.iter().zip(&files) {
        for f in results.next().unwrap() {
            if allowed(&f, file, *kind, stem, trust_domain) {
                allowed_seen.push(format!("{stem}.crt: {} {}", f.code, f.message));
            } else {
                failures.push(format!("lint_pkix_cert {stem}.crt: {f:?}"));
            }
        }
        if *kind != Kind::Ca {
            for f in results.next().unwrap() {
                failures.push(format!(
                    "lint_pkix_signer_signee_cert_chain ca.crt {stem}.crt: {f:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{topology} bundle, {key_type}: pkilint findings at NOTICE or above outside the \
         allow-list:\n{}\n(allowed: {allowed_seen:#?})",
        failures.join("\n")
    );

    // Clients as clients; Redis nodes and Sentinels as servers for each SAN, and as clients
    // too (Redis presents the same certificate on replication and cluster-bus links).
    let mut roles: Vec<(&str, PathBuf)> = vec![];
    for (stem, kind) in &certs {
        let file = dir.join(format!("{stem}.crt"));
        match kind {
            Kind::Client => roles.push(("client", file)),
            Kind::Server => {
                roles.push(("server", file.clone()));
                roles.push(("client", file));
            }
            Kind::Ca | Kind::Signer => {}
        }
    }
    let out = verify_py(&bin, &ca, &roles);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{topology} bundle, {key_type}: cryptography rejects a certificate:\n{stdout}\n{stderr}"
    );
    // One line per verification: each client once, each server once per DNS or IP SAN.
    let how = if key_type == "ed25519" {
        "direct"
    } else {
        "verified"
    };
    let mut total = 0;
    for (role, file) in &roles {
        let prefix = format!("{how} {role} {} ", file.display());
        let n = stdout.lines().filter(|l| l.starts_with(&prefix)).count();
        let want = match *role {
            "client" => 1,
            _ => sans(file)
                .1
                .iter()
                .filter(|s| matches!(s, San::Dns(_) | San::Ip))
                .count(),
        };
        assert!(
            want > 0 && n == want,
            "{prefix}: {n} verifications, want {want}:\n{stdout}"
        );
        total += want;
    }
    assert_eq!(stdout.lines().count(), total, "{stdout}");
}

macro_rules! key_types {
    ($topology:ident) => {
        mod $topology {
            #[test]
            fn ecdsa_p256() {
                super::check(stringify!($topology), "ecdsa-p256");
            }
            #[test]
            fn ecdsa_p384() {
                super::check(stringify!($topology), "ecdsa-p384");
            }
            #[test]
            fn ed25519() {
                super::check(stringify!($topology), "ed25519");
            }
            #[test]
            fn rsa_2048() {
                super::check(stringify!($topology), "rsa-2048");
            }
            #[test]
            fn rsa_3072() {
                super::check(stringify!($topology), "rsa-3072");
            }
            #[test]
            fn rsa_4096() {
                super::check(stringify!($topology), "rsa-4096");
            }
        }
    };
}
key_types!(standalone);
key_types!(replication);
key_types!(sentinel);
key_types!(cluster);

/// The matrix above covers every key type the CLI offers.
#[test]
fn key_types_are_all_covered() {
    let help = run(&["init", "--help"]).success().stdout;
    let values = help
        .split("[possible values: ")
        .find(|s| s.starts_with("ecdsa") || s.starts_with("rsa") || s.starts_with("ed"))
        .and_then(|s| s.split_once(']'))
        .map(|(v, _)| v.split(", ").map(str::trim).collect::<Vec<_>>())
        .expect("init --help lists the key types");
    assert_eq!(values, KEY_TYPES);
}

/// The checks can fail: a foreign CA fails the chain lint and cryptography, the signer is
/// no client, and the allow-list refuses a dotted DNS name or another URI.
#[test]
fn the_checks_catch_what_they_are_for() {
    let bin = venv_bin();
    let ta = Bundle::init(&["--host", "redis.example.com", "--host", "localhost"]);
    let tb = Bundle::init(&[]);
    let (a, b) = (&ta.dir, &tb.dir);

    let codes = |fs: Vec<Finding>| fs.into_iter().map(|f| f.code).collect::<Vec<_>>();
    let chain = codes(lint(
        &bin,
        "lint_pkix_signer_signee_cert_chain",
        &[&b.join("ca.crt"), &a.join("app.crt")],
    ));
    assert!(
        chain.contains(&"pkix.signature_verification_failed".to_string()),
        "{chain:?}"
    );

    // The real findings on A, each allowed only where it is right.
    let redis = a.join("redis.crt");
    let fs = lint(&bin, "lint_pkix_cert", &[&redis]);
    assert_eq!(codes(fs.clone()), ["pkix.invalid_domain_name_syntax"]);
    assert!(fs[0].message.contains("\"localhost\""), "{fs:?}");
    assert!(allowed(
        &fs[0],
        &redis,
        Kind::Server,
        "redis",
        "redis.internal"
    ));
    assert!(!allowed(
        &fs[0],
        &redis,
        Kind::Client,
        "redis",
        "redis.internal"
    ));
    // The same finding moved onto the dotted name (SAN entry 0) is not allowed.
    let dotted = Finding {
        node_path: fs[0]
            .node_path
            .replace("subjectAltName.1.", "subjectAltName.0."),
        message: "Invalid domain name syntax: \"redis.example.com\"".into(),
        ..fs[0].clone()
    };
    assert!(!allowed(
        &dotted,
        &redis,
        Kind::Server,
        "redis",
        "redis.internal"
    ));

    let app = a.join("app.crt");
    let fs = lint(&bin, "lint_pkix_cert", &[&app]);
    assert_eq!(codes(fs.clone()), ["pkix.invalid_uri_syntax"]);
    assert!(allowed(&fs[0], &app, Kind::Client, "app", "redis.internal"));
    assert!(!allowed(
        &fs[0],
        &app,
        Kind::Client,
        "admin",
        "redis.internal"
    ));
    assert!(!allowed(
        &fs[0],
        &app,
        Kind::Client,
        "app",
        "other.internal"
    ));
    assert!(!allowed(
        &fs[0],
        &app,
        Kind::Server,
        "app",
        "redis.internal"
    ));

    let out = verify_py(&bin, &b.join("ca.crt"), &[("client", a.join("app.crt"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VerificationError"));
    let out = verify_py(&bin, &b.join("ca.crt"), &[("server", a.join("redis.crt"))]);
    assert!(!out.status.success());
    let out = verify_py(&bin, &a.join("ca.crt"), &[("client", a.join("signer.crt"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("required EKU not found"),
        "{err}"
    );
}
