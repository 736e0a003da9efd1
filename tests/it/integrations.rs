//! Integrations: what the bundle looks like to CI jobs, systemd, Prometheus, Docker Compose and
//! Kubernetes. Every generated file is checked by that ecosystem's own validator, and the CI
//! recipe of the README is run verbatim against a real redis-server.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// The ```LANG block that follows `marker` in README.md.
fn readme_block(marker: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let after = &readme[readme
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?}"))..];
    let fence = format!("```{lang}\n");
    let start = after
        .find(&fence)
        .unwrap_or_else(|| panic!("a {fence:?} block after {marker:?}"))
        + fence.len();
    let len = after[start..].find("\n```").expect("closed block");
    after[start..start + len + 1].to_string()
}

fn env_map(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The README's CI job, run exactly as written: ephemeral secrets, redis-server, then a "test
/// suite" that only knows the REDIS_* variables. Replies are read, not exit codes.
#[test]
fn readme_ci_recipe_runs_against_a_real_redis() {
    require("redis-server");
    require("redis-cli");
    let t = tempdir();
    let script = t.path().join("with-redis.sh");
    std::fs::write(&script, readme_block("<!-- ci-recipe", "bash")).unwrap();
    let port = free_port();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The job's tests: connect with nothing but the variables, write, read, try a denied
    // command; keep a copy of the password so this test can prove it was never printed.
    let suite = r#"
        set -u
        test -z "${REDIS_PASSWORD:-}" || { echo "REDIS_PASSWORD is set"; exit 1; }
        cp "$REDIS_PASSWORD_FILE" "$OUT/password.copy"
        echo "dir=$(dirname "$REDIS_TLS_CA") user=$REDIS_USERNAME port=$REDIS_PORT"
        cli() { REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli --tls -h 127.0.0.1 \
          -p "$REDIS_PORT" --cacert "$REDIS_TLS_CA" --cert "$REDIS_TLS_CERT" --key "$REDIS_TLS_KEY" \
          --user "$REDIS_USERNAME" "$@" 2>&1; }
        echo "set: $(cli SET ci:key from-ci)"
        echo "get: $(cli GET ci:key)"
        echo "flushall: $(cli FLUSHALL)"
        echo "save: $(cli CONFIG GET save)"
    "#;
    let out = Command::new("bash")
        .arg(&script)
        .args(["bash", "-c", suite])
        .env_clear()
        .env("PATH", &path)
        .env("TMPDIR", t.path())
        .env("REDIS_PORT", port.to_string())
        .env("OUT", t.path())
        .current_dir(t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!(
        "exit {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        out.status
    );
    assert!(out.status.success(), "the CI recipe failed\n{all}");
    assert!(stdout.contains("set: OK"), "{all}");
    assert!(stdout.contains("get: from-ci"), "{all}");
    assert!(stdout.contains("flushall: ERR unknown command"), "{all}");
    assert!(stdout.contains("save: ERR unknown command"), "{all}");
    assert!(
        stdout.contains(&format!("user=app port={port}")),
        "the recipe honours REDIS_PORT and defaults to the app user\n{all}"
    );
    // The secrets went to a fresh directory under $TMPDIR, which the recipe removed.
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("dir="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(dir.starts_with(t.path().to_str().unwrap()), "{all}");
    assert!(!Path::new(&dir).exists(), "the recipe cleans up\n{all}");
    let pw = std::fs::read_to_string(t.path().join("password.copy")).unwrap();
    assert_eq!(pw.len(), 43);
    assert!(
        !all.contains(&pw),
        "the password appeared in the job's output"
    );
    // Redis was stopped: nothing listens on the port any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn env_prints_paths_and_never_the_password_unless_asked() {
    let (_t, dir, port) = live_bundle(&[]);
    let d = dir.to_str().unwrap();
    let pw = read(&dir, "app.password");

    let gh = run(&["env", "--dir", d, "--format", "github"]).success();
    let vars = env_map(&gh.stdout);
    let want = [
        ("REDIS_TLS_CA", dir.join("ca.crt")),
        ("REDIS_TLS_CERT", dir.join("app.crt")),
        ("REDIS_TLS_KEY", dir.join("app.key")),
        ("REDIS_PASSWORD_FILE", dir.join("app.password")),
    ];
    for (k, p) in &want {
        assert_eq!(vars[*k], p.to_str().unwrap(), "{}", gh.stdout);
        assert!(p.is_absolute() && p.exists());
    }
    assert_eq!(vars["REDIS_USERNAME"], "app");
    assert_eq!(vars["REDIS_PORT"], port.to_string());
    assert_eq!(vars["REDIS_TOPOLOGY"], "standalone");
    assert_eq!(vars["REDIS_HOST"], "127.0.0.1");
    assert_eq!(vars["REDIS_NODES"], format!("127.0.0.1:{port}"));
    assert_eq!(vars.len(), 9, "{}", gh.stdout);

    for format in ["shell", "github", "dotenv"] {
        let r = run(&["env", "--dir", d, "--format", format]).success();
        assert!(!r.stdout.contains(&pw) && !r.stderr.contains(&pw));
        assert!(!r.stdout.contains("REDIS_PASSWORD="));
    }
    let sh = run(&["env", "--dir", d, "--user", "monitor"]).success();
    assert!(sh.stdout.contains("export REDIS_USERNAME='monitor'\n"));
    assert!(sh.stdout.contains(&format!(
        "export REDIS_PASSWORD_FILE='{}'\n",
        dir.join("monitor.password").display()
    )));

    // The shell format round-trips through a real shell.
    let echo = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{}\nprintf '%s|%s' \"$REDIS_TLS_KEY\" \"$REDIS_PORT\"",
            run(&["env", "--dir", d]).success().stdout
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&echo.stdout),
        format!("{}|{port}", dir.join("app.key").display())
    );

    let shown = run(&["env", "--dir", d, "--format", "dotenv", "--show-secrets"]).success();
    assert!(shown.stdout.contains(&format!("REDIS_PASSWORD='{pw}'\n")));

    run(&["env", "--dir", d, "--user", "nobody"])
        .code(2)
        .stderr_has("no user `nobody`");
    run(&["env", "--dir", "/nonexistent/secrets"])
        .code(2)
        .stderr_has("does not exist");
}

#[test]
fn init_ephemeral_makes_a_one_day_bundle_in_a_kept_temp_dir() {
    let t = tempdir();
    let out = Command::new(bin())
        .args(["init", "--ephemeral", "--quiet"])
        .env_clear()
        .env("TMPDIR", t.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the path: {stdout:?}");
    let dir = Path::new(stdout.trim());
    assert!(dir.starts_with(t.path()), "{dir:?} not under TMPDIR");
    assert_eq!(mode_of(dir), 0o700);
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    assert_eq!(m["spec"]["cert_validity"], "1d", "{}", m["spec"]);
    assert_eq!(m["spec"]["ca_validity"], "1d");
    assert_eq!(m["spec"]["no_persistence"], true);
    let conf = read(dir, "redis.conf");
    assert!(conf.contains("save \"\"\nappendonly no\n"));
    assert!(conf.contains(&format!("tls-cert-file \"{}/redis.crt\"", dir.display())));
    let end = Command::new("openssl")
        .args(["x509", "-noout", "-checkend", "86400", "-in"])
        .arg(dir.join("redis.crt"))
        .output()
        .unwrap();
    // openssl exits 1 for "will expire" and for any error: read what it says.
    assert!(
        !end.status.success()
            && String::from_utf8_lossy(&end.stdout).contains("Certificate will expire"),
        "the certificate outlives one day: {end:?}"
    );
    let end = Command::new("openssl")
        .args(["x509", "-noout", "-checkend", "86000", "-in"])
        .arg(dir.join("ca.crt"))
        .output()
        .unwrap();
    assert!(
        end.status.success()
            && String::from_utf8_lossy(&end.stdout).contains("Certificate will not expire"),
        "the CA lives about one day: {end:?}"
    );

    // Given validities win; the CA stretches to cover a longer leaf; --dir is honoured.
    let d2 = t.path().join("given");
    run(&[
        "init",
        "--ephemeral",
        "--cert-validity",
        "3d",
        "--dir",
        d2.to_str().unwrap(),
        "--quiet",
    ])
    .success();
    let m: serde_json::Value = serde_json::from_str(&read(&d2, "manifest.json")).unwrap();
    assert_eq!(m["spec"]["cert_validity"], "3d");
    assert_eq!(m["spec"]["ca_validity"], "3d");

    // A bad option leaves no empty temporary directory behind.
    let before = std::fs::read_dir(t.path()).unwrap().count();
    let bad = Command::new(bin())
        .args(["init", "--ephemeral", "--host", "bad host"])
        .env_clear()
        .env("TMPDIR", t.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), before);
}

#[test]
fn mount_dir_writes_container_paths_into_redis_conf() {
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls/"]);
    let dir = b.dir.as_path();
    let conf = read(dir, "redis.conf");
    for f in ["redis.crt", "redis.key", "ca.crt"] {
        assert!(conf.contains(&format!("\"/etc/redis/tls/{f}\"")), "{conf}");
    }
    assert!(conf.contains("aclfile \"/etc/redis/tls/users.acl\""));
    assert!(!conf.contains(b.tmp.path().to_str().unwrap()));
    // Regression: check on the host maps the container paths back to the bundle directory,
    // so a mount-dir bundle is OK (it used to report every redis.conf path as missing).
    run(&["check", "--dir", dir.to_str().unwrap()]).code(0);
    run(&["renew", "--dir", dir.to_str().unwrap(), "--force", "-q"]).success();
    run(&["check", "--dir", dir.to_str().unwrap()]).code(0);

    // From the config file too; the flag wins over it.
    let cfg = b.path("p.toml");
    std::fs::write(&cfg, "mount_dir = \"/run/redis\"\n").unwrap();
    let d2 = b.path("s2");
    run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--dir",
        d2.to_str().unwrap(),
        "--quiet",
    ])
    .success();
    assert!(read(&d2, "redis.conf").contains("aclfile \"/run/redis/users.acl\""));

    for bad in ["relative/dir", "/", "/etc/redis\"\nrequirepass x"] {
        let d = b.path("bad");
        run(&["init", "--dir", d.to_str().unwrap(), "--mount-dir", bad])
            .code(2)
            .stderr_has("mount dir");
        assert!(!d.exists(), "nothing written for {bad:?}");
    }
}

