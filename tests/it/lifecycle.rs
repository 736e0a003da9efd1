//! `check`, `renew` and `rollback` through the binary, and live: hot reload on a running
//! redis-server keeps open connections, new handshakes see the new certificate, no restart.

use crate::common::*;
use std::path::Path;

fn init(dir: &Path, extra: &[&str]) {
    let mut a = vec!["init", "--dir", dir.to_str().unwrap(), "-q"];
    a.extend_from_slice(extra);
    run(&a).success();
}

fn check(dir: &Path, extra: &[&str]) -> Run {
    let mut a = vec!["check", "--dir", dir.to_str().unwrap()];
    a.extend_from_slice(extra);
    run(&a)
}

fn serial(dir: &Path, file: &str) -> String {
    let ders = provision::core::inspect::pem_certificates(&std::fs::read(dir.join(file)).unwrap())
        .unwrap();
    provision::core::inspect::inspect(&ders[0]).unwrap().serial
}

/// The serial the server on `port` presents, as openssl sees it (`serial=...`, lower case): an
/// independent view of the served certificate.
fn presented_serial(dir: &Path, port: u16) -> String {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("openssl s_client -connect 127.0.0.1:{port} -cert app.crt -key app.key -CAfile ca.crt </dev/null 2>/dev/null | openssl x509 -noout -serial"))
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_lowercase()
}

/// The server the bundle was made for, from its manifest.
fn target_of(dir: &Path) -> provision::core::server::Target {
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    serde_json::from_value(m["spec"]["server"].clone()).unwrap()
}

