//! Topology bundles proven live on loopback with the Debian redis-server: a primary with two
//! replicas (replication over TLS as the `replication` ACL user, renew --reload and a full
//! rotation of the replication user without breaking the link, a replica restarted from its
//! files), and a Redis Cluster created with `redis-cli --cluster create --tls`.

mod common;
use common::*;
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

fn start_node(dir: &Path, name: &str, port: u16, root: &Path) -> Redis {
    let work = root.join(format!("work-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    Redis::start_conf(dir, &format!("{name}.conf"), port, &work)
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
    let t = tempdir();
    let dir = t.path().join("secrets");
    let base = free_ports(3, false);
    run(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
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
        "--quiet",
    ])
    .success();
    // Per-node files, one shared masterauth include, no password in any redis.conf.
    let pw = read(&dir, "replication.password");
    for n in ["redis-1", "redis-2", "redis-3"] {
        assert_eq!(mode_of(&dir.join(format!("{n}.key"))), 0o600);
        let conf = read(&dir, &format!("{n}.conf"));
        assert!(!conf.contains(pw.trim()), "{n}.conf holds the password");
        assert!(conf.contains("masterauth.conf"), "{conf}");
        assert_eq!(conf.contains("replicaof"), n != "redis-1");
    }
    assert_eq!(mode_of(&dir.join("masterauth.conf")), 0o600);
    assert!(read(&dir, "users.acl").contains("user replication on #"));
    run(&["check", "--dir", dir.to_str().unwrap()]).success();

    let primary = start_node(&dir, "redis-1", base, t.path());
    let r2 = start_node(&dir, "redis-2", base + 1, t.path());
    let r3 = start_node(&dir, "redis-3", base + 2, t.path());
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
    let before = read(&dir, "redis-2.crt");
    run(&[
        "renew",
        "--dir",
        dir.to_str().unwrap(),
        "--force",
        "--reload",
    ])
    .success();
    assert_ne!(read(&dir, "redis-2.crt"), before);
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
    let new_pw = read(&dir, "replication.password");
    assert_ne!(new_pw, pw);
    assert!(read(&dir, "masterauth.conf").contains(new_pw.trim()));
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
    let r3 = start_node(&dir, "redis-3", base + 2, t.path());
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
    let t = tempdir();
    let dir = t.path().join("secrets");
    let base = free_ports(3, true);
    run(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--topology",
        "cluster",
        "--nodes",
        "3",
        "--host",
        "127.0.0.1",
        "--port",
        &base.to_string(),
        "--quiet",
    ])
    .success();
    let conf = read(&dir, "redis-1.conf");
    assert!(conf.contains("cluster-enabled yes") && conf.contains("tls-cluster yes"));
    let nodes: Vec<Redis> = (0..3)
        .map(|i| start_node(&dir, &format!("redis-{}", i + 1), base + i, t.path()))
        .collect();
    // redis-cli --cluster create as admin: password from the file via REDISCLI_AUTH.
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
