//! Topology bundles proven live on loopback with the Debian redis-server: a primary with two
//! replicas (replication over TLS as the `replication` ACL user, renew --reload and a full
//! rotation of the replication user without breaking the link, a replica restarted from its
//! files), and a Redis Cluster created with `redis-cli --cluster create --tls`.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn field(info: &str, key: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("{key}:"))
            .map(|v| v.trim().to_string())
    })
}

fn link_up(r: &Redis) -> bool {
    field(
        &r.cli_as("admin", &["INFO", "replication"]),
        "master_link_status",
    )
    .as_deref()
        == Some("up")
}

#[test]
fn replication_over_tls_survives_renew_rotate_and_restart() {
    require("redis-server");
    require("redis-cli");
    let base = free_ports(3, false);
    let b = Bundle::init(&[
        "--topology",
        "replication",
        "--nodes",
        "3",
        "--host",
        "127.0.0.1",
        "--host",
        "localhost",
        "--port",
        &base.to_string(),
    ]);
    let dir = b.dir.as_path();
    // Per-node files, one shared masterauth include, no password in any redis.conf.
    let pw = read(dir, "replication.password");
    for n in ["redis-1", "redis-2", "redis-3"] {
        assert_eq!(mode_of(&dir.join(format!("{n}.key"))), 0o600);
        let conf = read(dir, &format!("{n}.conf"));
        assert!(!conf.contains(pw.trim()), "{n}.conf holds the password");
        assert!(conf.contains("masterauth.conf"), "{conf}");
        assert_eq!(conf.contains("replicaof"), n != "redis-1");
    }
    assert_eq!(mode_of(&dir.join("masterauth.conf")), 0o600);
    assert!(read(dir, "users.acl").contains("user replication on #"));
    run(&["check", "--dir", dir.to_str().unwrap()]).success();

    let primary = start_node(dir, "redis-1", base, b.tmp.path());
    let r2 = start_node(dir, "redis-2", base + 1, b.tmp.path());
    let r3 = start_node(dir, "redis-3", base + 2, b.tmp.path());
    for r in [&r2, &r3] {
        wait_for("the replica link", Duration::from_secs(15), || {
            link_up(r).then_some(String::new())
        });
    }
    assert_eq!(primary.cli_as("app", &["SET", "app:k", "v1"]), "OK");
    // WAIT answers how many replicas acknowledged the write.
    assert_eq!(primary.cli_as("admin", &["WAIT", "2", "5000"]), "2");
    assert_eq!(r2.cli_as("app", &["GET", "app:k"]), "v1");
    assert_eq!(r3.cli_as("app", &["GET", "app:k"]), "v1");
    // The replication user can do nothing else.
    let denied = primary.cli_as("replication", &["GET", "app:k"]);
    assert!(denied.contains("NOPERM"), "{denied}");

    // Certificates renewed and hot-reloaded on all three nodes; the links stay up.
    let before = read(dir, "redis-2.crt");
    run(&[
        "renew",
        "--dir",
        dir.to_str().unwrap(),
        "--force",
        "--reload",
    ])
    .success();
    assert_ne!(read(dir, "redis-2.crt"), before);
    assert!(link_up(&r2) && link_up(&r3));
    assert_eq!(primary.cli_as("app", &["SET", "app:k", "v2"]), "OK");
    assert_eq!(primary.cli_as("admin", &["WAIT", "2", "5000"]), "2");

    // Rotate the replication user: nodes learn the new password and send it from now on.
    run(&[
        "rotate",
        "--dir",
        dir.to_str().unwrap(),
        "--user",
        "replication",
        "--reload",
    ])
    .success();
    let new_pw = read(dir, "replication.password");
    assert_ne!(new_pw, pw);
    assert!(read(dir, "masterauth.conf").contains(new_pw.trim()));
    let config = primary.renamed("CONFIG");
    let ma = r2.cli_as("admin", &[&config, "GET", "masterauth"]);
    assert!(
        ma.contains(new_pw.trim()),
        "masterauth not changed live: {ma}"
    );
    run(&[
        "rotate",
        "--dir",
        dir.to_str().unwrap(),
        "--user",
        "replication",
        "--finish",
        "--reload",
    ])
    .success();
    assert!(link_up(&r2) && link_up(&r3), "rotation broke a link");
    // The old password is refused everywhere now.
    let old = primary.cli_raw(
        Some(("replication", pw.trim())),
        Some("replication"),
        &["PING"],
    );
    assert!(old.contains("WRONGPASS"), "{old}");

    // A replica restarted from its files (new certificate, new masterauth) resyncs.
    drop(r3);
    let r3 = start_node(dir, "redis-3", base + 2, b.tmp.path());
    wait_for(
        "the restarted replica's link",
        Duration::from_secs(15),
        || link_up(&r3).then_some(String::new()),
    );
    assert_eq!(primary.cli_as("app", &["SET", "app:k", "v3"]), "OK");
    assert_eq!(primary.cli_as("admin", &["WAIT", "2", "5000"]), "2");
    assert_eq!(r3.cli_as("app", &["GET", "app:k"]), "v3");
    run(&["check", "--dir", dir.to_str().unwrap()]).success();
}

