//! `provision user`: users after day one. On disk: one generation per change, bad input
//! changes nothing, a removed user's certificate is recorded as revoked. Live against a real
//! redis-server: the change reaches the node with ACL SETUSER/DELUSER, a disabled user's open
//! connection is closed, another user's held connection survives every command, a restarted
//! node reads the same users, and a node that is down is named while the bundle is committed.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// The serial of a certificate file as openssl prints it (upper-case hex).
fn serial_of(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}

fn acl_line(dir: &Path, user: &str) -> String {
    read(dir, "users.acl")
        .lines()
        .find(|l| l.starts_with(&format!("user {user} ")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bad_user_changes_are_refused_and_write_nothing() {
    let b = Bundle::init(&[]);
    let ds = b.d();
    let before = snapshot(&b.dir);
    let cases: &[(&[&str], &str)] = &[
        (&["add", "bad name"], "invalid user name"),
        (&["add", "app"], "already has a user `app`"),
        (&["add", "APP"], "already has a user `app`"),
        (&["add", "x", "--keys", "~x"], "pattern"),
        (
            &["add", "x", "--rules", "+nosuchcommand"],
            "not a Redis 7.0 command",
        ),
        (
            &["add", "x", "--role", "monitor", "--keys", "a:*"],
            "takes no --keys",
        ),
        (&["add", "default"], "reserved"),
        (&["remove", "nobody"], "no user `nobody`"),
        (&["remove", "admin"], "only enabled admin"),
        (&["disable", "admin"], "only enabled admin"),
        (&["set", "monitor", "--keys", "a:*"], "fixed"),
        (&["set", "app"], "nothing to change"),
        (&["add", "x", "--redis", "nohost"], "HOST:PORT"),
    ];
    for (args, msg) in cases {
        let mut a = vec!["user"];
        a.extend_from_slice(&args[..1]);
        a.extend_from_slice(&["--dir", ds]);
        a.extend_from_slice(&args[1..]);
        run(&a).code(2).stderr_has(msg);
    }
    assert_eq!(snapshot(&b.dir), before, "a refused change wrote something");
}

#[test]
fn user_changes_on_disk_each_make_one_signed_generation() {
    let b = Bundle::init(&[]);
    let (d, ds) = (b.dir.as_path(), b.d());
    let hashes_before: Vec<Vec<String>> = ["admin", "app", "monitor"]
        .iter()
        .map(|u| acl_hashes_of(&read(d, "users.acl"), u))
        .collect();
    run(&[
        "user",
        "add",
        "orders",
        "--dir",
        ds,
        "--keys",
        "orders:*",
        "--channels",
        "orders:*",
    ])
    .success()
    .stdout_has("Added user `orders`");
    assert_eq!(mode_of(&d.join("orders.crt")), 0o644);
    assert_eq!(mode_of(&d.join("orders.key")), 0o600);
    assert_eq!(mode_of(&d.join("orders.password")), 0o600);
    // Issued by the bundle's CA, as openssl sees it.
    let v = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(d.join("ca.crt"))
        .arg(d.join("orders.crt"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let line = acl_line(d, "orders");
    assert!(
        line.contains(" on #") && line.contains("~orders:*") && line.contains("&orders:*"),
        "{line}"
    );
    assert_eq!(
        acl_hashes_of(&read(d, "users.acl"), "orders"),
        [sha256sum(&d.join("orders.password"))]
    );
    // Nobody else's password changed.
    for (u, h) in ["admin", "app", "monitor"].iter().zip(&hashes_before) {
        assert_eq!(&acl_hashes_of(&read(d, "users.acl"), u), h, "{u}");
    }
    run(&["check", "--dir", ds]).code(0);

    let list = run(&["user", "list", "--dir", ds, "--json"]).success();
    let j: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let orders = j["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "orders")
        .expect("orders listed");
    assert_eq!(orders["state"], "enabled");
    assert_eq!(orders["keys"], serde_json::json!(["orders:*"]));

    run(&[
        "user",
        "set",
        "orders",
        "--dir",
        ds,
        "--keys",
        "orders:*",
        "--keys",
        "carts:*",
        "--no-channels",
    ])
    .success();
    let line = acl_line(d, "orders");
    assert!(
        line.contains("~orders:* ~carts:*") && !line.contains('&'),
        "{line}"
    );
    run(&["user", "disable", "orders", "--dir", ds]).success();
    assert!(acl_line(d, "orders").starts_with("user orders off #"));
    run(&["check", "--dir", ds]).code(0);
    run(&["user", "list", "--dir", ds])
        .success()
        .stdout_has("disabled");
    run(&["user", "enable", "orders", "--dir", ds]).success();
    assert!(acl_line(d, "orders").starts_with("user orders on #"));

    let serial = serial_of(&d.join("orders.crt"));
    run(&["user", "remove", "orders", "--dir", ds])
        .success()
        .stdout_has("revoked");
    for f in ["orders.crt", "orders.key", "orders.password"] {
        assert!(!d.join(f).exists(), "{f} left behind");
    }
    assert_eq!(acl_line(d, "orders"), "");
    let m: serde_json::Value = serde_json::from_str(&read(d, "manifest.json")).unwrap();
    let revoked = &m["revoked"][0];
    assert_eq!(revoked["user"], "orders");
    assert_eq!(
        revoked["serial"].as_str().unwrap().to_ascii_uppercase(),
        serial
    );
    run(&["check", "--dir", ds]).code(0);

    // One audit line per change, naming who made it, never a password.
    let audit = read(d, "audit.log");
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    for line in audit.lines().filter(|l| l.contains("\"user-")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["by"]["uid"].to_string(), uid.trim(), "{line}");
        assert_eq!(v["user"], "orders", "{line}");
    }
    for a in [
        "user-add",
        "user-set",
        "user-disable",
        "user-enable",
        "user-remove",
    ] {
        assert_eq!(audit.matches(&format!("\"{a}\"")).count(), 1, "{a}");
    }
    for u in ["admin", "app", "monitor"] {
        assert!(!audit.contains(read(d, &format!("{u}.password")).trim()));
    }
}

/// A standalone bundle with its redis-server running, and app's connection held open.
struct LiveNode {
    b: Bundle,
    port: u16,
    redis: Redis,
    held: redis::Connection,
    _work: tempfile::TempDir,
}

fn live_node() -> LiveNode {
    let port = free_port();
    let b = Bundle::init(&["--port", &port.to_string()]);
    let work = tempdir();
    let redis = Redis::start(&b.dir, port, work.path());
    let held = app_client(&b.dir, &b.dir, port);
    LiveNode {
        b,
        port,
        redis,
        held,
        _work: work,
    }
}

/// ACL LIST, normalized (see `normalized_acl`).
fn acl_list(r: &Redis) -> Vec<Vec<String>> {
    normalized_acl(&r.cli_as("admin", &["ACL", "LIST"]))
}

/// ACL GETUSER as the admin, by redis-cli.
fn getuser(r: &Redis, user: &str) -> String {
    r.cli_as("admin", &["ACL", "GETUSER", user])
}

#[test]
fn user_changes_apply_live_and_other_connections_survive() {
    // app's connection is held open across every command below.
    let LiveNode {
        b,
        port,
        mut redis,
        mut held,
        _work: work,
    } = live_node();
    let (d, ds) = (b.dir.as_path(), b.d());
    let node = format!("127.0.0.1:{port}");
    let held_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut held).unwrap();
    let still_there = |held: &mut redis::Connection| {
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query(held)
            .expect("held connection alive");
        assert_eq!(id, held_id);
    };

    let out = run(&[
        "user", "add", "orders", "--dir", ds, "--keys", "orders:*", "--reload", "--json",
    ])
    .success();
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j["nodes"][0]["node"], node.as_str());
    assert_eq!(j["nodes"][0]["state"], "updated");
    let mut orders =
        client_as(d, d, port, "orders", None).expect("orders logs in without a restart");
    let ok: String = redis::cmd("SET")
        .arg("orders:1")
        .arg("x")
        .query(&mut orders)
        .unwrap();
    assert_eq!(ok, "OK");
    let denied = redis::cmd("SET")
        .arg("other:1")
        .arg("x")
        .query::<String>(&mut orders);
    assert!(
        format!("{denied:?}").to_lowercase().contains("noperm"),
        "{denied:?}"
    );
    still_there(&mut held);

    // set: the patterns change live, on the open connection too.
    run(&[
        "user", "set", "orders", "--dir", ds, "--keys", "orders:*", "--keys", "carts:*", "--reload",
    ])
    .success()
    .stdout_has("updated");
    let ok: String = redis::cmd("SET")
        .arg("carts:1")
        .arg("x")
        .query(&mut orders)
        .unwrap();
    assert_eq!(ok, "OK");
    still_there(&mut held);

    // Pushing what the node already has changes nothing there.
    let out = run(&[
        "user", "enable", "orders", "--dir", ds, "--reload", "--json",
    ])
    .success();
    assert!(out.stdout.contains("\"in_sync\""), "{}", out.stdout);

    // disable: its open connection is closed, a new login refused.
    run(&["user", "disable", "orders", "--dir", ds, "--reload"]).success();
    let gone = redis::cmd("PING").query::<String>(&mut orders);
    assert!(
        gone.is_err(),
        "a disabled user's connection stays open: {gone:?}"
    );
    assert!(client_as(d, d, port, "orders", None).is_err());
    assert!(getuser(&redis, "orders").contains("off"));
    still_there(&mut held);

    run(&["user", "enable", "orders", "--dir", ds, "--reload"]).success();
    let mut orders = client_as(d, d, port, "orders", None).expect("enabled again");
    let pong: String = redis::cmd("PING").query(&mut orders).unwrap();
    assert_eq!(pong, "PONG");

    // remove: gone from the node and its connection closed.
    run(&["user", "remove", "orders", "--dir", ds, "--reload"])
        .success()
        .stdout_has("updated");
    assert!(redis::cmd("PING").query::<String>(&mut orders).is_err());
    assert_eq!(getuser(&redis, "orders"), "");
    still_there(&mut held);

    // A node that is down: named, the other node still changed, the bundle committed, exit 1.
    let dead = free_port();
    run(&[
        "user",
        "add",
        "billing",
        "--dir",
        ds,
        "--reload",
        "--redis",
        &format!("127.0.0.1:{dead}"),
    ])
    .code(1)
    .stderr_has(&format!("127.0.0.1:{dead}"))
    .stdout_has("unreachable");
    assert!(
        d.join("billing.crt").exists(),
        "the bundle was not committed"
    );
    client_as(d, d, port, "billing", None).expect("the live node was still changed");
    still_there(&mut held);
    run(&["check", "--dir", ds]).code(0);

    // A restarted node reads the same users from users.acl.
    let live_acl = acl_list(&redis);
    drop(held);
    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    redis = Redis::start(d, port, work.path());
    assert_eq!(acl_list(&redis), live_acl);
    assert!(redis
        .cli_as("admin", &["ACL", "LIST"])
        .contains("user billing on"));
    assert_eq!(getuser(&redis, "orders"), "");
    // No provision probe user is left behind.
    assert!(
        !live_acl
            .iter()
            .flatten()
            .any(|t| t.contains("provision-verify")),
        "{live_acl:?}"
    );
}

#[test]
fn a_replication_bundle_with_a_node_down_changes_the_others_and_the_bundle() {
    require("redis-server");
    let base = free_ports(3, false);
    let b = topology_bundle("replication", 3, base);
    let (d, ds) = (b.dir.as_path(), b.d());
    let start = |name: &str, port: u16| start_node(d, name, port, b.tmp.path());
    let r1 = start("redis-1", base);
    let r2 = start("redis-2", base + 1);
    // redis-3 is down.
    let down = format!("127.0.0.1:{}", base + 2);
    let mut held = app_client(d, d, base);
    let out = run(&[
        "user", "add", "orders", "--dir", ds, "--keys", "orders:*", "--reload",
    ])
    .code(1)
    .stderr_has(&down);
    assert_eq!(out.stdout.matches("updated").count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("unreachable {down}")),
        "{}",
        out.stdout
    );
    assert!(d.join("orders.crt").exists());
    for port in [base, base + 1] {
        let mut c = client_as(d, d, port, "orders", None).expect("orders on a live node");
        assert_eq!(ping(&mut c), "PONG");
    }
    assert_eq!(ping(&mut held), "PONG");
    // The node that was down starts from the bundle with the user already there.
    let r3 = start("redis-3", base + 2);
    let mut c = client_as(d, d, base + 2, "orders", None).expect("orders on the restarted node");
    assert_eq!(ping(&mut c), "PONG");
    // All three up: remove reaches every node.
    let out = run(&["user", "remove", "orders", "--dir", ds, "--reload"]).success();
    assert_eq!(out.stdout.matches("updated").count(), 3, "{}", out.stdout);
    for r in [&r1, &r2, &r3] {
        assert_eq!(getuser(r, "orders"), "", "node {}", r.port);
    }
    assert_eq!(ping(&mut held), "PONG");
}

#[test]
fn push_converges_a_node_that_drifted_and_names_one_that_is_down() {
    let LiveNode {
        b,
        port,
        redis,
        mut held,
        ..
    } = live_node();
    let ds = b.d();
    // Drift by hand: monitor deleted, a rogue user added, app's patterns widened.
    assert_eq!(redis.cli_as("admin", &["ACL", "DELUSER", "monitor"]), "1");
    assert_eq!(
        redis.cli_as(
            "admin",
            &["ACL", "SETUSER", "rogue", "on", ">pw", "~*", "+@all"]
        ),
        "OK"
    );
    // And a renewed certificate the node does not serve yet.
    run(&["renew", "--dir", ds, "--force"]).success();
    let out = run(&["push", "--dir", ds, "--reload", "--json"]).success();
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let n = &j["nodes"][0];
    assert_eq!(n["state"], "updated", "{n}");
    let mut changed: Vec<String> = n["users_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    changed.sort();
    assert_eq!(changed, ["monitor", "rogue"]);
    assert_eq!(n["certificate_reloaded"], true);
    assert_eq!(getuser(&redis, "rogue"), "");
    assert_eq!(redis.cli_as("monitor", &["PING"]), "PONG");
    assert_eq!(ping(&mut held), "PONG");
    // Now in line: a second push changes nothing.
    run(&["push", "--dir", ds, "--reload"])
        .success()
        .stdout_has(&format!("in sync     127.0.0.1:{port}"));
    // A node that is down.
    let dead = format!("127.0.0.1:{}", free_port());
    run(&["push", "--dir", ds, "--redis", &dead])
        .code(1)
        .stdout_has(&format!("unreachable {dead}"))
        .stderr_has(&dead);
    run(&["push", "--dir", ds]).code(2);
}

#[test]
fn a_revoked_certificate_does_not_come_back_with_rollback_or_restore() {
    let b = Bundle::init(&[]);
    let (d, ds) = (b.dir.as_path(), b.d());
    let pass = b.tmp.path().join("pass");
    std::fs::write(&pass, "a backup passphrase for this test\n").unwrap();
    let archive = b.tmp.path().join("before.age");
    let (archive_s, pass_s) = (archive.to_str().unwrap(), pass.to_str().unwrap());
    run(&[
        "backup",
        "--dir",
        ds,
        "--passphrase-file",
        pass_s,
        "-o",
        archive_s,
    ])
    .success();
    run(&["user", "remove", "app", "--dir", ds]).success();
    let after_remove = snapshot(d);
    run(&["rollback", "--dir", ds])
        .code(2)
        .stderr_has("revoked since")
        .stderr_has("app.crt: user `app`")
        .stderr_has("--allow-revoked");
    run(&[
        "restore",
        archive_s,
        "--dir",
        ds,
        "--passphrase-file",
        pass_s,
        "--force",
    ])
    .code(2)
    .stderr_has("revoked since");
    assert_eq!(
        snapshot(d),
        after_remove,
        "a refused rollback or restore changed the bundle"
    );
    run(&[
        "restore",
        archive_s,
        "--dir",
        ds,
        "--passphrase-file",
        pass_s,
        "--force",
        "--allow-revoked",
    ])
    .success();
    assert!(d.join("app.crt").exists());
    run(&["check", "--dir", ds]).code(0);
}

#[test]
fn a_sentinel_bundle_changes_the_sentinels_acl_too() {
    require("redis-server");
    let base = free_ports(3, false);
    let sbase = free_ports(3, false);
    let b = Bundle::with_config(&sentinel_config(base, sbase, "\"127.0.0.1\""), &[]);
    let (d, ds) = (b.dir.as_path(), b.d());
    let start = |name: &str, port: u16| start_node(d, name, port, b.tmp.path());
    let _nodes = [
        start("redis-1", base),
        start("redis-2", base + 1),
        start("redis-3", base + 2),
    ];
    let _sentinels: Vec<Sentinel> = (1..=3)
        .map(|i| start_sentinel(d, &format!("sentinel-{i}"), b.tmp.path()))
        .collect();
    let ask = |port: u16, user: &str| {
        cli_user(
            d,
            port,
            user,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        )
    };
    for i in 0..3 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ask(sbase + i, "admin").contains("127.0.0.1") {
            assert!(std::time::Instant::now() < deadline, "Sentinel {i} not up");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let out = run(&[
        "user", "add", "orders", "--dir", ds, "--keys", "orders:*", "--reload",
    ])
    .success();
    // Three nodes and three Sentinels.
    assert_eq!(out.stdout.matches("updated").count(), 6, "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("(Sentinel)").count(),
        3,
        "{}",
        out.stdout
    );
    for i in 0..3 {
        assert!(
            ask(sbase + i, "orders").contains(&base.to_string()),
            "Sentinel {i}"
        );
    }
    // A Sentinel that lost the user (by hand, or restarted from an old copy): push restores it.
    assert_eq!(
        cli_user(d, sbase, "admin", &["ACL", "DELUSER", "orders"]),
        "1"
    );
    let out = run(&["push", "--dir", ds, "--reload", "--json"]).success();
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let first = format!("127.0.0.1:{sbase}");
    for n in j["nodes"].as_array().unwrap() {
        let want = if n["node"] == first.as_str() {
            "updated"
        } else {
            "in_sync"
        };
        assert_eq!(n["state"], want, "{n}");
    }
    assert_eq!(j["nodes"].as_array().unwrap().len(), 6);
    assert!(ask(sbase, "orders").contains(&base.to_string()));
    run(&["user", "disable", "orders", "--dir", ds, "--reload"]).success();
    for i in 0..3 {
        let refused = ask(sbase + i, "orders");
        assert!(
            refused.contains("WRONGPASS") || refused.contains("disabled"),
            "{refused}"
        );
    }
    run(&["user", "remove", "orders", "--dir", ds, "--reload"]).success();
    for i in 0..3 {
        assert_eq!(
            cli_user(d, sbase + i, "admin", &["ACL", "GETUSER", "orders"]),
            "",
            "Sentinel {i}"
        );
    }
}

#[test]
fn a_cluster_bundle_changes_every_node() {
    require("redis-server");
    let base = free_ports(6, true);
    let b = topology_bundle("cluster", 6, base);
    let (d, ds) = (b.dir.as_path(), b.d());
    // ACL is per node and needs no slots: the nodes run in cluster mode, not yet joined.
    let nodes: Vec<Redis> = (0..6u16)
        .map(|i| start_node(d, &format!("redis-{}", i + 1), base + i, b.tmp.path()))
        .collect();
    let mut held = app_client(d, d, base);
    let out = run(&[
        "user", "add", "orders", "--dir", ds, "--keys", "orders:*", "--reload",
    ])
    .success();
    assert_eq!(out.stdout.matches("updated").count(), 6, "{}", out.stdout);
    for r in &nodes {
        let mut c = client_as(d, d, r.port, "orders", None).expect("orders on every node");
        assert_eq!(ping(&mut c), "PONG");
    }
    assert_eq!(ping(&mut held), "PONG");
    // Each node restarted from the bundle has the same users as it had live.
    drop(held);
    let live: Vec<_> = nodes.iter().map(acl_list).collect();
    drop(nodes);
    let nodes: Vec<Redis> = (0..6u16)
        .map(|i| start_node(d, &format!("redis-{}", i + 1), base + i, b.tmp.path()))
        .collect();
    for (r, before) in nodes.iter().zip(&live) {
        assert_eq!(&acl_list(r), before, "node {} after a restart", r.port);
    }
    let mut held = app_client(d, d, base);
    run(&["user", "remove", "orders", "--dir", ds, "--reload"]).success();
    for r in &nodes {
        assert_eq!(getuser(r, "orders"), "", "node {}", r.port);
    }
    assert_eq!(ping(&mut held), "PONG");
}

#[test]
fn apply_makes_the_users_what_the_config_says_and_plan_gates_on_it() {
    let LiveNode {
        b,
        port,
        redis,
        mut held,
        ..
    } = live_node();
    let (d, ds) = (b.dir.as_path(), b.d());
    let cfg = b.tmp.path().join("users.toml");
    let cfg_s = cfg.to_str().unwrap();
    let write = |users: &str| std::fs::write(&cfg, users).unwrap();
    let user = |name: &str, role: &str, extra: &str| {
        format!("[[users]]\nname = \"{name}\"\nrole = \"{role}\"\n{extra}")
    };
    write(
        &[
            user("admin", "admin", ""),
            user("app", "app", "keys = [\"app:*\"]\n"),
            user("monitor", "monitor", "disabled = true\n"),
            user("orders", "app", "keys = [\"orders:*\"]\nchannels = []\n"),
        ]
        .concat(),
    );
    let before = snapshot(d);
    let plan = run(&["apply", "--dir", ds, "--config", cfg_s, "--plan"]).code(3);
    for line in ["add      orders", "set      app", "disable  monitor"] {
        assert!(plan.stdout.contains(line), "{line}:\n{}", plan.stdout);
    }
    assert_eq!(snapshot(d), before, "--plan wrote something");

    let out = run(&["apply", "--dir", ds, "--config", cfg_s, "--reload"]).success();
    assert!(
        out.stdout
            .contains(&format!("updated     127.0.0.1:{port}")),
        "{}",
        out.stdout
    );
    let mut orders = client_as(d, d, port, "orders", None).expect("orders added live");
    assert_eq!(ping(&mut orders), "PONG");
    assert!(redis.cli_as("monitor", &["PING"]).contains("WRONGPASS"));
    assert!(redis
        .cli_as("app", &["SET", "other:1", "x"])
        .contains("NOPERM"));
    assert_eq!(redis.cli_as("app", &["SET", "app:1", "x"]), "OK");
    assert_eq!(ping(&mut held), "PONG");
    run(&["apply", "--dir", ds, "--config", cfg_s, "--plan"])
        .success()
        .stdout_has("In sync");
    run(&["check", "--dir", ds]).code(0);
    let audit = read(d, "audit.log");
    assert_eq!(audit.matches("\"apply\"").count(), 1);

    // A user the file no longer lists is removed (certificate revoked), live too.
    write(
        &[
            user("admin", "admin", ""),
            user("app", "app", "keys = [\"app:*\"]\n"),
            user("monitor", "monitor", "disabled = true\n"),
        ]
        .concat(),
    );
    run(&["apply", "--dir", ds, "--config", cfg_s, "--plan"])
        .code(3)
        .stdout_has("remove   orders");
    run(&["apply", "--dir", ds, "--config", cfg_s, "--reload"]).success();
    assert!(!d.join("orders.crt").exists());
    assert_eq!(getuser(&redis, "orders"), "");
    assert!(read(d, "manifest.json").contains("\"revoked\""));

    // Bad input: nothing written, exit 2.
    let before = snapshot(d);
    write(&user("admin", "admin", "").replace("admin\"\nrole", "ad min\"\nrole"));
    run(&["apply", "--dir", ds, "--config", cfg_s])
        .code(2)
        .stderr_has("invalid user name");
    write(&[user("admin", "admin", ""), user("app", "monitor", "")].concat());
    run(&["apply", "--dir", ds, "--config", cfg_s, "--plan"])
        .code(2)
        .stderr_has("remove it and add it again");
    write("colour = 1\n");
    run(&["apply", "--dir", ds, "--config", cfg_s])
        .code(2)
        .stderr_has("unknown field");
    assert_eq!(snapshot(d), before);
    assert_eq!(ping(&mut held), "PONG");
}