/// Runs `systemd-analyze verify` on unit files; returns (success, everything it printed).
fn systemd_verify(units: &[&Path]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn schedule_writes_units_that_systemd_analyze_verifies() {
    require("systemd-analyze");
    let t = tempdir();
    run_in(t.path(), &["init", "--dir", "s", "--quiet"]).success();
    let units = t.path().join("units");
    std::fs::create_dir(&units).unwrap();
    // A relative --dir becomes absolute in the units.
    let r = run_in(t.path(), &["schedule", "--dir", "s", "--out", "units"]).success();
    let dir = t.path().join("s");
    let service_p = units.join("provision-renew.service");
    let timer_p = units.join("provision-renew.timer");
    assert_eq!(mode_of(&service_p), 0o644);
    let service = std::fs::read_to_string(&service_p).unwrap();
    let timer = std::fs::read_to_string(&timer_p).unwrap();
    let exec = format!(
        "ExecStart={} renew --dir {} --reload --quiet\n",
        bin().display(),
        dir.display()
    );
    for want in [
        "Type=oneshot\n",
        exec.as_str(),
        "ProtectSystem=strict\n",
        &format!("ReadWritePaths={}\n", dir.display()),
        "NoNewPrivileges=yes\n",
        "PrivateTmp=yes\n",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(service.contains(want), "service lacks {want:?}:\n{service}");
    }
    for want in [
        "OnCalendar=daily\n",
        "RandomizedDelaySec=1h\n",
        "Persistent=true\n",
        "WantedBy=timers.target\n",
    ] {
        assert!(timer.contains(want), "timer lacks {want:?}:\n{timer}");
    }
    assert!(
        r.stdout.contains(&format!(
            " * * * {} renew --dir {} --reload --quiet",
            bin().display(),
            dir.display()
        )),
        "no cron line:\n{}",
        r.stdout
    );

    // systemd's own parser: no error, not even a warning (unknown keys are only warnings).
    let (ok, text) = systemd_verify(&[&service_p, &timer_p]);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    // ... and it does catch mistakes: the same unit with a typo fails.
    let broken = t.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    let bad = broken.join("provision-renew.service");
    std::fs::write(
        &bad,
        service.replace("ProtectSystem=strict", "ProtectSystem=sideways"),
    )
    .unwrap();
    let (_, text) = systemd_verify(&[&bad]);
    assert!(
        text.contains("sideways"),
        "verify missed a bad value:\n{text}"
    );

    // The sandbox is tight by systemd's own measure (0 = locked down, 10 = exposed).
    let sec = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", "--threshold=20"])
        .arg(&service_p)
        .output()
        .unwrap();
    let sec_text = String::from_utf8_lossy(&sec.stdout);
    assert!(
        sec.status.success(),
        "exposure above 2.0:\n{}",
        sec_text.lines().last().unwrap_or_default()
    );

    // Existing units are kept unless --force.
    run_in(t.path(), &["schedule", "--dir", "s", "--out", "units"])
        .code(2)
        .stderr_has("already exists");
    assert_eq!(std::fs::read_to_string(&service_p).unwrap(), service);
    run_in(
        t.path(),
        &["schedule", "--dir", "s", "--out", "units", "--force"],
    )
    .success();
    run_in(t.path(), &["schedule", "--dir", "missing"])
        .code(2)
        .stderr_has("does not exist");
}

/// Runs promtool with `args`; returns (success, everything it printed).
fn promtool(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Unit tests for the generated rules, in promtool's own format: each alert fires on the
/// series that should trigger it and stays silent on a healthy bundle.
const ALERT_TESTS: &str = r#"rule_files: [provision-alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'provision_certificate_seconds_left{bundle="/etc/redis/tls",file="redis.crt",role="server",serial="0a",instance="h1"}'
        values: '1000000x180'
      - series: 'provision_certificate_seconds_left{bundle="/etc/redis/tls",file="app.crt",role="client",serial="0b",instance="h1"}'
        values: '30000000x180'
      - series: 'provision_certificate_seconds_left{bundle="/etc/redis/tls",file="ca.crt",role="ca",serial="0c",instance="h1"}'
        values: '-5x180'
      - series: 'provision_check_status{bundle="/etc/redis/tls",instance="h1"}'
        values: '0x5 2x60'
      - series: 'provision_check_timestamp_seconds{bundle="/etc/redis/tls",instance="h1"}'
        values: '0x180'
      - series: 'redis_acl_access_denied_auth_total{instance="r1:9121"}'
        values: '0+20x30'
      - series: 'redis_acl_access_denied_cmd_total{instance="r1:9121"}'
        values: '0x30'
      - series: 'redis_acl_access_denied_key_total{instance="r1:9121"}'
        values: '0+5x30'
      - series: 'redis_acl_access_denied_channel_total{instance="r1:9121"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 30m
        alertname: ProvisionCertificateExpiringSoon
        exp_alerts: []
      - eval_time: 2h
        alertname: ProvisionCertificateExpiringSoon
        exp_alerts:
          - exp_labels: {severity: warning, bundle: /etc/redis/tls, file: redis.crt, role: server, serial: "0a", instance: h1}
            exp_annotations:
              summary: "Redis TLS certificate redis.crt expires in 11d 13h 46m 40s"
              description: "redis.crt (role server, serial 0a) in bundle /etc/redis/tls on h1 expires soon, and `provision renew` has not replaced it. Check the provision-renew timer (`systemctl status provision-renew.timer`, `journalctl -u provision-renew.service`) or run `provision renew --dir /etc/redis/tls --reload`."
      - eval_time: 1m
        alertname: ProvisionCertificateExpired
        exp_alerts:
          - exp_labels: {severity: critical, bundle: /etc/redis/tls, file: ca.crt, role: ca, serial: "0c", instance: h1}
            exp_annotations:
              summary: "Redis TLS certificate ca.crt has expired"
              description: "ca.crt (role ca, serial 0c) in bundle /etc/redis/tls on h1 has expired: TLS connections that use it fail. Run `provision renew --dir /etc/redis/tls --reload` now."
      - eval_time: 10m
        alertname: ProvisionBundleCheckFailing
        exp_alerts: []
      - eval_time: 20m
        alertname: ProvisionBundleCheckFailing
        exp_alerts:
          - exp_labels: {severity: critical, bundle: /etc/redis/tls, instance: h1}
            exp_annotations:
              summary: "provision check reports the Redis secrets bundle /etc/redis/tls as CRITICAL"
              description: "`provision check --dir /etc/redis/tls` on h1 has exited 2 for 10 minutes (2 CRITICAL: broken, tampered, world-readable or expired files; 3 UNKNOWN: bundle missing or unreadable). Run it by hand to see every problem."
      - eval_time: 20m
        alertname: RedisAuthenticationFailures
        exp_alerts:
          - exp_labels: {severity: warning, instance: "r1:9121"}
            exp_annotations:
              summary: "Redis r1:9121 refuses logins (100 in 5 minutes)"
              description: "Failed AUTH/HELLO on r1:9121: a client with a stale password (an unfinished rotation?) or someone guessing passwords. `ACL LOG` (as the admin user) names the user and client address."
      - eval_time: 20m
        alertname: RedisACLDenials
        exp_alerts:
          - exp_labels: {severity: warning, instance: "r1:9121"}
            exp_annotations:
              summary: "Redis r1:9121 denies commands, keys or channels by ACL (25 in 5 minutes)"
              description: "An authenticated client on r1:9121 keeps trying what its ACL user may not do: a misconfigured application, or stolen credentials probing. `ACL LOG` (as the admin user) names the user, command and key."
  - interval: 1m
    input_series:
      - series: 'provision_check_timestamp_seconds{bundle="/b",instance="h1"}'
        values: '0x3000'
      - series: 'provision_password_rotation_in_progress{bundle="/b",instance="h1"}'
        values: '1x12000'
    alert_rule_test:
      - eval_time: 47h
        alertname: ProvisionCheckStale
        exp_alerts: []
      - eval_time: 49h
        alertname: ProvisionCheckStale
        exp_alerts:
          - exp_labels: {severity: warning, bundle: /b, instance: h1}
            exp_annotations:
              summary: "provision check has not run for 2d 1h 0m 0s"
              description: "The provision_* metrics of bundle /b on h1 were last written 2d 1h 0m 0s ago, so the other provision alerts are blind. Check the job that runs `provision check --format prometheus`."
      - eval_time: 6d
        alertname: ProvisionPasswordRotationUnfinished
        exp_alerts: []
      - eval_time: 8d
        alertname: ProvisionPasswordRotationUnfinished
        exp_alerts:
          - exp_labels: {severity: warning, bundle: /b, instance: h1}
            exp_annotations:
              summary: "A Redis password rotation in bundle /b is unfinished"
              description: "1 user(s) in bundle /b on h1 have accepted an old and a new password for more than a week. Roll the remaining clients, then run `provision rotate --dir /b --user USER --finish --reload`."
"#;

#[test]
fn alerts_writes_rules_that_promtool_checks_and_unit_tests() {
    require("promtool");
    let t = tempdir();
    let r = run_in(t.path(), &["alerts"]).success();
    let rules_p = t.path().join("provision-alerts.yml");
    assert!(r.stdout.contains("provision-alerts.yml"), "{}", r.stdout);
    assert_eq!(mode_of(&rules_p), 0o644);
    let rules = std::fs::read_to_string(&rules_p).unwrap();
    for alert in [
        "ProvisionCertificateExpiringSoon",
        "ProvisionCertificateExpired",
        "ProvisionBundleCheckFailing",
        "ProvisionCheckStale",
        "ProvisionPasswordRotationUnfinished",
        "RedisAuthenticationFailures",
        "RedisACLDenials",
    ] {
        assert!(
            rules.contains(&format!("- alert: {alert}\n")),
            "no {alert}:\n{rules}"
        );
    }

    // Prometheus's own parser (expressions, durations, annotation templates).
    let (ok, text) = promtool(&["check", "rules", "provision-alerts.yml"], t.path());
    assert!(
        ok && text.contains("SUCCESS: 7 rules found"),
        "promtool check rules:\n{text}"
    );
    // ... and the rules behave: promtool's rule unit tests.
    std::fs::write(t.path().join("alerts_test.yml"), ALERT_TESTS).unwrap();
    let (ok, text) = promtool(&["test", "rules", "alerts_test.yml"], t.path());
    assert!(ok, "promtool test rules:\n{text}");
    // The checker does catch mistakes: a broken expression fails.
    std::fs::write(
        t.path().join("broken.yml"),
        rules.replace("provision_check_status >= 2", "provision_check_status >= "),
    )
    .unwrap();
    let (ok, text) = promtool(&["check", "rules", "broken.yml"], t.path());
    assert!(!ok, "promtool accepted a broken rule:\n{text}");

    // A custom threshold; existing file kept unless --force.
    run_in(t.path(), &["alerts"])
        .code(2)
        .stderr_has("already exists");
    assert_eq!(std::fs::read_to_string(&rules_p).unwrap(), rules);
    run_in(
        t.path(),
        &["alerts", "--out", "custom.yml", "--expiring", "30d", "-q"],
    )
    .success();
    let custom = std::fs::read_to_string(t.path().join("custom.yml")).unwrap();
    assert!(custom.contains("provision_certificate_seconds_left < 2592000 "));
    run_in(t.path(), &["alerts", "--force", "-q"]).success();
}

/// `docker-compose -f FILE ARGS` (Debian's 1.29: parses and validates without an engine).
fn docker_compose(file: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(file)
        .args(args)
        .output()
        .expect("run docker-compose");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// YAML to JSON through PyYAML (docker-compose's own YAML library, so always present with it).
fn yaml_to_json(yaml: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML failed on:\n{yaml}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compose_writes_a_file_docker_compose_validates() {
    require("docker-compose");
    require("python3");
    let b = Bundle::init(&[
        "--mount-dir",
        "/etc/redis/tls",
        "--bind",
        "0.0.0.0",
        "--port",
        "6380",
    ]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let file = b.path("docker-compose.yml");
    let r = run(&["compose", "--dir", d, "--out", file.to_str().unwrap()]).success();
    assert!(r.stdout.contains("docker-compose.yml"), "{}", r.stdout);
    assert_eq!(mode_of(&file), 0o644);
    let text = std::fs::read_to_string(&file).unwrap();

    // Compose's own validator, then its normalized model.
    let (ok, _, err) = docker_compose(&file, &["config", "-q"]);
    assert!(ok, "docker-compose config -q:\n{err}\n{text}");
    let (ok, normalized, err) = docker_compose(&file, &["config"]);
    assert!(ok, "{err}");
    let c = yaml_to_json(&normalized);
    let redis = &c["services"]["redis"];
    assert_eq!(redis["image"], "redis:7");
    assert_eq!(
        redis["command"],
        serde_json::json!(["redis-server", "/etc/redis/tls/redis.conf"])
    );
    assert!(redis.get("ports").is_none(), "published ports:\n{text}");
    assert!(!text.contains("ports:"), "{text}");
    assert_eq!(c["networks"]["redis-internal"]["internal"], true);
    assert_eq!(
        redis["networks"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["redis-internal"]
    );
    let vol = &redis["volumes"][0];
    assert_eq!(vol["source"], d);
    assert_eq!(vol["target"], "/etc/redis/tls");
    assert_eq!(vol["read_only"], true);
    // Every password is a file secret from the bundle.
    for u in ["admin", "app", "monitor"] {
        let s = &c["secrets"][format!("{u}_password")];
        assert_eq!(
            s["file"],
            dir.join(format!("{u}.password")).to_str().unwrap(),
            "{s}"
        );
    }
    // The health check: monitor user, TLS, password from the secret file, never `-a`.
    let hc = redis["healthcheck"]["test"].as_array().unwrap();
    assert_eq!(
        hc[..3],
        [serde_json::json!("CMD"), "sh".into(), "-c".into()]
    );
    // (Compose writes `$$` back out; the container's shell sees `$`.)
    let sh = hc[3].as_str().unwrap().replace("$$", "$");
    assert!(
        sh.starts_with("REDISCLI_AUTH=\"$(cat /run/secrets/monitor_password)\" redis-cli --tls "),
        "{sh}"
    );
    for want in [
        "--user 'monitor'",
        "-p 6380",
        "--cert '/etc/redis/tls/monitor.crt'",
        "--key '/etc/redis/tls/monitor.key'",
        "--cacert '/etc/redis/tls/ca.crt'",
    ] {
        assert!(sh.contains(want), "health check lacks {want:?}: {sh}");
    }
    assert!(!sh.contains(" -a "), "{sh}");
    assert!(
        redis["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == "monitor_password"),
        "{redis}"
    );
    // The example client: a profile, *_FILE variables, no published port either.
    let ex = &c["services"]["app-example"];
    assert_eq!(ex["profiles"], serde_json::json!(["example"]));
    assert_eq!(
        ex["environment"]["REDIS_PASSWORD_FILE"],
        "/run/secrets/app_password"
    );
    assert!(ex.get("ports").is_none() && ex.get("volumes").is_none());
    // No password anywhere: neither in the file nor in what Compose makes of it.
    for u in ["admin", "app", "monitor"] {
        let pw = read(dir, &format!("{u}.password"));
        assert!(
            !text.contains(&pw) && !normalized.contains(&pw),
            "{u}'s password leaked"
        );
    }

    // The validator catches mistakes: a non-boolean `internal` fails.
    let broken = b.path("broken.yml");
    std::fs::write(&broken, text.replace("internal: true", "internal: [maybe]")).unwrap();
    assert!(!docker_compose(&broken, &["config", "-q"]).0);

    // A bundle made without --mount-dir: an error with the way out.
    let host_only = b.path("h");
    run(&["init", "--dir", host_only.to_str().unwrap(), "--quiet"]).success();
    run(&[
        "compose",
        "--dir",
        host_only.to_str().unwrap(),
        "--out",
        b.path("h.yml").to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("--mount-dir /etc/redis/tls --bind 0.0.0.0");
    assert!(!b.path("h.yml").exists());
    // Existing file kept unless --force.
    run(&["compose", "--dir", d, "--out", file.to_str().unwrap()])
        .code(2)
        .stderr_has("already exists");
    run(&[
        "compose",
        "--dir",
        d,
        "--out",
        file.to_str().unwrap(),
        "--force",
        "-q",
    ])
    .success();
}

/// A copy of the built-in template `name` with `f` applied, written to `dir/name`.
fn override_template(dir: &Path, name: &str, f: impl Fn(&str) -> String) {
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates")
            .join(name),
    )
    .unwrap();
    let changed = f(&builtin);
    assert_ne!(changed, builtin, "the override changes nothing");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), changed).unwrap();
}

#[test]
fn templates_override_redis_conf_and_users_acl_and_rotate_keeps_using_them() {
    let t = tempdir();
    let tpl = t.path().join("tpl");
    override_template(&tpl, "redis.conf", |s| {
        s.replace(
            "acllog-max-len 128\n",
            "acllog-max-len 128\nlatency-monitor-threshold 100\n",
        )
    });
    // The monitor user may also run DBSIZE.
    override_template(&tpl, "users.acl", |s| {
        s.replace("+latency|latest", "+latency|latest +dbsize")
    });
    let dir = t.path().join("s");
    let d = dir.to_str().unwrap();
    run(&[
        "init",
        "--dir",
        d,
        "--templates",
        tpl.to_str().unwrap(),
        "-q",
    ])
    .success();
    assert!(read(&dir, "redis.conf").contains("\nlatency-monitor-threshold 100\n"));
    let monitor_line = |acl: &str| {
        acl.lines()
            .find(|l| l.starts_with("user monitor "))
            .unwrap()
            .to_string()
    };
    assert!(monitor_line(&read(&dir, "users.acl")).ends_with(" +dbsize"));
    let m: serde_json::Value = serde_json::from_str(&read(&dir, "manifest.json")).unwrap();
    assert_eq!(m["spec"]["templates"], tpl.to_str().unwrap());
    run(&["check", "--dir", d]).code(0);

    // rotate re-renders users.acl with the recorded override, not the built-in.
    run(&["rotate", "--dir", d, "--user", "app", "-q"]).success();
    run(&["rotate", "--dir", d, "--user", "app", "--finish", "-q"]).success();
    assert!(monitor_line(&read(&dir, "users.acl")).ends_with(" +dbsize"));
    run(&["check", "--dir", d]).code(0);

    // A live server accepts the overridden files: the monitor user runs DBSIZE.
    require("redis-server");
    let port = free_port();
    let d2 = t.path().join("live");
    run(&[
        "init",
        "--dir",
        d2.to_str().unwrap(),
        "--port",
        &port.to_string(),
        "--templates",
        tpl.to_str().unwrap(),
        "-q",
    ])
    .success();
    let redis = Redis::start(&d2, port, t.path());
    assert_eq!(redis.cli_as("monitor", &["DBSIZE"]), "0");
    assert_eq!(
        redis.cli_as(
            "admin",
            &[&redis.renamed("CONFIG"), "GET", "latency-monitor-threshold"]
        ),
        "latency-monitor-threshold\n100"
    );
    drop(redis);

    // The recorded directory is gone: a clear error, not a silent fall-back to the built-ins.
    let moved = t.path().join("tpl-moved");
    std::fs::rename(&tpl, &moved).unwrap();
    let before = snapshot(&dir);
    run(&["rotate", "--dir", d, "--user", "app"])
        .code(2)
        .stderr_has("no longer exists");
    assert_eq!(snapshot(&dir), before);
    // --templates points elsewhere, and the new generation records it.
    run(&[
        "rotate",
        "--dir",
        d,
        "--user",
        "app",
        "--templates",
        moved.to_str().unwrap(),
        "-q",
    ])
    .success();
    let m: serde_json::Value = serde_json::from_str(&read(&dir, "manifest.json")).unwrap();
    assert_eq!(m["spec"]["templates"], moved.to_str().unwrap());
    assert!(monitor_line(&read(&dir, "users.acl")).ends_with(" +dbsize"));
}

/// An override that sets what only newer servers have is refused for an older target (the
/// server would not start on it) and accepted for a target that has it.
#[test]
fn an_override_setting_what_the_target_lacks_is_refused() {
    let t = tempdir();
    let tpl = t.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    let builtin =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/redis.conf"))
            .unwrap();
    std::fs::write(
        tpl.join("redis.conf"),
        format!("{builtin}tls-auto-reload-interval 30\n"),
    )
    .unwrap();
    let dir = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    let tpl = tpl.to_str().unwrap();
    let old = dir("old");
    let r = run(&[
        "init",
        "--dir",
        &old,
        "--server",
        "redis-8.0",
        "--templates",
        tpl,
    ])
    .code(2)
    .stderr_has("tls-auto-reload-interval")
    .stderr_has("redis-8.0 does not have (Valkey 9.1 and newer do)");
    assert!(!Path::new(&old).exists(), "{}", r.stderr);
    let new = dir("new");
    run(&[
        "init",
        "--dir",
        &new,
        "--server",
        "valkey-9.1",
        "--templates",
        tpl,
    ])
    .success();
    run(&["check", "--dir", &new]).code(0);
}

#[test]
fn broken_override_template_names_file_and_line_and_writes_nothing() {
    let t = tempdir();
    let tpl = t.path().join("tpl");
    let conf = tpl.join("redis.conf");
    let fresh = t.path().join("fresh");
    // A syntax error on line 3, then an undefined variable on line 4.
    for (source, line, what) in [
        ("port 0\n# ok\n{% if port %}\n", 3, "syntax error"),
        ("port 0\n# ok\n\n{{ tls_port }}\n", 4, "undefined value"),
    ] {
        std::fs::create_dir_all(&tpl).unwrap();
        std::fs::write(&conf, source).unwrap();
        let r = run(&[
            "init",
            "--dir",
            fresh.to_str().unwrap(),
            "--templates",
            tpl.to_str().unwrap(),
        ])
        .code(2)
        .stderr_has(&format!("template `{}`, line {line}", conf.display()))
        .stderr_has(what);
        assert!(
            !fresh.exists(),
            "a bundle directory was created\n{}",
            r.stderr
        );
    }
    // Over an existing bundle, with --force: byte-for-byte unchanged.
    let dir = t.path().join("s");
    let d = dir.to_str().unwrap();
    run(&["init", "--dir", d, "-q"]).success();
    let before = snapshot(&dir);
    run(&[
        "init",
        "--dir",
        d,
        "--force",
        "--templates",
        tpl.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("redis.conf`, line 4");
    assert_eq!(snapshot(&dir), before);

    // users.acl re-rendered by rotate: the bundle stays as it was.
    std::fs::remove_file(&conf).unwrap();
    std::fs::write(
        tpl.join("users.acl"),
        "{% for u in users %}{{ u.nme }}\n{% endfor %}",
    )
    .unwrap();
    run(&[
        "rotate",
        "--dir",
        d,
        "--user",
        "app",
        "--templates",
        tpl.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("users.acl`, line 1: undefined value (`u.nme`)");
    assert_eq!(snapshot(&dir), before);

    // An override whose output is not a safe ACL file is refused, naming it.
    std::fs::write(tpl.join("users.acl"), "user default on nopass ~* +@all\n").unwrap();
    run(&[
        "init",
        "--dir",
        fresh.to_str().unwrap(),
        "--templates",
        tpl.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has(&format!("template `{}`", tpl.join("users.acl").display()));
    assert!(!fresh.exists());

    // The other generators: nothing written either.
    std::fs::remove_file(tpl.join("users.acl")).unwrap();
    std::fs::write(tpl.join("provision-alerts.yml"), "groups:\n{{ nothing }}\n").unwrap();
    let rules = t.path().join("rules.yml");
    run(&[
        "alerts",
        "--out",
        rules.to_str().unwrap(),
        "--templates",
        tpl.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("provision-alerts.yml`, line 2");
    assert!(!rules.exists());
    // A missing directory is bad input too.
    run(&[
        "init",
        "--dir",
        fresh.to_str().unwrap(),
        "--templates",
        "/nonexistent/tpl",
    ])
    .code(2)
    .stderr_has("does not exist");
    assert!(!fresh.exists());
}

#[test]
fn export_k8s_writes_secrets_kubernetes_validate_accepts() {
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let file = b.path("redis-secrets.yaml");
    let f = file.to_str().unwrap();
    let r = run(&[
        "export",
        "--dir",
        d,
        "--format",
        "k8s",
        "--namespace",
        "cache",
        "-o",
        f,
    ])
    .success()
    .stdout_has("kubectl apply -n cache -f");
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    assert_eq!(mode_of(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();

    // Kubernetes' own schemas, strict (no unknown fields).
    let (ok, report) = k8s_validate(&file);
    assert!(ok, "kubernetes-validate failed:\n{report}\n{text}");
    assert_eq!(
        report.matches("passed for resource secret/").count(),
        6,
        "{report}"
    );

    // Every value decodes to the bundle's exact bytes; the CA key is nowhere.
    let docs = k8s_docs(&text);
    let by_name = |n: &str| {
        docs.iter()
            .find(|o| o["metadata"]["name"] == n)
            .unwrap_or_else(|| panic!("no Secret {n} in\n{text}"))
    };
    type Expected<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);
    let expect: Vec<Expected> = vec![
        (
            "redis-tls",
            "kubernetes.io/tls",
            vec![
                ("tls.crt", "redis.crt".into()),
                ("tls.key", "redis.key".into()),
                ("ca.crt", "ca.crt".into()),
            ],
        ),
        ("redis-ca", "Opaque", vec![("ca.crt", "ca.crt".into())]),
        (
            "redis-config",
            "Opaque",
            vec![
                ("redis.conf", "redis.conf".into()),
                ("users.acl", "users.acl".into()),
                ("renamed-commands", "renamed-commands".into()),
            ],
        ),
    ]
    .into_iter()
    .chain(["admin", "app", "monitor"].into_iter().map(|u| {
        (
            match u {
                "admin" => "redis-user-admin",
                "app" => "redis-user-app",
                _ => "redis-user-monitor",
            },
            "Opaque",
            vec![
                ("tls.crt", format!("{u}.crt")),
                ("tls.key", format!("{u}.key")),
                ("ca.crt", "ca.crt".into()),
                ("password", format!("{u}.password")),
            ],
        )
    }))
    .collect();
    assert_eq!(docs.len(), expect.len());
    for (name, kind, keys) in &expect {
        let o = by_name(name);
        assert_eq!(o["apiVersion"], "v1");
        assert_eq!(o["kind"], "Secret");
        assert_eq!(o["type"], *kind, "{name}");
        assert_eq!(o["metadata"]["namespace"], "cache");
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "redis");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "provision");
        let data = o["data"].as_object().unwrap();
        assert_eq!(data.len(), keys.len(), "{name}: {data:?}");
        for (key, bundle_file) in keys {
            assert_eq!(
                b64decode(data[*key].as_str().unwrap()),
                std::fs::read(dir.join(bundle_file)).unwrap(),
                "{name}/{key} is not {bundle_file}"
            );
        }
    }
    let ca_key = std::fs::read(dir.join("ca.key")).unwrap();
    for o in &docs {
        for v in o["data"].as_object().unwrap().values() {
            let bytes = b64decode(v.as_str().unwrap());
            assert!(
                !bytes.windows(ca_key.len()).any(|w| w == ca_key),
                "ca.key exported"
            );
            assert!(!String::from_utf8_lossy(&bytes).contains("ca.key"));
        }
    }
    assert!(!text.contains("ca.key"));
    // redis.conf inside the cluster names the mount dir.
    let conf = String::from_utf8(b64decode(
        by_name("redis-config")["data"]["redis.conf"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    assert!(
        conf.contains("tls-key-file \"/etc/redis/tls/redis.key\""),
        "{conf}"
    );
    assert_eq!(
        by_name("redis-config")["metadata"]["annotations"]["provision/mount-dir"],
        "/etc/redis/tls"
    );
    // Nothing secret on the terminal.
    for u in ["admin", "app", "monitor"] {
        let pw = read(dir, &format!("{u}.password"));
        assert!(!r.stdout.contains(&pw) && !r.stderr.contains(&pw));
    }

    // The validator is not a rubber stamp: a wrong type and an unknown field fail.
    let broken = b.path("broken.yaml");
    std::fs::write(
        &broken,
        text.replacen("\"type\": \"Opaque\"", "\"type\": 7", 1),
    )
    .unwrap();
    assert!(!k8s_validate(&broken).0);
    std::fs::write(
        &broken,
        text.replacen(
            "\"kind\": \"Secret\",",
            "\"kind\": \"Secret\", \"stringData2\": {},",
            1,
        ),
    )
    .unwrap();
    assert!(!k8s_validate(&broken).0);

    // Never overwritten without --force; --force replaces it (0600) with the new generation.
    let before = std::fs::read(&file).unwrap();
    run(&["export", "--dir", d, "--format", "k8s", "-o", f])
        .code(2)
        .stderr_has("already exists");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    run(&["rotate", "--dir", d, "--user", "app", "-q"]).success();
    run(&[
        "export", "--dir", d, "--format", "k8s", "-o", f, "--force", "--name", "cache", "-q",
    ])
    .success();
    assert_eq!(mode_of(&file), 0o600);
    let docs = k8s_docs(&std::fs::read_to_string(&file).unwrap());
    let app = docs
        .iter()
        .find(|o| o["metadata"]["name"] == "cache-user-app")
        .unwrap();
    assert_eq!(
        b64decode(app["data"]["password"].as_str().unwrap()),
        std::fs::read(dir.join("app.password")).unwrap()
    );
    assert!(docs
        .iter()
        .all(|o| o["metadata"].get("namespace").is_none()));
    assert!(k8s_validate(&file).0);

    // `-o -` to a pipe: the YAML on stdout, the summary on stderr; validated too.
    let piped = run(&["export", "--dir", d, "--format", "k8s", "-o", "-"]).success();
    assert!(piped.stderr.contains("to stdout"), "{}", piped.stderr);
    let streamed = b.path("streamed.yaml");
    std::fs::write(&streamed, &piped.stdout).unwrap();
    assert!(k8s_validate(&streamed).0);

    // Bad input: exit 2, nothing written.
    let other = b.path("other.yaml");
    let o = other.to_str().unwrap();
    for (args, msg) in [
        (vec!["--name", "Redis_1"], "not a DNS label"),
        (vec!["--namespace", "Cache"], "not a DNS label"),
        (
            vec!["--recipient", "age1xyz"],
            "--recipient is for age archives",
        ),
        (vec!["--armor"], "--armor is for age archives"),
    ] {
        let mut a = vec!["export", "--dir", d, "--format", "k8s", "-o", o];
        a.extend(args);
        run(&a).code(2).stderr_has(msg);
        assert!(!other.exists());
    }
    run(&[
        "backup",
        "--dir",
        d,
        "-o",
        o,
        "--force",
        "--passphrase-file",
        f,
    ])
    .code(2)
    .stderr_has("--force is for --format k8s");
    assert!(!other.exists());

    // A bundle without --mount-dir: exported, with a warning that says how to fix it.
    let host = b.path("h");
    run(&["init", "--dir", host.to_str().unwrap(), "-q"]).success();
    run(&[
        "export",
        "--dir",
        host.to_str().unwrap(),
        "--format",
        "k8s",
        "-o",
        o,
    ])
    .success()
    .stderr_has("warning: the bundle")
    .stderr_has("--mount-dir /etc/redis/tls");
}

#[test]
fn readme_kubernetes_statefulset_validates_and_matches_the_export() {
    let block = &readme_block("<!-- k8s-statefulset", "yaml");
    let t = tempdir();
    let file = t.path().join("statefulset.yaml");
    std::fs::write(&file, block).unwrap();
    let (ok, report) = k8s_validate(&file);
    assert!(ok, "{report}\n{block}");
    for kind in ["service/redis", "statefulset/redis", "deployment/app"] {
        assert!(
            report.contains(&format!("passed for resource {kind}")),
            "{report}"
        );
    }
    // It mounts the Secrets export writes, under the names redis.conf expects.
    for want in [
        "command: [\"redis-server\", \"/etc/redis/tls/redis.conf\"]",
        "mountPath: /etc/redis/tls",
        "name: redis-tls",
        "name: redis-config",
        "secretName: redis-user-monitor",
        "secretName: redis-user-app",
        "path: redis.crt",
        "path: redis.key",
        "defaultMode: 0440",
    ] {
        assert!(block.contains(want), "README snippet lacks {want:?}");
    }
}

#[test]
fn init_compose_writes_the_compose_file_outside_the_bundle() {
    require("docker-compose");
    let b = Bundle::empty();
    let (dir, d) = (b.dir.as_path(), b.d());
    let r = run_in(
        b.tmp.path(),
        &[
            "init",
            "--dir",
            d,
            "--mount-dir",
            "/etc/redis/tls",
            "--bind",
            "0.0.0.0",
            "--compose",
        ],
    )
    .success()
    .stdout_has("docker-compose.yml");
    let file = b.path("docker-compose.yml");
    assert_eq!(mode_of(&file), 0o644);
    let (ok, _, err) = docker_compose(&file, &["config", "-q"]);
    assert!(ok, "docker-compose config -q:\n{err}\n{}", r.stdout);
    // The same file `provision compose` writes.
    let again = b.path("again.yml");
    run(&[
        "compose",
        "--dir",
        d,
        "--out",
        again.to_str().unwrap(),
        "-q",
    ])
    .success();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&again).unwrap()
    );
    // Not part of the bundle: check is OK, the generation does not list it.
    run(&["check", "--dir", d]).code(0);
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    assert!(!m["files"].to_string().contains("docker-compose"));

    // An existing Compose file without --force: refused before the bundle is written.
    let d2 = b.path("s2");
    run_in(
        b.tmp.path(),
        &[
            "init",
            "--dir",
            d2.to_str().unwrap(),
            "--mount-dir",
            "/etc/redis/tls",
            "--compose",
        ],
    )
    .code(2)
    .stderr_has("already exists");
    assert!(!d2.exists());
    // --compose-out elsewhere; --force replaces both.
    let out = b.path("c.yml");
    run(&[
        "init",
        "--dir",
        d2.to_str().unwrap(),
        "--mount-dir",
        "/etc/redis/tls",
        "--compose",
        "--compose-out",
        out.to_str().unwrap(),
        "-q",
    ])
    .success();
    assert!(docker_compose(&out, &["config", "-q"]).0);
    std::fs::write(&out, "stale: [\n").unwrap();
    run(&[
        "init",
        "--dir",
        d2.to_str().unwrap(),
        "--mount-dir",
        "/etc/redis/tls",
        "--compose",
        "--compose-out",
        out.to_str().unwrap(),
        "--force",
        "-q",
    ])
    .success();
    assert!(
        docker_compose(&out, &["config", "-q"]).0,
        "--force replaced the stale file"
    );
    // Without --mount-dir: an error naming the fix, nothing written.
    let d3 = b.path("s3");
    run_in(
        b.tmp.path(),
        &[
            "init",
            "--dir",
            d3.to_str().unwrap(),
            "--compose",
            "--compose-out",
            "x.yml",
        ],
    )
    .code(2)
    .stderr_has("--compose needs --mount-dir");
    assert!(!d3.exists() && !b.path("x.yml").exists());
    // A broken docker-compose.yml override: nothing written either.
    let tpl = b.path("tpl");
    std::fs::create_dir(&tpl).unwrap();
    std::fs::write(
        tpl.join("docker-compose.yml"),
        "services:\n  redis:\n    image: {{ image }}\n",
    )
    .unwrap();
    run_in(
        b.tmp.path(),
        &[
            "init",
            "--dir",
            d3.to_str().unwrap(),
            "--mount-dir",
            "/etc/redis/tls",
            "--compose",
            "--compose-out",
            "x.yml",
            "--templates",
            tpl.to_str().unwrap(),
        ],
    )
    .code(2)
    .stderr_has("docker-compose.yml`, line 3: undefined value (`image`)");
    assert!(!d3.exists() && !b.path("x.yml").exists());
}

/// A bundle whose users log in by certificate goes through every output without a password
/// anywhere: env, compose (validated by docker-compose), the k8s Secrets (kubernetes-validate),
/// rotate and check. No server needed: the target is named.
#[test]
fn certificate_identity_users_have_no_password_anywhere() {
    require("docker-compose");
    let b = Bundle::empty();
    let (dir, d) = (b.dir.as_path(), b.d());
    // A target without the setting: exit 2, the versions that have it named, nothing written.
    let r = run(&[
        "init",
        "--dir",
        d,
        "--server",
        "redis-8.4",
        "--user-auth",
        "cert",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("redis-8.4 lacks") && r.stderr.contains("Redis 8.6 and newer"),
        "{}",
        r.stderr
    );
    assert!(!dir.exists());
    let r = run(&[
        "init",
        "--dir",
        d,
        "--server",
        "redis-8.6",
        "--user-auth",
        "cert",
        "--mount-dir",
        "/etc/redis/tls",
        "--json",
    ])
    .success();
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["server"]["target"], "redis-8.6", "{j}");
    for u in ["admin", "app", "monitor"] {
        assert!(!dir.join(format!("{u}.password")).exists(), "{u}.password");
    }
    assert!(read(dir, "redis.conf").contains("\ntls-auth-clients-user CN\n"));
    run(&["check", "--dir", d]).success();

    let env = run(&["env", "--dir", d, "--show-secrets"]).success().stdout;
    assert!(
        env.contains("REDIS_AUTH='cert'") && !env.contains("PASSWORD"),
        "{env}"
    );

    let file = b.path("docker-compose.yml");
    run(&["compose", "--dir", d, "--out", file.to_str().unwrap()]).success();
    let text = std::fs::read_to_string(&file).unwrap();
    let (ok, _, err) = docker_compose(&file, &["config", "-q"]);
    assert!(ok, "docker-compose config -q:\n{err}\n{text}");
    assert!(
        !text.contains("password") && !text.contains("--user"),
        "{text}"
    );
    assert!(text.contains("redis-cli --tls"), "{text}");

    let k8s = b.path("k8s.json");
    run(&[
        "backup",
        "--dir",
        d,
        "--format",
        "k8s",
        "-o",
        k8s.to_str().unwrap(),
    ])
    .success();
    let (ok, out) = k8s_validate(&k8s);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&k8s).unwrap();
    assert!(
        text.contains("\"tls.crt\"") && !text.contains("\"password\""),
        "{text}"
    );

    let r = run(&["rotate", "--dir", d, "--user", "app"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("logs in by certificate and has no password"),
        "{}",
        r.stderr
    );
    let r = run(&["rotate", "--dir", d, "--all"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no user to rotate"), "{}", r.stderr);
}

#[test]
fn readme_cert_manager_statefulset_validates_and_mounts_what_the_export_names() {
    let block = &readme_block("<!-- k8s-cert-manager-statefulset", "yaml");
    let t = tempdir();
    let file = t.path().join("statefulset.yaml");
    std::fs::write(&file, block).unwrap();
    let (ok, report) = k8s_validate(&file);
    assert!(ok, "{report}\n{block}");
    assert!(
        report.contains("passed for resource statefulset/redis"),
        "{report}"
    );
    // Every Secret and ConfigMap it mounts is one the export writes (or trust-manager makes
    // from its Bundle), under the names redis.conf expects.
    let b = Bundle::init(&["--mount-dir", "/etc/redis/tls", "--bind", "0.0.0.0"]);
    let (_, docs) = crate::certmanager::export_cm(&b, &[]);
    let named = |kind: &str, name: &str| {
        docs.iter().any(|d| {
            d["kind"] == kind && (d["metadata"]["name"] == name || d["spec"]["secretName"] == name)
        })
    };
    for (kind, name) in [
        ("Certificate", "redis-tls"),
        ("Bundle", "redis-ca"),
        ("Secret", "redis-config"),
        ("Secret", "redis-user-admin"),
        ("Certificate", "redis-user-admin-tls"),
    ] {
        assert!(named(kind, name), "the export has no {kind} {name}");
        assert!(
            block.contains(&format!("name: {name} ")) || block.contains(&format!("name: {name}\n")),
            "README snippet does not mount {name}"
        );
    }
    for want in [
        "command: [\"redis-server\", \"/etc/redis/tls/redis.conf\"]",
        "path: redis.crt",
        "path: redis.key",
        "path: ca.crt",
        "\"--watch\", \"/etc/redis/tls\"",
        "\"--credentials\", \"/etc/redis/admin\"",
        "mountPath: /etc/redis/admin",
    ] {
        assert!(block.contains(want), "README snippet lacks {want:?}");
    }
    // The sidecar's command line is one provision accepts.
    let args: Vec<&str> = vec![
        "reload",
        "--watch",
        "/nonexistent/tls",
        "--redis",
        "localhost:6379",
        "--credentials",
        "/nonexistent/admin",
    ];
    let r = run(&args);
    assert!(!r.stderr.contains("Usage:"), "{}", r.stderr);
}