#[test]
fn cluster_of_three_created_over_tls_serves_keys_across_slots() {
    require("redis-server");
    require("redis-cli");
    let base = free_ports(3, true);
    let b = topology_bundle("cluster", 3, base);
    let dir = b.dir.as_path();
    let conf = read(dir, "redis-1.conf");
    assert!(conf.contains("cluster-enabled yes") && conf.contains("tls-cluster yes"));
    let nodes: Vec<Redis> = (0..3)
        .map(|i| start_node(dir, &format!("redis-{}", i + 1), base + i, b.tmp.path()))
        .collect();
    // redis-cli --cluster create as admin: password from the file via REDISCLI_AUTH.
    let addrs: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    let out = Command::new("redis-cli")
        .env_clear()
        .env("REDISCLI_AUTH", read(dir, "admin.password").trim())
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
    assert!(
        text.contains("All 16384 slots covered"),
        "cluster create failed:\n{text}"
    );
    wait_for("cluster_state:ok", Duration::from_secs(20), || {
        nodes
            .iter()
            .all(|n| {
                field(&n.cli_as("admin", &["CLUSTER", "INFO"]), "cluster_state").as_deref()
                    == Some("ok")
            })
            .then_some(String::new())
    });
    // Keys in different slots, written and read as app with -c (follow redirects).
    for i in 0..20 {
        let key = format!("app:key{i}");
        let set = nodes[0].cli_as("app", &["-c", "SET", &key, &format!("v{i}")]);
        assert_eq!(set, "OK", "SET {key}: {set}");
    }
    let mut slots_seen = std::collections::HashSet::new();
    for i in 0..20 {
        let key = format!("app:key{i}");
        assert_eq!(
            nodes[2].cli_as("app", &["-c", "GET", &key]),
            format!("v{i}")
        );
        slots_seen.insert(nodes[0].cli_as("admin", &["CLUSTER", "KEYSLOT", &key]));
    }
    assert!(slots_seen.len() > 10, "keys did not spread over slots");
    run(&["check", "--dir", dir.to_str().unwrap()]).success();
}

