//! Live proof: a real redis-server (Debian's package) started from a generated bundle, and
//! real clients (redis-cli, and the `redis` crate with hostname verification) talking to it
//! over TLS. Replies are read, never just exit codes: redis-cli exits 0 on ERR and NOPERM.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[track_caller]
fn expect(got: &str, want: &str, what: &str) {
    assert!(
        got.contains(want),
        "{what}: expected a reply containing {want:?}, got {got:?}"
    );
}

#[test]
fn live_access_matrix() {
    let (t, dir, port) = live_bundle(&["--app-keys", "app:*", "--app-channels", "app:*"]);
    let r = Redis::start(&dir, port, t.path());

    // Plaintext on the TLS port gets no reply.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "plaintext PING answered: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(
        log.contains("wrong version number"),
        "the TLS port did not refuse plaintext as TLS:\n{log}"
    );

    // TLS without a client certificate is refused, even with a valid password.
    let pw = read(&dir, "app.password");
    let got = r.cli_raw(Some(("app", &pw)), None, &["PING"]);
    assert!(
        !got.contains("PONG"),
        "TLS without client certificate answered: {got}"
    );
    // ... and refused for that reason, by the server's TLS layer (the client only sees the
    // connection reset).
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(
        log.contains("peer did not return a certificate"),
        "the server did not refuse a missing client certificate: {got}\n{log}"
    );

    // The default user cannot log in; no anonymous access.
    expect(
        &r.cli_raw(None, Some("app"), &["PING"]),
        "NOAUTH",
        "no AUTH",
    );
    expect(
        &r.cli_raw(Some(("default", "")), Some("app"), &["PING"]),
        "WRONGPASS",
        "default user",
    );
    expect(
        &r.cli_raw(Some(("default", "x")), Some("app"), &["PING"]),
        "WRONGPASS",
        "default user",
    );
    expect(
        &r.cli_raw(Some(("app", "wrong")), Some("app"), &["PING"]),
        "WRONGPASS",
        "wrong password",
    );
    expect(
        &r.cli_raw(
            Some(("app", &read(&dir, "admin.password"))),
            Some("app"),
            &["PING"],
        ),
        "WRONGPASS",
        "another user's password",
    );

    let (flushall, config, keys, debug, shutdown) = (
        r.renamed("FLUSHALL"),
        r.renamed("CONFIG"),
        r.renamed("KEYS"),
        r.renamed("DEBUG"),
        r.renamed("SHUTDOWN"),
    );
    let port_s = port.to_string();
    // (user, command, expected reply fragment)
    let table: Vec<(&str, Vec<&str>, &str)> = vec![
        ("app", vec!["PING"], "PONG"),
        ("app", vec!["SET", "app:k", "v1"], "OK"),
        ("app", vec!["GET", "app:k"], "v1"),
        ("app", vec!["HSET", "app:h", "f", "1"], "1"),
        ("app", vec!["PUBLISH", "app:ch", "m"], "0"),
        ("app", vec!["SET", "other:k", "v"], "NOPERM"),
        ("app", vec!["GET", "other:k"], "NOPERM"),
        ("app", vec!["PUBLISH", "other:ch", "m"], "NOPERM"),
        ("app", vec!["FLUSHALL"], "unknown command"),
        ("app", vec![&flushall], "NOPERM"),
        (
            "app",
            vec!["CONFIG", "GET", "port"],
            r.plain_refusal("CONFIG"),
        ),
        ("app", vec![&config, "GET", "port"], "NOPERM"),
        ("app", vec!["KEYS", "*"], "unknown command"),
        ("app", vec![&keys, "*"], "NOPERM"),
        (
            "app",
            vec![&debug, "SLEEP", "0"],
            "DEBUG command not allowed",
        ),
        ("app", vec![&shutdown], "NOPERM"),
        ("app", vec!["EVAL", "return 1", "0"], "NOPERM"),
        ("app", vec!["FUNCTION", "FLUSH"], "NOPERM"),
        (
            "app",
            vec![
                "FUNCTION",
                "LOAD",
                "#!lua name=x\nredis.register_function('f', function() return 1 end)",
            ],
            "NOPERM",
        ),
        ("app", vec!["ACL", "LIST"], "NOPERM"),
        ("app", vec!["ACL", "SETUSER", "app", "+@all"], "NOPERM"),
        ("app", vec!["MODULE", "LIST"], "NOPERM"),
        ("app", vec!["CLIENT", "KILL", "TYPE", "normal"], "NOPERM"),
        ("monitor", vec!["PING"], "PONG"),
        ("monitor", vec!["INFO", "server"], "redis_version:"),
        ("monitor", vec!["CLIENT", "LIST"], "id="),
        ("monitor", vec!["SLOWLOG", "GET"], "NOPERM"),
        ("monitor", vec!["GET", "app:k"], "NOPERM"),
        ("monitor", vec!["SET", "app:k", "x"], "NOPERM"),
        ("monitor", vec![&config, "GET", "masterauth"], "NOPERM"),
        ("monitor", vec!["ACL", "LIST"], "NOPERM"),
        ("admin", vec!["ACL", "WHOAMI"], "admin"),
        (
            "admin",
            vec!["CONFIG", "GET", "tls-port"],
            if config == "CONFIG" {
                &port_s
            } else {
                "unknown command"
            },
        ),
        ("admin", vec![&config, "GET", "tls-port"], &port_s),
        (
            "admin",
            vec![&config, "SET", "dir", "/tmp"],
            "protected config",
        ),
        ("admin", vec!["ACL", "LIST"], "user default off"),
        ("admin", vec!["GET", "app:k"], "v1"),
    ];
    for (user, cmd, want) in &table {
        let got = r.cli_as(user, cmd);
        expect(&got, want, &format!("{user} {}", cmd[0]));
        if !["NOPERM", "unknown", "not allowed", "protected"]
            .iter()
            .any(|d| want.contains(d))
        {
            assert!(
                !got.contains("NOPERM") && !got.contains("ERR"),
                "{user} {cmd:?} refused: {got}"
            );
        }
    }
    // monitor reads the slowlog's length (a number), not its entries.
    let len = r.cli_as("monitor", &["SLOWLOG", "LEN"]);
    assert!(
        len.trim().parse::<u64>().is_ok(),
        "monitor SLOWLOG LEN: {len:?}"
    );
    // The data written is still there: nothing above flushed it.
    expect(&r.cli_as("app", &["GET", "app:k"]), "v1", "data survives");
    // The ACL loaded from the file: default user off, passwords only as hashes.
    let acl = r.cli_as("admin", &["ACL", "LIST"]);
    assert!(
        !acl.contains(&read(&dir, "app.password")),
        "plaintext password in ACL LIST"
    );
    eprintln!("live matrix: {} commands checked", table.len());
    // README.md states this count.
    assert_eq!(
        table.len(),
        37,
        "update the count in README.md (tests, live)"
    );
}

