//! The client matrix (issue 20): the client libraries applications use connect to live
//! bundles on loopback as the least-privileged users, with CA, hostname and client-certificate
//! verification on, do what the user is for and are refused what it is not for. Each client ×
//! topology is one test. Client scripts live in tests/clients/; they get the bundle directory
//! and read the password file themselves (no password in argv or env).
//!
//! scripts/test.sh installs the clients and exports PROVISION_CLIENTS_PYTHON (a venv's
//! python with pinned `redis` and `valkey-glide-sync`). A missing client fails the test when
//! CI is set and otherwise also fails: it is never a silent pass.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn python() -> PathBuf {
    match std::env::var_os("PROVISION_CLIENTS_PYTHON") {
        Some(p) if Path::new(&p).exists() => PathBuf::from(p),
        _ => panic!(
            "PROVISION_CLIENTS_PYTHON is not set to an existing python (CI={}); run \
             scripts/test.sh, which builds the clients venv with pinned redis and \
             valkey-glide-sync",
            std::env::var("CI").unwrap_or_default()
        ),
    }
}

/// Runs a client script; it must print `ALL OK`.
fn client(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(python())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("ALL OK"),
        "{script} {args:?} failed:\n{text}"
    );
    text
}

fn init(dir: &Path, extra: &[&str], port: u16) {
    let mut args = vec![
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--quiet",
    ];
    let port = port.to_string();
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--port", &port]);
    run(&args).success();
}

#[test]
fn redis_py_standalone_as_app_and_monitor() {
    require("redis-server");
    let t = tempdir();
    let dir = t.path().join("secrets");
    let port = free_port();
    init(&dir, &[], port);
    let work = t.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let _r = Redis::start(&dir, port, &work);
    let p = port.to_string();
    let d = dir.to_str().unwrap();
    // --host 127.0.0.1 replaces the default SANs: `localhost` is a name not in the certificate.
    let out = client(
        "redis_py.py",
        &["standalone", "127.0.0.1", &p, d, "app", "localhost"],
    );
    assert!(out.contains("wrong hostname refused"), "{out}");
    client(
        "redis_py.py",
        &["standalone", "127.0.0.1", &p, d, "monitor"],
    );
}

#[test]
fn redis_py_cluster_as_app() {
    require("redis-server");
    require("redis-cli");
    let t = tempdir();
    let dir = t.path().join("secrets");
    let base = free_ports(3, true);
    init(&dir, &["--topology", "cluster", "--nodes", "3"], base);
    let nodes: Vec<Redis> = (0..3)
        .map(|i| {
            let name = format!("redis-{}", i + 1);
            let work = t.path().join(format!("work-{name}"));
            std::fs::create_dir_all(&work).unwrap();
            Redis::start_conf(&dir, &format!("{name}.conf"), base + i, &work)
        })
        .collect();
    let addrs: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    let out = Command::new("redis-cli")
        .env_clear()
        .env("REDISCLI_AUTH", read(&dir, "admin.password").trim())
        .args(["--tls", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg("--cert")
        .arg(dir.join("admin.crt"))
        .arg("--key")
        .arg(dir.join("admin.key"))
        .args(["--user", "admin", "--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("All 16384 slots covered"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !nodes.iter().all(|n| {
        n.cli_as("admin", &["CLUSTER", "INFO"])
            .contains("cluster_state:ok")
    }) {
        assert!(Instant::now() < deadline, "cluster_state never ok");
        std::thread::sleep(Duration::from_millis(50));
    }
    let p = base.to_string();
    let d = dir.to_str().unwrap();
    let out = client(
        "redis_py.py",
        &["cluster", "127.0.0.1", &p, d, "app", "localhost"],
    );
    assert!(out.contains("slots on 3 nodes"), "{out}");
    assert!(out.contains("wrong hostname refused"), "{out}");
    client("redis_py.py", &["cluster", "127.0.0.1", &p, d, "monitor"]);
}