#[test]
fn sentinels_fail_over_over_tls_and_clients_find_the_new_primary() {
    require("redis-server");
    require("redis-cli");
    let base = free_ports(3, false);
    let sbase = free_ports(3, false);
    let toml = sentinel_config(base, sbase, "\"127.0.0.1\", \"localhost\"");
    let b = Bundle::with_config(&toml, &[]);
    let dir = b.dir.as_path();
    let s1 = read(dir, "sentinel-1.conf");
    assert!(
        s1.contains(&format!("sentinel monitor mymaster 127.0.0.1 {base} 2")),
        "{s1}"
    );
    assert!(s1.contains("sentinel auth-user mymaster sentinel"));
    let config = renamed_in(dir, "CONFIG");
    // A Sentinel reaches the renamed CONFIG of the nodes it watches (and none when it is not).
    assert_eq!(
        s1.contains(&format!("sentinel rename-command mymaster CONFIG {config}")),
        config != "CONFIG",
        "{s1}"
    );
    run(&["check", "--dir", dir.to_str().unwrap()]).success();

    let primary = start_node(dir, "redis-1", base, b.tmp.path());
    let r2 = start_node(dir, "redis-2", base + 1, b.tmp.path());
    let r3 = start_node(dir, "redis-3", base + 2, b.tmp.path());
    for r in [&r2, &r3] {
        wait_for("the replica link", Duration::from_secs(15), || {
            link_up(r).then_some(String::new())
        });
    }
    let _sentinels: Vec<Sentinel> = (1..=3)
        .map(|i| start_sentinel(dir, &format!("sentinel-{i}"), b.tmp.path()))
        .collect();
    // Every Sentinel sees the two replicas and the two other Sentinels (over TLS, with ACL).
    for i in 0..3 {
        wait_for(
            "Sentinels to discover each other",
            Duration::from_secs(20),
            || {
                let m = cli_user(dir, sbase + i, "admin", &["SENTINEL", "MASTER", "mymaster"]);
                let lines: Vec<&str> = m.lines().collect();
                let get = |k: &str| {
                    lines
                        .iter()
                        .position(|l| *l == k)
                        .and_then(|p| lines.get(p + 1))
                        .map(|v| v.to_string())
                };
                (get("num-slaves").as_deref() == Some("2")
                    && get("num-other-sentinels").as_deref() == Some("2"))
                .then_some(String::new())
            },
        );
    }
    assert_eq!(primary.cli_as("app", &["SET", "app:k", "before"]), "OK");
    assert_eq!(primary.cli_as("admin", &["WAIT", "2", "5000"]), "2");
    // The app user may ask where the primary is, and nothing more of Sentinel.
    let denied = cli_user(dir, sbase, "app", &["SENTINEL", "RESET", "mymaster"]);
    assert!(denied.contains("NOPERM"), "{denied}");
    let wrong = cli_tls(dir, sbase, "app", "not-the-password", &["PING"]);
    assert!(wrong.contains("WRONGPASS"), "{wrong}");

    // Rotations reach the Sentinels too: their own ACL for app, and the sentinel user's
    // password they send to the nodes and to each other.
    let d = dir.to_str().unwrap();
    let old_app = read(dir, "app.password");
    for user in ["app", "sentinel"] {
        run(&["rotate", "--dir", d, "--user", user, "--reload"]).success();
        run(&["rotate", "--dir", d, "--user", user, "--finish", "--reload"]).success();
    }
    assert_ne!(read(dir, "app.password"), old_app);
    let ok = cli_user(dir, sbase + 2, "app", &["PING"]);
    assert_eq!(ok, "PONG", "new app password refused by a Sentinel");
    let stale = cli_tls(dir, sbase, "app", old_app.trim(), &["PING"]);
    assert!(
        stale.contains("WRONGPASS"),
        "old app password still accepted by a Sentinel: {stale}"
    );
    let sp = cli_user(
        dir,
        sbase,
        "admin",
        &["SENTINEL", "CONFIG", "GET", "sentinel-pass"],
    );
    assert!(sp.contains(read(dir, "sentinel.password").trim()), "{sp}");

    // Kill the primary by its pid; a replica is promoted.
    let old = format!("127.0.0.1\n{base}");
    assert_eq!(
        cli_user(
            dir,
            sbase,
            "app",
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]
        ),
        old
    );
    drop(primary);
    let addr = wait_for("a failover", Duration::from_secs(30), || {
        let a = cli_user(
            dir,
            sbase + 1,
            "app",
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        );
        (a != old && a.starts_with("127.0.0.1\n")).then_some(a)
    });
    let new_port: u16 = addr.lines().nth(1).unwrap().parse().unwrap();
    assert!(new_port == base + 1 || new_port == base + 2, "{addr}");
    // The client reaches the new primary as app and writes; the data survived.
    let new_primary = if new_port == base + 1 { &r2 } else { &r3 };
    assert_eq!(new_primary.cli_as("app", &["GET", "app:k"]), "before");
    wait_for(
        "the new primary to accept writes",
        Duration::from_secs(10),
        || (new_primary.cli_as("app", &["SET", "app:k", "after"]) == "OK").then_some(String::new()),
    );
    let role = new_primary.cli_as("admin", &["ROLE"]);
    assert!(role.starts_with("master"), "{role}");
}