#[test]
fn live_real_client_library_verifies_the_hostname() {
    let (t, dir, port) = live_bundle(&[]);
    let _r = Redis::start(&dir, port, t.path());
    let mut con = client_at("localhost", &dir, &dir, port, "app", None)
        .expect("connect to localhost with hostname verification");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");

    // Negative control: the same server, reached through a name that is not in its SANs,
    // must fail verification. A bundle whose server certificate lacks `localhost`:
    let (t2, dir2, port2) = live_bundle(&["--host", "redis.internal", "--host", "127.0.0.1"]);
    let _r2 = Redis::start(&dir2, port2, t2.path());
    let err = client_at("localhost", &dir2, &dir2, port2, "app", None)
        .err()
        .expect("hostname mismatch must fail");
    assert!(
        err.to_string()
            .contains("certificate not valid for name \"localhost\""),
        "unexpected error: {err}"
    );
}

/// Other key types and options, each proven by a live server.
#[test]
fn live_key_types_and_options() {
    for (extra, check) in [
        (
            vec!["--key-type", "ed25519", "--no-persistence"],
            "persistence",
        ),
        (
            vec!["--key-type", "ecdsa-p384", "--disable-commands"],
            "disabled",
        ),
        (vec!["--key-type", "rsa-2048"], "plain"),
    ] {
        let (t, dir, port) = live_bundle(&extra);
        let r = Redis::start(&dir, port, t.path());
        expect(&r.cli_as("app", &["PING"]), "PONG", &format!("{extra:?}"));
        match check {
            "persistence" => {
                let c = r.renamed("CONFIG");
                assert_eq!(
                    r.cli_as("admin", &[&c, "GET", "save"]),
                    "save",
                    "save is empty"
                );
                expect(
                    &r.cli_as("admin", &[&c, "GET", "appendonly"]),
                    "no",
                    "aof off",
                );
                expect(
                    &r.cli_as("admin", &[&c, "GET", "rdb-del-sync-files"]),
                    "yes",
                    "rdb-del-sync-files",
                );
            }
            "disabled" => {
                assert_eq!(r.renamed("CONFIG"), "\"\"");
                expect(
                    &r.cli_as("admin", &["FLUSHALL"]),
                    "unknown command",
                    "FLUSHALL disabled",
                );
                expect(
                    &r.cli_as("admin", &["CONFIG", "GET", "port"]),
                    "unknown command",
                    "CONFIG disabled",
                );
            }
            _ => expect(
                &r.cli_as("monitor", &["INFO", "server"]),
                "redis_version",
                "rsa monitor",
            ),
        }
    }
}

