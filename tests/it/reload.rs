//! `provision reload --watch`: the sidecar that hot-reloads a node when the kubelet swaps its
//! mounted certificate Secret. The volume is laid out as the kubelet's atomic writer does
//! (`..VERSION/` directories, `..data` pointing at one, visible names linking into `..data`),
//! a real redis-server serves from it, and each update is one rename of `..data`. The new
//! certificates are made as cert-manager would make them: openssl signs the export's
//! Certificate spec with the bundle's CA.

use crate::certmanager::{export_cm, openssl_sign};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Writes version `version` of a kubelet-maintained volume at `mnt` and makes it current
/// with one rename of `..data`, as the kubelet does.
fn kubelet_publish(mnt: &Path, version: &str, files: &[(&str, Vec<u8>)]) {
    let v = mnt.join(version);
    std::fs::create_dir_all(&v).unwrap();
    for (name, data) in files {
        std::fs::write(v.join(name), data).unwrap();
    }
    let tmp = mnt.join("..data_tmp");
    std::os::unix::fs::symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, mnt.join("..data")).unwrap();
    for (name, _) in files {
        let link = mnt.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

fn sha_of_pem(path: &Path) -> (String, String) {
    let der = provision::core::inspect::pem_certificates(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0);
    let info = provision::core::inspect::inspect(&der).unwrap();
    (info.sha256_fingerprint, info.serial)
}

/// The admin's credentials laid out as its password Secret and cert-manager Secret are
/// mounted together (`password`, `tls.crt`, `tls.key`, and `ca.crt` when `with_ca`), copied
/// from bundle `dir` into `into`.
fn admin_credentials(dir: &Path, into: &Path, with_ca: bool) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let files = [
        ("admin.crt", "tls.crt"),
        ("admin.key", "tls.key"),
        ("admin.password", "password"),
        ("ca.crt", "ca.crt"),
    ];
    for (from, to) in &files[..if with_ca { 4 } else { 3 }] {
        std::fs::copy(dir.join(from), into.join(to)).unwrap();
    }
    into.to_path_buf()
}

/// `provision reload --watch WATCH --redis NODE --credentials CREDS --once`.
fn reload_once(watch: &Path, node: &str, creds: &Path) -> Run {
    run(&[
        "reload",
        "--watch",
        watch.to_str().unwrap(),
        "--redis",
        node,
        "--credentials",
        creds.to_str().unwrap(),
        "--once",
    ])
}

struct Watcher {
    child: Child,
    out: PathBuf,
}