/// `NAME=value` lines of `env --format github`.
fn env_vars(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Checks init's human summary of a topology bundle against the disk: every absolute path it
/// names exists, it names every node and Sentinel config by absolute path, and no node or
/// Sentinel certificate is labelled a client certificate.
fn check_summary(summary: &str, dir: &Path) {
    let mut named = std::collections::BTreeSet::new();
    for tok in summary.split_whitespace() {
        // Absolute paths only (`work/redis-1` is relative, made by the commands shown).
        let path = tok
            .trim_start_matches(['"', '('])
            .trim_end_matches(['"', ')', ',', ':', ';']);
        if !path.starts_with('/') {
            continue;
        }
        assert!(
            Path::new(path).exists(),
            "the summary names {path}, which does not exist:\n{summary}"
        );
        named.insert(path.to_string());
    }
    assert!(
        !summary.contains(dir.join("redis.conf").to_str().unwrap()),
        "{summary}"
    );
    let mut confs = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let node = name.starts_with("redis-") || name.starts_with("sentinel-");
        if node && name.ends_with(".conf") {
            confs += 1;
            let p = dir.join(&name);
            assert!(
                named.contains(p.to_str().unwrap()),
                "the summary does not name {}:\n{summary}",
                p.display()
            );
        }
        if node && name.ends_with(".crt") {
            let line = summary
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(name.as_str()))
                .unwrap_or_else(|| panic!("no line for {name}:\n{summary}"));
            assert!(
                line.contains("(server+client)") && !line.contains(" client "),
                "{line}"
            );
        }
    }
    assert!(confs >= 3, "no node configs in {}", dir.display());
    // What nodes and Sentinels write (dump.rdb, Sentinel's rewritten config with passwords)
    // stays private: every start line sets umask 077.
    for l in summary.lines().filter(|l| l.contains(" redis-server ")) {
        assert!(l.trim_start().starts_with("(umask 077 && "), "{l}");
    }
}