#[test]
fn live_config_file_users() {
    let port = free_port();
    let b = Bundle::with_config(
        r#"
[[users]]
name = "ops"
role = "admin"
[[users]]
name = "ja4proxy"
role = "app"
keys = ["ja4:*", "rate:*", "enforcement:*"]
channels = []
[[users]]
name = "reader"
role = "custom"
keys = ["cache:*"]
commands = ["+get", "+@connection"]
"#,
        &["--port", &port.to_string()],
    );
    let r = Redis::start(&b.dir, port, b.tmp.path());
    expect(
        &r.cli_as("ja4proxy", &["SET", "ja4:x", "1"]),
        "OK",
        "ja4 key",
    );
    expect(
        &r.cli_as("ja4proxy", &["SET", "rate:x", "1"]),
        "OK",
        "rate key",
    );
    expect(
        &r.cli_as("ja4proxy", &["SET", "app:x", "1"]),
        "NOPERM",
        "outside pattern",
    );
    expect(
        &r.cli_as("ja4proxy", &["PUBLISH", "ja4:c", "1"]),
        "NOPERM",
        "no channels",
    );
    expect(&r.cli_as("reader", &["GET", "cache:x"]), "", "reader get");
    expect(
        &r.cli_as("reader", &["SET", "cache:x", "1"]),
        "NOPERM",
        "reader set",
    );
    expect(&r.cli_as("ops", &["ACL", "WHOAMI"]), "ops", "ops admin");
}

/// The live suites run against the server `scripts/test.sh` names in PROVISION_TEST_SERVER
/// (`valkey 9.1.2`: a server of scripts/servers.sh, first on PATH as `redis-server`); without
/// it, Debian's redis-server 7.0. The server that answers must be that one.
#[test]
fn the_server_under_test_is_the_one_named() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let info = r.cli_as("monitor", &["INFO", "server"]);
    let want = match std::env::var("PROVISION_TEST_SERVER") {
        Ok(s) => match s.split_once(' ') {
            Some(("valkey", v)) => format!("valkey_version:{v}\r\n"),
            Some(("redis", v)) => format!("redis_version:{v}\r\n"),
            _ => panic!("PROVISION_TEST_SERVER=`{s}` is not `redis|valkey VERSION`"),
        },
        Err(_) => "redis_version:7.0.".into(),
    };
    assert!(
        info.contains(&want),
        "expected `{want}` in INFO server:\n{info}"
    );
}