impl Watcher {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    /// Waits until the watcher's output holds `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "watcher never printed {needle:?}:\n{}\nstderr:\n{}",
                self.output(),
                std::fs::read_to_string(self.out.with_extension("err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `node` presents the certificate with fingerprint `want`.
fn wait_presented(node: &str, creds: &provision::live::Creds, want: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = provision::live::presented_certificate(node, creds)
            .map(|d| provision::core::password::sha256_hex(&d))
            .unwrap_or_default();
        if now == want {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn reload_watch_serves_each_certificate_the_kubelet_swaps_in() {
    let port = free_port();
    let b = Bundle::empty();
    let mnt = b.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    run(&[
        "init",
        "--dir",
        b.d(),
        "-q",
        "--port",
        &port.to_string(),
        "--mount-dir",
        mnt.to_str().unwrap(),
    ])
    .success();
    let bundle_file = |n: &str| std::fs::read(b.dir.join(n)).unwrap();
    let config: Vec<(&str, Vec<u8>)> = ["ca.crt", "redis.conf", "users.acl", "renamed-commands"]
        .iter()
        .map(|n| (*n, bundle_file(n)))
        .collect();
    let with = |crt: Vec<u8>, key: Vec<u8>| {
        let mut v = config.clone();
        v.push(("redis.crt", crt));
        v.push(("redis.key", key));
        v
    };
    kubelet_publish(
        &mnt,
        "..2026_12_08_00_00_01.1",
        &with(bundle_file("redis.crt"), bundle_file("redis.key")),
    );
    let work = b.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut redis = Redis::start_conf(&mnt, "redis.conf", port, &work);
    let node = format!("127.0.0.1:{port}");

    // The admin's credentials, as its password and cert-manager Secrets would be mounted.
    let creds_dir = admin_credentials(&b.dir, &b.path("admin"), false);
    let reload = |extra: &[&str]| {
        let mut c = Command::new(bin());
        c.args([
            "reload",
            "--watch",
            mnt.to_str().unwrap(),
            "--redis",
            &node,
            "--credentials",
            creds_dir.to_str().unwrap(),
        ])
        .args(extra)
        .env_clear();
        c
    };
    let out = b.path("watch.out");
    let watcher = Watcher {
        child: reload(&["--interval", "1s"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        out,
    };
    let (_, first_serial) = sha_of_pem(&b.dir.join("redis.crt"));
    watcher.wait_for(&format!("reloaded, presents certificate {first_serial}"));

    // cert-manager renews: a certificate made to the export's spec, signed by the CA.
    let (_, docs) = export_cm(&b, &[]);
    let spec = &docs
        .iter()
        .find(|d| d["kind"] == "Certificate" && d["metadata"]["name"] == "redis-tls")
        .unwrap()["spec"];
    let signed = b.path("signed");
    std::fs::create_dir_all(&signed).unwrap();
    let sign = |name: &str| {
        openssl_sign(
            spec,
            &b.dir.join("ca.crt"),
            &b.dir.join("ca.key"),
            &signed,
            name,
        )
    };
    let (crt2, key2) = sign("renewed");
    let (want2, serial2) = sha_of_pem(&crt2);
    kubelet_publish(
        &mnt,
        "..2026_12_08_00_00_02.2",
        &with(std::fs::read(&crt2).unwrap(), std::fs::read(&key2).unwrap()),
    );
    let admin = creds_of(&b.dir, &b.dir, "admin", None);
    assert!(
        wait_presented(&node, &admin, &want2),
        "the node never presented the renewed certificate:\n{}",
        watcher.output()
    );
    watcher.wait_for(&format!("reloaded, presents certificate {serial2}"));
    // The least-privileged user connects with hostname verification; no restart happened.
    let mut app = client_as(&b.dir, &b.dir, port, "app", None).expect("app connects");
    assert_eq!(ping(&mut app), "PONG");
    assert!(
        redis.child.try_wait().unwrap().is_none(),
        "redis-server exited"
    );

    // A version whose key is not the certificate's is never pushed to the node.
    let (crt3, key3) = sign("next");
    kubelet_publish(
        &mnt,
        "..2026_12_08_00_00_03.3",
        &with(std::fs::read(&crt3).unwrap(), std::fs::read(&key2).unwrap()),
    );
    watcher.wait_for("not reloading yet: the key is not the key of certificate");
    let r = reload(&["--once", "--json"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    let ev: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(ev["ok"], false);
    assert_eq!(ev["version"], "..2026_12_08_00_00_03.3");
    assert!(
        provision::live::presented_certificate(&node, &admin)
            .map(|d| provision::core::password::sha256_hex(&d))
            .unwrap()
            == want2,
        "a mismatched pair reached the node"
    );
    // The next consistent version is served.
    kubelet_publish(
        &mnt,
        "..2026_12_08_00_00_04.4",
        &with(std::fs::read(&crt3).unwrap(), std::fs::read(&key3).unwrap()),
    );
    let (want3, _) = sha_of_pem(&crt3);
    assert!(
        wait_presented(&node, &admin, &want3),
        "the node never presented the third certificate:\n{}",
        watcher.output()
    );
    let r = reload(&["--once"]).output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{r:?}");
    // Nothing secret in what the watcher printed.
    let printed = format!(
        "{}{}",
        watcher.output(),
        std::fs::read_to_string(watcher.out.with_extension("err")).unwrap_or_default()
    );
    assert!(!printed.contains(read(&b.dir, "admin.password").trim()));
    assert!(!printed.contains(&renamed_in(&b.dir, "CONFIG")));
}

#[test]
fn reload_refuses_files_outside_the_watched_directory() {
    let (tmp, dir, port) = live_bundle(&[]);
    let _redis = Redis::start(&dir, port, tmp.path());
    let creds = admin_credentials(&dir, &tmp.path().join("admin"), true);
    let node = format!("127.0.0.1:{port}");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(
        dir.join("renamed-commands"),
        elsewhere.join("renamed-commands"),
    )
    .unwrap();
    reload_once(&elsewhere, &node, &creds)
        .code(2)
        .stderr_has("which is not in --watch");
    // The bundle directory itself is a plain directory: read directly, reloaded once.
    reload_once(&dir, &node, &creds)
        .success()
        .stdout_has("reloaded, presents certificate");
}

#[test]
fn reload_refuses_to_watch_a_sentinel_and_says_to_restart_it() {
    let base = free_ports(3, false);
    let sbase = free_ports(3, false);
    let b = Bundle::with_config(&sentinel_config(base, sbase, "\"127.0.0.1\""), &[]);
    let _primary = start_node(&b.dir, "redis-1", base, b.tmp.path());
    let _sentinel = start_sentinel(&b.dir, "sentinel-1", b.tmp.path());
    let node = format!("127.0.0.1:{sbase}");
    let admin = creds_of(&b.dir, &b.dir, "admin", None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while provision::live::presented_certificate(&node, &admin).is_err() {
        assert!(Instant::now() < deadline, "the Sentinel never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let creds = admin_credentials(&b.dir, &b.path("admin"), true);
    let r = reload_once(&b.dir, &node, &creds)
        .code(1)
        .stderr_has("is a Sentinel, which cannot reload TLS certificates")
        .stderr_has("restart a Sentinel's pod");
    // The error names CONFIG by its public name only.
    assert!(
        !r.stderr.contains(&renamed_in(&b.dir, "CONFIG")),
        "{}",
        r.stderr
    );
}