#[test]
fn env_and_init_summary_describe_cluster_replication_and_sentinel_bundles() {
    let t = tempdir();
    let d = |n: &str| t.path().join(n);
    // Cluster of 6 on 27000..: three primaries with one replica each.
    let cluster = d("cluster");
    let init = run(&[
        "init",
        "--dir",
        cluster.to_str().unwrap(),
        "--topology",
        "cluster",
        "--nodes",
        "6",
        "--host",
        "127.0.0.1",
        "--port",
        "27000",
    ])
    .success();
    check_summary(&init.stdout, &cluster);
    let addrs: Vec<String> = (0..6).map(|i| format!("127.0.0.1:{}", 27000 + i)).collect();
    assert!(
        init.stdout.contains(&format!(
            "--user admin --cluster create {} --cluster-replicas 1",
            addrs.join(" ")
        )),
        "{}",
        init.stdout
    );
    assert!(
        init.stdout.contains("redis-cli -c --tls"),
        "{}",
        init.stdout
    );
    assert!(
        !init
            .stdout
            .contains(read(&cluster, "admin.password").trim()),
        "a password reached the summary"
    );
    let env = env_vars(
        &run(&[
            "env",
            "--dir",
            cluster.to_str().unwrap(),
            "--format",
            "github",
        ])
        .success()
        .stdout,
    );
    assert_eq!(env["REDIS_TOPOLOGY"], "cluster");
    assert_eq!(env["REDIS_HOST"], "127.0.0.1");
    assert_eq!(env["REDIS_PORT"], "27000");
    assert_eq!(env["REDIS_NODES"], addrs.join(","));
    assert!(!env.contains_key("REDIS_SENTINELS") && !env.contains_key("REDIS_MASTER_NAME"));

    // Replication of 3 on 28000..: redis-1 primary.
    let repl = d("replication");
    let init = run(&[
        "init",
        "--dir",
        repl.to_str().unwrap(),
        "--topology",
        "replication",
        "--nodes",
        "3",
        "--port",
        "28000",
    ])
    .success();
    check_summary(&init.stdout, &repl);
    assert!(
        init.stdout.contains("replica of redis-1 (127.0.0.1:28000)"),
        "{}",
        init.stdout
    );
    assert!(!init.stdout.contains("--cluster"), "{}", init.stdout);
    let env = env_vars(
        &run(&["env", "--dir", repl.to_str().unwrap(), "--format", "github"])
            .success()
            .stdout,
    );
    assert_eq!(env["REDIS_TOPOLOGY"], "replication");
    assert_eq!(env["REDIS_PORT"], "28000");
    assert_eq!(
        env["REDIS_NODES"],
        "127.0.0.1:28000,127.0.0.1:28001,127.0.0.1:28002"
    );

    // Sentinels from a config file: nodes on 29000.., Sentinels on 29100.. (spec port stays
    // the default: REDIS_PORT must still be the primary's).
    let sent = d("sentinel");
    let cfg = d("provision.toml");
    std::fs::write(
        &cfg,
        sentinel_config(29000, 29100, "\"127.0.0.1\", \"localhost\""),
    )
    .unwrap();
    let init = run(&[
        "init",
        "--dir",
        sent.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ])
    .success();
    check_summary(&init.stdout, &sent);
    assert!(
        init.stdout
            .contains("SENTINEL GET-MASTER-ADDR-BY-NAME mymaster")
            && init
                .stdout
                .contains("redis-server sentinel.conf --sentinel"),
        "{}",
        init.stdout
    );
    let sentinels = "127.0.0.1:29100,127.0.0.1:29101,127.0.0.1:29102";
    let nodes = "127.0.0.1:29000,127.0.0.1:29001,127.0.0.1:29002";
    for format in ["shell", "github", "dotenv"] {
        let out = run(&["env", "--dir", sent.to_str().unwrap(), "--format", format])
            .success()
            .stdout;
        for (k, v) in [
            ("REDIS_TOPOLOGY", "sentinel"),
            ("REDIS_PORT", "29000"),
            ("REDIS_NODES", nodes),
            ("REDIS_SENTINELS", sentinels),
            ("REDIS_MASTER_NAME", "mymaster"),
        ] {
            let line = match format {
                "shell" => format!("export {k}='{v}'\n"),
                "github" => format!("{k}={v}\n"),
                _ => format!("{k}='{v}'\n"),
            };
            assert!(out.contains(&line), "{format} lacks {line:?}:\n{out}");
        }
    }
    let json: serde_json::Value = serde_json::from_str(
        &run(&["--json", "env", "--dir", sent.to_str().unwrap()])
            .success()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["vars"]["REDIS_SENTINELS"], sentinels);
    assert_eq!(json["vars"]["REDIS_NODES"], nodes);
    assert_eq!(json["vars"]["REDIS_MASTER_NAME"], "mymaster");
    assert!(json["vars"].get("REDIS_PASSWORD").is_none());
}