#[test]
fn check_fresh_is_ok_short_lived_warns_and_crit_threshold_applies() {
    let t = tempdir();
    let a = t.path().join("a");
    init(&a, &[]);
    let r = check(&a, &[]).code(0).stdout_has("OK");
    assert!(r.stdout.contains("redis.crt") && r.stdout.contains("ca.crt"));
    let j = check(&a, &["--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["status"], "OK");
    assert_eq!(v["certificates"].as_array().unwrap().len(), 5);

    let b = t.path().join("b");
    init(&b, &["--cert-validity", "1h"]);
    // One renewal rule: a fresh short-lived certificate is not due, so it is OK.
    check(&b, &[]).code(0);
    check(&b, &["--warn", "2h"])
        .code(1)
        .stdout_has("WARNING")
        .stdout_has("renewal is due");
    check(&b, &["--crit", "2h"]).code(2).stdout_has("CRITICAL");
    check(&b, &["--warn", "1m", "--crit", "1m"]).code(0);
}

/// `check` WARNING means exactly "`renew` would re-issue it now": a 1-hour, 24-hour, 7-day and
/// 1-year certificate are OK right after init and right after renew, `renew` finds nothing
/// due, and with the same `--within`/`--warn` both agree that it is due.
#[test]
fn check_and_renew_agree_for_every_lifetime() {
    let t = tempdir();
    for v in ["1h", "24h", "7d", "365d"] {
        let d = t.path().join(v);
        init(&d, &["--cert-validity", v]);
        check(&d, &[]).code(0).stdout_has("OK");
        let dd = d.to_str().unwrap();
        run(&["renew", "--dir", dd])
            .success()
            .stdout_has("Nothing to renew");
        run(&["renew", "--dir", dd, "--force", "-q"]).success();
        check(&d, &[]).code(0);
        run(&["renew", "--dir", dd])
            .success()
            .stdout_has("Nothing to renew");
        // A threshold longer than the lifetime: due for both.
        check(&d, &["--warn", "400d", "--crit", "1s"]).code(1);
        run(&["renew", "--dir", dd, "--within", "400d", "--dry-run"])
            .success()
            .stdout_has("Would renew");
    }
}

#[test]
fn check_names_each_defect() {
    let t = tempdir();
    let other = t.path().join("other");
    init(&other, &[]);
    type Break = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "0644 key",
            Box::new(|g: &Path| {
                std::fs::set_permissions(
                    g.join("app.key"),
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .unwrap()
            }),
            "app.key",
        ),
        (
            "missing file",
            Box::new(|g: &Path| std::fs::remove_file(g.join("monitor.crt")).unwrap()),
            "monitor.crt",
        ),
        (
            "swapped key",
            Box::new(|g: &Path| {
                std::fs::copy(g.join("app.key"), g.join("redis.key"))
                    .map(|_| ())
                    .unwrap()
            }),
            "redis.key",
        ),
        (
            "foreign CA",
            {
                let o = other.clone();
                Box::new(move |g: &Path| {
                    std::fs::copy(o.join("app.crt"), g.join("app.crt"))
                        .map(|_| ())
                        .unwrap()
                })
            },
            "app.crt",
        ),
        (
            "tampered hash",
            Box::new(|g: &Path| {
                let acl = std::fs::read_to_string(g.join("users.acl")).unwrap();
                let h = provision::core::password::sha256_hex(
                    &std::fs::read(g.join("app.password")).unwrap(),
                );
                std::fs::write(g.join("users.acl"), acl.replace(&h, &"0".repeat(64))).unwrap();
            }),
            "users.acl",
        ),
        (
            "truncated PEM",
            Box::new(|g: &Path| {
                let c = std::fs::read_to_string(g.join("ca.crt")).unwrap();
                std::fs::write(g.join("ca.crt"), &c[..c.len() / 2]).unwrap();
            }),
            "ca.crt",
        ),
    ];
    for (what, breakit, file) in cases {
        let d = t.path().join(what.replace(' ', "-"));
        init(&d, &[]);
        breakit(&d.join("..data"));
        let r = check(&d, &[]).code(2);
        assert!(
            r.stdout
                .lines()
                .any(|l| l.contains("CRITICAL") && l.contains(&format!("{file}:"))),
            "{what}: no CRITICAL line naming {file}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn check_unknown_for_missing_bundle_and_bad_usage() {
    let t = tempdir();
    check(&t.path().join("nope"), &[])
        .code(3)
        .stdout_has("UNKNOWN");
    check(t.path(), &[]).code(3).stdout_has("no bundle");
    run(&["check", "--format", "xml"]).code(3);
    let p = check(&t.path().join("nope"), &["--format", "prometheus"]).code(3);
    assert!(p.stdout.contains("provision_check_status{") && p.stdout.contains("} 3"));
}

#[test]
fn check_prometheus_output_passes_promtool() {
    require("promtool");
    let b = Bundle::init(&["--cert-validity", "1h"]);
    let d = b.dir.as_path();
    let r = check(d, &["--format", "prometheus", "--warn", "2h"]).code(1);
    assert!(r
        .stdout
        .contains("provision_certificate_expiry_timestamp_seconds{"));
    assert!(r.stdout.contains("provision_check_status{") && r.stdout.contains("} 1\n"));
    let f = b.path("m.prom");
    std::fs::write(&f, &r.stdout).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn renew_nothing_due_changes_nothing() {
    let b = Bundle::init(&[]);
    let d = b.dir.as_path();
    let before = snapshot(d);
    run(&["renew", "--dir", d.to_str().unwrap()])
        .success()
        .stdout_has("Nothing to renew");
    run(&[
        "renew",
        "--dir",
        d.to_str().unwrap(),
        "--dry-run",
        "--force",
    ])
    .success()
    .stdout_has("Would renew");
    assert_eq!(snapshot(d), before, "byte-identical");
}

#[test]
fn renew_reissues_due_leaves_from_the_same_ca_and_rollback_restores() {
    let b = Bundle::init(&["--cert-validity", "1h"]);
    let d = b.dir.as_path();
    let ca = std::fs::read(d.join("ca.crt")).unwrap();
    let ca_key = std::fs::read(d.join("ca.key")).unwrap();
    let old_crt = std::fs::read(d.join("redis.crt")).unwrap();
    let old = serial(d, "redis.crt");
    let j = run(&[
        "renew",
        "--dir",
        d.to_str().unwrap(),
        "--within",
        "2h",
        "--json",
    ])
    .success();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(
        v["renewed"].as_array().unwrap().len(),
        4,
        "server + 3 clients"
    );
    assert_ne!(serial(d, "redis.crt"), old);
    assert_eq!(std::fs::read(d.join("ca.crt")).unwrap(), ca, "CA untouched");
    assert_eq!(std::fs::read(d.join("ca.key")).unwrap(), ca_key);
    let o = std::process::Command::new("openssl")
        .args([
            "verify",
            "-x509_strict",
            "-CAfile",
            "ca.crt",
            "redis.crt",
            "app.crt",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    check(d, &["--crit", "1m", "--warn", "1m"]).code(0);
    assert!(read(d, "audit.log")
        .lines()
        .last()
        .unwrap()
        .contains("\"renew\""));
    run(&["rollback", "--dir", d.to_str().unwrap()]).success();
    assert_eq!(
        std::fs::read(d.join("redis.crt")).unwrap(),
        old_crt,
        "rollback restored the old certificate"
    );
    check(d, &["--crit", "1m", "--warn", "1m"]).code(0);
}

#[test]
fn a_held_lock_makes_renew_wait_then_fail_clearly() {
    let b = Bundle::init(&[]);
    let d = b.dir.as_path();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join(".lock"))
        .unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    run(&[
        "renew",
        "--dir",
        d.to_str().unwrap(),
        "--force",
        "--lock-timeout",
        "1s",
    ])
    .code(1)
    .stderr_has("another provision run");
    drop(f);
    run(&["renew", "--dir", d.to_str().unwrap(), "--force", "-q"]).success();
}

#[test]
fn live_renew_reload_keeps_connections_and_serves_the_new_certificate() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let mut before = app_client(&dir, &dir, port);
    assert_eq!(ping(&mut before), "PONG");
    let run_id = r.info_field("run_id");
    let old = serial(&dir, "redis.crt");
    let j = run(&[
        "renew",
        "--dir",
        dir.to_str().unwrap(),
        "--force",
        "--reload",
        "--json",
    ])
    .success();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let new = serial(&dir, "redis.crt");
    assert_ne!(old, new);
    assert_eq!(v["nodes"][0]["ok"], true, "{v}");
    assert_eq!(
        v["nodes"][0]["presented_serial"],
        new.as_str(),
        "fresh handshake sees the new serial"
    );
    assert_eq!(
        ping(&mut before),
        "PONG",
        "connection opened before the reload still works"
    );
    let mut after = app_client(&dir, &dir, port);
    assert_eq!(ping(&mut after), "PONG");
    assert_eq!(r.info_field("run_id"), run_id, "no restart");
    // Independent view of the presented certificate: openssl s_client.
    assert_eq!(presented_serial(&dir, port), format!("serial={new}"));
    // Nothing due now: --reload verifies and changes nothing.
    run(&["renew", "--dir", dir.to_str().unwrap(), "--reload"])
        .success()
        .stdout_has("Nothing to renew");
}

/// Where the target server re-reads its certificate files itself (Valkey 9.1's
/// `tls-auto-reload-interval`), a `renew` without `--reload` is served with no command sent;
/// elsewhere the bundle does not name the setting (the server would refuse to start).
#[test]
fn live_auto_reload_serves_a_renewed_certificate_with_no_command_sent() {
    let (t, dir, port) = live_bundle(&[]);
    let target = target_of(&dir);
    let conf = read(&dir, "redis.conf");
    if !target.caps().tls_auto_reload {
        assert!(
            !conf.contains("tls-auto-reload-interval"),
            "{target}: {conf}"
        );
        eprintln!("{target}: no auto reload; CONFIG SET reload is tested above");
        return;
    }
    assert!(conf.contains("\ntls-auto-reload-interval 60\n"), "{conf}");
    let r = Redis::start(&dir, port, t.path());
    let run_id = r.info_field("run_id");
    // The interval itself is 60 s; the test shortens it to 1 s so it waits seconds, not a minute.
    let config = r.renamed("CONFIG");
    let set = r.cli_as("admin", &[&config, "SET", "tls-auto-reload-interval", "1"]);
    assert_eq!(set, "OK");
    let presented = || presented_serial(&dir, port);
    let old = serial(&dir, "redis.crt");
    assert_eq!(presented(), format!("serial={old}"));
    run(&["renew", "--dir", dir.to_str().unwrap(), "--force"]).success();
    let new = serial(&dir, "redis.crt");
    assert_ne!(old, new);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut seen = presented();
    while seen != format!("serial={new}") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        seen = presented();
    }
    assert_eq!(
        seen,
        format!("serial={new}"),
        "{target} did not reload by itself"
    );
    let mut after = app_client(&dir, &dir, port);
    assert_eq!(ping(&mut after), "PONG");
    assert_eq!(r.info_field("run_id"), run_id, "no restart");
    assert!(std::fs::read_to_string(&r.log)
        .unwrap()
        .contains("TLS materials reloaded"));
}

/// `--disable-commands` removes CONFIG: `renew --reload` then waits for a server that re-reads
/// its certificate files itself (valkey 9.1, up to its 60 s interval) and verifies the new
/// certificate by handshake; on other servers it fails naming CONFIG, with the bundle renewed.
#[test]
fn live_reload_without_config_waits_for_auto_reload_or_says_why_not() {
    let (t, dir, port) = live_bundle(&["--disable-commands"]);
    let target = target_of(&dir);
    let r = Redis::start(&dir, port, t.path());
    let run_id = r.info_field("run_id");
    let old = serial(&dir, "redis.crt");
    let d = dir.to_str().unwrap();
    let renew = run(&["renew", "--dir", d, "--force", "--reload", "--json"]);
    let new = serial(&dir, "redis.crt");
    assert_ne!(old, new, "the bundle is renewed either way");
    if target.caps().tls_auto_reload {
        let v: serde_json::Value = serde_json::from_str(&renew.success().stdout).unwrap();
        assert_eq!(v["nodes"][0]["ok"], true, "{v}");
        assert_eq!(v["nodes"][0]["presented_serial"], new.as_str(), "{v}");
        let mut c = app_client(&dir, &dir, port);
        assert_eq!(ping(&mut c), "PONG");
        assert_eq!(r.info_field("run_id"), run_id, "no restart");
    } else {
        let renew = renew.code(1).stderr_has("CONFIG is disabled");
        assert!(
            renew.stderr.contains("restart redis-server"),
            "{}",
            renew.stderr
        );
    }
}

/// The CA rollover's steps are refused out of order, each with exit 2 and nothing changed.
/// (The live rollover, with every client library, is tests/it/clients.rs.)
#[test]
fn ca_rollover_steps_are_refused_out_of_order() {
    let b = Bundle::init(&[]);
    let d = b.dir.as_path();
    let ds = d.to_str().unwrap();
    let generation = || read(d, "manifest.json");
    let g0 = generation();
    run(&["renew", "--dir", ds, "--rollover-ca", "--finish"])
        .code(2)
        .stderr_has("no CA rollover is in progress")
        .stderr_has("renew --rollover-ca");
    run(&["renew", "--dir", ds, "--retire-old-ca"])
        .code(2)
        .stderr_has("nothing to retire");
    run(&["renew", "--dir", ds, "--finish"]).code(2);
    run(&[
        "renew",
        "--dir",
        ds,
        "--rollover-ca",
        "--finish",
        "--overlap",
        "1d",
    ])
    .code(2);
    assert_eq!(generation(), g0, "nothing changed");

    let j = run(&["renew", "--dir", ds, "--rollover-ca", "--json"]).success();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ca_rollover"], "publish");
    let renewed = v["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 1, "only the new CA is made: {v}");
    assert_eq!(renewed[0]["role"], "new-ca");
    // The default overlap is 30 days.
    let c = check(d, &["--format", "json"]).code(0);
    let r: serde_json::Value = serde_json::from_str(&c.stdout).unwrap();
    assert_eq!(r["ca_rollover"]["phase"], "overlap");
    let left = r["ca_rollover"]["overlap_seconds_left"].as_i64().unwrap();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&left), "{left}");
    let text = check(d, &[]).code(0);
    assert!(
        text.stdout.contains("CA rollover, step 1 of 2"),
        "{}",
        text.stdout
    );

    let g1 = generation();
    run(&["renew", "--dir", ds, "--rollover-ca"])
        .code(2)
        .stderr_has("already in progress");
    run(&["renew", "--dir", ds, "--rollover-ca", "--finish"])
        .code(2)
        .stderr_has("overlap lasts until")
        .stderr_has("provision check");
    run(&["renew", "--dir", ds, "--retire-old-ca"])
        .code(2)
        .stderr_has("until the rollover finishes");
    // A plain renew during the overlap changes nothing and says why.
    run(&["renew", "--dir", ds])
        .success()
        .stdout_has("Nothing to renew")
        .stdout_has("CA rollover in its overlap");
    assert_eq!(generation(), g1, "nothing changed");
}

#[test]
fn live_reload_failure_names_the_node_and_leaves_a_consistent_bundle() {
    let b = Bundle::init(&[]);
    let d = b.dir.as_path();
    let dead = format!("127.0.0.1:{}", free_port());
    run(&[
        "renew",
        "--dir",
        d.to_str().unwrap(),
        "--force",
        "--redis",
        &dead,
    ])
    .code(1)
    .stderr_has(&dead)
    .stderr_has("consistent");
    check(d, &[]).code(0);
    run(&["renew", "--dir", d.to_str().unwrap(), "--redis", "nonsense"])
        .code(2)
        .stderr_has("HOST:PORT");
}
