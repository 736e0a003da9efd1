//! redis-rs (the `redis` crate over rustls) as a bundle user, in-process: the same checks as
//! the other client programs, with the same output lines, so `matrix` judges them alike. The
//! password is read from the bundle directory.

use super::{Deployment, Kind, MASTER};
use redis::cluster::ClusterClientBuilder;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{Connection, ConnectionAddr, ConnectionLike, TlsMode, Value};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(3);

struct User {
    name: String,
    password: String,
    dir: std::path::PathBuf,
}

impl User {
    fn read(d: &Deployment, name: &str) -> User {
        User {
            name: name.into(),
            password: super::read(&d.dir, &format!("{name}.password"))
                .trim()
                .into(),
            dir: d.dir.clone(),
        }
    }

    fn certs(&self) -> redis::TlsCertificates {
        super::tls_certs(&self.dir, &self.dir, &self.name)
    }

    fn info(&self, host: &str, port: u16) -> redis::ConnectionInfo {
        super::tls_info(host, port, &self.name, &self.password)
    }

    fn connect(&self, host: &str, port: u16) -> redis::RedisResult<Connection> {
        let c = redis::Client::build_with_tls(self.info(host, port), self.certs())?;
        let con = c.get_connection_with_timeout(TIMEOUT)?;
        con.set_read_timeout(Some(TIMEOUT))?;
        Ok(con)
    }
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

fn q(con: &mut impl ConnectionLike, args: &[&str]) -> redis::RedisResult<Value> {
    cmd(args).query(con)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => s.clone(),
        Value::Array(a) | Value::Set(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{} {}", text(k), text(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn refused(out: &mut String, con: &mut impl ConnectionLike, args: &[&str], needle: &str) {
    match q(con, args) {
        Err(e) => {
            let t = e.to_string();
            assert!(
                e.code() == Some("NOPERM") && t.contains(needle),
                "{args:?}: refusal `{t}` is not NOPERM mentioning {needle}"
            );
            writeln!(out, "refused as expected: {t}").unwrap();
        }
        Ok(v) => panic!("{args:?} accepted: {v:?}"),
    }
}

fn setget(out: &mut String, con: &mut impl ConnectionLike) {
    for i in 0..200 {
        q(con, &["SET", &format!("app:k{i}"), &format!("v{i}")]).unwrap();
    }
    for i in 0..200 {
        let v = q(con, &["GET", &format!("app:k{i}")]).unwrap();
        assert_eq!(text(&v), format!("v{i}"));
    }
    writeln!(out, "set/get 200 keys").unwrap();
}

fn pubsub(out: &mut String, sub: &mut Connection, publish: &mut impl ConnectionLike) {
    let mut ps = sub.as_pubsub();
    ps.subscribe("app:events").unwrap();
    q(publish, &["PUBLISH", "app:events", "hello"]).unwrap();
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "app:events");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
    writeln!(out, "pub/sub").unwrap();
}

/// Connects as admin and runs `commands`; the connection is returned so that it stays open
/// (CLIENT LIST then shows it with its last command).
pub fn admin(d: &Deployment, commands: &[&[&str]]) -> Connection {
    let u = User::read(d, "admin");
    let mut c = u.connect(&d.host, d.ports[0]).unwrap();
    for args in commands {
        q(&mut c, args).unwrap_or_else(|e| panic!("admin {args:?}: {e}"));
    }
    c
}

/// Runs the checks as `user` and returns what a client program would have printed.
pub fn run(d: &mut Deployment, user: &str) -> String {
    let u = User::read(d, user);
    let host = d.host.clone();
    let ports = d.live_ports();
    let mut out = String::new();
    let o = &mut out;
    if user == "monitor" {
        // monitor reads each node as redis_exporter does; it has no business with the slot map.
        for &p in &ports {
            let mut c = u.connect(&host, p).unwrap();
            let info = text(&q(&mut c, &["INFO", "all"]).unwrap());
            assert!(info.contains("redis_version:") && info.contains("role:"));
            assert!(matches!(
                q(&mut c, &["SLOWLOG", "LEN"]).unwrap(),
                Value::Int(_)
            ));
            refused(o, &mut c, &["SLOWLOG", "GET"], "slowlog|get");
            q(&mut c, &["LATENCY", "LATEST"]).unwrap();
            if d.kind == Kind::Cluster {
                let ci = text(&q(&mut c, &["CLUSTER", "INFO"]).unwrap());
                assert!(ci.contains("cluster_state:ok"), "{ci}");
                refused(o, &mut c, &["CLUSTER", "NODES"], "cluster|nodes");
            }
            refused(o, &mut c, &["GET", "app:k0"], "get");
            refused(o, &mut c, &["SET", "app:k0", "x"], "set");
        }
        writeln!(o, "monitor reads INFO, SLOWLOG and LATENCY on every node").unwrap();
        if d.kind == Kind::Sentinel {
            let mut s = u.connect(&host, d.sentinel_ports[0]).unwrap();
            let m = text(&q(&mut s, &["SENTINEL", "MASTERS"]).unwrap());
            assert!(m.contains(MASTER), "{m}");
            refused(o, &mut s, &["SENTINEL", "RESET", "*"], "sentinel|reset");
            writeln!(o, "monitor reads SENTINEL MASTERS").unwrap();
        }
    } else {
        match d.kind {
            Kind::Standalone => {
                let mut c = u.connect(&host, ports[0]).unwrap();
                setget(o, &mut c);
                let mut sub = u.connect(&host, ports[0]).unwrap();
                pubsub(o, &mut sub, &mut c);
                refused(o, &mut c, &["ACL", "LIST"], "acl|list");
                refused(
                    o,
                    &mut c,
                    &["CLIENT", "KILL", "TYPE", "normal"],
                    "client|kill",
                );
                for args in [&["FLUSHDB"][..], &["FLUSHALL"], &["KEYS", "*"]] {
                    let e = q(&mut c, args).expect_err("a renamed command was accepted");
                    assert!(e.to_string().contains("unknown command"), "{e}");
                    writeln!(o, "{} unknown as expected", args[0]).unwrap();
                }
            }
            Kind::Cluster => cluster(o, d, &u),
            Kind::Sentinel => sentinel(o, d, &u),
        }
    }
    // A name that reaches the same server but is not in its certificate is refused.
    let target = if d.kind == Kind::Sentinel && user == "app" {
        d.sentinel_ports[0]
    } else {
        *ports.last().unwrap()
    };
    match u.connect(&d.wrong, target) {
        Err(e) => {
            let t = e.to_string();
            assert!(
                t.contains("NotValidForName") || t.contains("certificate"),
                "{t}"
            );
            writeln!(o, "wrong hostname refused: {t}").unwrap();
        }
        Ok(_) => panic!("{} accepted", d.wrong),
    }
    writeln!(o, "ALL OK").unwrap();
    out
}

fn cluster(o: &mut String, d: &Deployment, u: &User) {
    let build = |replicas: bool| {
        let mut b = ClusterClientBuilder::new(vec![u.info(&d.host, d.ports[0])])
            .username(&u.name)
            .password(&u.password)
            .tls(TlsMode::Secure)
            .certs(u.certs())
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT);
        if replicas {
            b = b.read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy);
        }
        b.build().unwrap().get_connection().unwrap()
    };
    let mut c = build(false);
    setget(o, &mut c);
    // The primaries, from the slot map app may read (CLUSTER SLOTS); each key is served
    // directly by exactly one of them (the others answer MOVED).
    let Value::Array(ranges) = q(&mut c, &["CLUSTER", "SLOTS"]).unwrap() else {
        panic!("CLUSTER SLOTS is not an array")
    };
    let primaries: std::collections::BTreeSet<i64> = ranges
        .iter()
        .map(|r| match r {
            Value::Array(r) => match &r[2] {
                Value::Array(n) => match n[1] {
                    Value::Int(p) => p,
                    ref v => panic!("{v:?}"),
                },
                v => panic!("{v:?}"),
            },
            v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(primaries.len(), 3, "{primaries:?}");
    let mut served = Vec::new();
    for &p in &primaries {
        let mut direct = u.connect(&d.host, p as u16).unwrap();
        let n = (0..200)
            .filter(|i| q(&mut direct, &["GET", &format!("app:k{i}")]).is_ok())
            .count();
        served.push(n);
    }
    assert!(
        served.iter().all(|n| *n > 0) && served.iter().sum::<usize>() == 200,
        "keys per primary {served:?}"
    );
    writeln!(o, "keys in slots on 3 primaries: {served:?} of 200").unwrap();
    // Reads from replicas (READONLY) as the app user.
    let mut r = build(true);
    for i in 0..50 {
        let v = q(&mut r, &["GET", &format!("app:k{i}")]).unwrap();
        assert_eq!(text(&v), format!("v{i}"));
    }
    writeln!(o, "reads with RandomReplicaStrategy").unwrap();
    // Cluster PUBLISH reaches subscribers on every node.
    let mut sub = u.connect(&d.host, d.ports[0]).unwrap();
    pubsub(o, &mut sub, &mut c);
    refused(o, &mut c, &["ACL", "LIST"], "acl|list");
    refused(
        o,
        &mut c,
        &["CLUSTER", "FORGET", &"x".repeat(40)],
        "cluster|forget",
    );
}

fn sentinel(o: &mut String, d: &mut Deployment, u: &User) {
    let build = |kind: SentinelServerType| {
        let addrs = d.sentinel_ports.iter().map(|&p| ConnectionAddr::TcpTls {
            host: d.host.clone(),
            port: p,
            insecure: false,
            tls_params: None,
        });
        SentinelClientBuilder::new(addrs, MASTER, kind)
            .unwrap()
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_redis_username(&u.name)
            .set_client_to_redis_password(&u.password)
            .set_client_to_redis_certificates(u.certs())
            .set_client_to_sentinel_username(&u.name)
            .set_client_to_sentinel_password(&u.password)
            .set_client_to_sentinel_certificates(u.certs())
            .build()
            .unwrap()
    };
    let mut sc = build(SentinelServerType::Master);
    let mut m = sc.get_connection().unwrap();
    setget(o, &mut m);
    let mut sub = sc.get_connection().unwrap();
    pubsub(o, &mut sub, &mut m);
    refused(o, &mut m, &["ACL", "LIST"], "acl|list");
    let mut replica = build(SentinelServerType::Replica).get_connection().unwrap();
    let v = text(&q(&mut replica, &["GET", "app:k1"]).unwrap());
    assert!(v == "v1" || v == "Nil", "{v}");
    writeln!(o, "read from a replica found by Sentinel").unwrap();
    let port_of = |sc: &mut redis::sentinel::SentinelClient| match sc
        .get_client()
        .unwrap()
        .get_connection_info()
        .addr()
    {
        ConnectionAddr::TcpTls { port, .. } | ConnectionAddr::Tcp(_, port) => *port,
        other => panic!("{other:?}"),
    };
    assert_eq!(port_of(&mut sc), d.primary_port());
    let old = d.kill_primary();
    let new = d.wait_failover(old);
    writeln!(o, "(harness: killed primary {old}, Sentinel names {new})").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut m = loop {
        let got = sc.get_connection().and_then(|mut c| {
            q(&mut c, &["SET", "app:after", "yes"])?;
            Ok(c)
        });
        match got {
            Ok(c) => break c,
            Err(e) => assert!(
                Instant::now() < deadline,
                "never reached the new primary: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(port_of(&mut sc), new, "redis-rs is not on the new primary");
    assert_eq!(text(&q(&mut m, &["GET", "app:after"]).unwrap()), "yes");
    assert_eq!(text(&q(&mut m, &["GET", "app:k1"]).unwrap()), "v1");
    writeln!(o, "followed the failover from {old} to {new}").unwrap();
}
