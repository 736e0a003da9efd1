//! The client matrix (issue 20): the client libraries applications use connect to live
//! bundles on loopback as the least-privileged users, with CA, hostname and client-certificate
//! verification on, do what the user is for and are refused what it is not for. Each client ×
//! topology is one test, named `<client>_<topology>`.
//!
//! Topologies: standalone (twice: a bundle whose only SAN is the DNS name `localhost`, where
//! `127.0.0.1` must be refused, and one whose only SAN is the IP `127.0.0.1`, where
//! `localhost` must be refused), a primary with two replicas watched by three Sentinels (the
//! client follows a failover: the harness kills the primary when the client says `FAILOVER`),
//! and a 6-node Cluster (3 primaries, 3 replicas).
//!
//! Client programs live in tests/clients/. Each gets one argument, a JSON file describing the
//! deployment (see `Deployment::spec`), reads the user's password from the bundle itself (no
//! password in argv or env), prints one line per check and `ALL OK` at the end.
//! scripts/test.sh installs the pinned clients and exports PROVISION_CLIENTS_PYTHON (a venv
//! with `redis` and `valkey-glide-sync`) and PROVISION_CLIENTS_NODE_MODULES (`ioredis` and
//! `redis`, node-redis); redis-rs runs in-process (tests/clients/redis_rs.rs, the `redis` crate
//! of Cargo.lock). A missing client fails the test: it is never a silent pass.

#[path = "../clients/redis_rs.rs"]
mod redis_rs;

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Standalone,
    Sentinel,
    Cluster,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Standalone => "standalone",
            Kind::Sentinel => "sentinel",
            Kind::Cluster => "cluster",
        }
    }
}

/// A live deployment of one bundle on loopback; every server is killed on drop.
pub struct Deployment {
    pub kind: Kind,
    pub dir: PathBuf,
    /// The name clients connect to (the bundle's only SAN).
    pub host: String,
    /// A name that resolves to the same server but is not in the certificate.
    pub wrong: String,
    pub ports: Vec<u16>,
    pub sentinel_ports: Vec<u16>,
    pub nodes: Vec<Option<Redis>>,
    _sentinels: Vec<Sentinel>,
    pub t: tempfile::TempDir,
}

pub const MASTER: &str = "mymaster";

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Deployment {
    /// One server whose certificate names only `host` (`localhost` or `127.0.0.1`).
    pub fn standalone(host: &str) -> Deployment {
        require("redis-server");
        let port = free_port();
        let Bundle { tmp: t, dir } = Bundle::init(&["--host", host, "--port", &port.to_string()]);
        let work = t.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let r = Redis::start(&dir, port, &work);
        let wrong = if host == "localhost" {
            "127.0.0.1"
        } else {
            "localhost"
        };
        Deployment {
            kind: Kind::Standalone,
            dir,
            host: host.into(),
            wrong: wrong.into(),
            ports: vec![port],
            sentinel_ports: vec![],
            nodes: vec![Some(r)],
            _sentinels: vec![],
            t,
        }
    }

    /// A primary and two replicas watched by three Sentinels, all TLS, all on 127.0.0.1.
    pub fn sentinel() -> Deployment {
        require("redis-server");
        require("redis-cli");
        let base = free_ports(3, false);
        let sbase = free_ports(3, false);
        // master_name is left at its default, MASTER.
        let toml = sentinel_config(base, sbase, "\"127.0.0.1\"");
        let Bundle { tmp: t, dir } = Bundle::with_config(&toml, &[]);
        let nodes: Vec<Option<Redis>> = (0..3u16)
            .map(|i| {
                let work = t.path().join(format!("work-redis-{}", i + 1));
                std::fs::create_dir_all(&work).unwrap();
                Some(Redis::start_conf(
                    &dir,
                    &format!("redis-{}.conf", i + 1),
                    base + i,
                    &work,
                ))
            })
            .collect();
        for n in nodes.iter().skip(1).flatten() {
            wait_for("the replica link", Duration::from_secs(15), || {
                n.cli_as("admin", &["INFO", "replication"])
                    .contains("master_link_status:up")
            });
        }
        let sentinels: Vec<Sentinel> = (1..=3)
            .map(|i| start_sentinel(&dir, &format!("sentinel-{i}"), t.path()))
            .collect();
        for i in 0..3 {
            wait_for(
                "Sentinels to see both replicas and each other",
                Duration::from_secs(20),
                || {
                    let m = cli_user(&dir, sbase + i, "admin", &["SENTINEL", "MASTER", MASTER]);
                    let l: Vec<&str> = m.lines().collect();
                    let get = |k: &str| {
                        l.iter()
                            .position(|x| *x == k)
                            .and_then(|p| l.get(p + 1))
                            .copied()
                    };
                    get("num-slaves") == Some("2") && get("num-other-sentinels") == Some("2")
                },
            );
        }
        Deployment {
            kind: Kind::Sentinel,
            dir,
            host: "127.0.0.1".into(),
            wrong: "localhost".into(),
            ports: (0..3).map(|i| base + i).collect(),
            sentinel_ports: (0..3).map(|i| sbase + i).collect(),
            nodes,
            _sentinels: sentinels,
            t,
        }
    }

    /// Six nodes (three primaries with one replica each), created with `redis-cli --cluster`.
    pub fn cluster() -> Deployment {
        require("redis-server");
        require("redis-cli");
        let base = free_ports(6, true);
        let Bundle { tmp: t, dir } = topology_bundle("cluster", 6, base);
        let nodes: Vec<Option<Redis>> = (0..6u16)
            .map(|i| {
                let name = format!("redis-{}", i + 1);
                let work = t.path().join(format!("work-{name}"));
                std::fs::create_dir_all(&work).unwrap();
                Some(Redis::start_conf(
                    &dir,
                    &format!("{name}.conf"),
                    base + i,
                    &work,
                ))
            })
            .collect();
        let addrs: Vec<String> = (0..6).map(|i| format!("127.0.0.1:{}", base + i)).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let text = cli_user(&dir, base, "admin", &args);
        assert!(text.contains("All 16384 slots covered"), "{text}");
        wait_for(
            "cluster_state:ok on every node",
            Duration::from_secs(30),
            || {
                nodes.iter().flatten().all(|n| {
                    let info = n.cli_as("admin", &["CLUSTER", "INFO"]);
                    info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6")
                })
            },
        );
        // Every replica has finished its first sync, so reads from replicas see the data.
        wait_for("every replica link", Duration::from_secs(30), || {
            nodes.iter().flatten().all(|n| {
                let r = n.cli_as("admin", &["INFO", "replication"]);
                r.contains("role:master") || r.contains("master_link_status:up")
            })
        });
        Deployment {
            kind: Kind::Cluster,
            dir,
            host: "127.0.0.1".into(),
            wrong: "localhost".into(),
            ports: (0..6).map(|i| base + i).collect(),
            sentinel_ports: vec![],
            nodes,
            _sentinels: vec![],
            t,
        }
    }

    /// The JSON file a client program gets: everything it needs, nothing secret.
    pub fn spec(&self, user: &str) -> PathBuf {
        let list = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let json = format!(
            "{{\"topology\": \"{}\", \"dir\": \"{}\", \"user\": \"{user}\", \"host\": \"{}\", \
             \"wrong_host\": \"{}\", \"ports\": [{}], \"sentinel_ports\": [{}], \
             \"master_name\": \"{MASTER}\"}}\n",
            self.kind.name(),
            self.dir.display(),
            self.host,
            self.wrong,
            list(&self.live_ports()),
            list(&self.sentinel_ports),
        );
        let path = self.t.path().join(format!("client-{user}.json"));
        std::fs::write(&path, json).unwrap();
        path
    }

    /// The ports of the nodes that have not been killed.
    pub fn live_ports(&self) -> Vec<u16> {
        (self.ports.iter().zip(&self.nodes))
            .filter(|(_, n)| n.is_some())
            .map(|(p, _)| *p)
            .collect()
    }

    /// The port of the primary Sentinel `i` reports now.
    pub fn primary_port_from(&self, i: usize) -> u16 {
        let a = cli_user(
            &self.dir,
            self.sentinel_ports[i],
            "admin",
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
        );
        a.lines()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no primary address from Sentinel: {a}"))
    }

    pub fn primary_port(&self) -> u16 {
        self.primary_port_from(0)
    }

    /// Kills the current primary (by its pid) and returns its port; the Sentinels promote a
    /// replica within a few seconds (down_after_ms = 1000).
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port();
        let i = self.ports.iter().position(|p| *p == port).unwrap();
        let node = self.nodes[i].take().expect("primary already killed");
        drop(node);
        port
    }

    /// Waits until every Sentinel names the same primary other than `old` and that node
    /// says it is a primary (a Sentinel may name a replica it is still promoting, and a
    /// promotion that times out is retried with another replica).
    pub fn wait_failover(&self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let seen: Vec<u16> = (0..self.sentinel_ports.len())
                .map(|i| self.primary_port_from(i))
                .collect();
            let p = seen[0];
            if p != old && seen.iter().all(|x| *x == p) {
                let i = self.ports.iter().position(|x| *x == p).unwrap();
                let role = self.nodes[i]
                    .as_ref()
                    .map(|n| n.cli_as("admin", &["INFO", "replication"]))
                    .unwrap_or_default();
                if role.contains("role:master") {
                    return p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no failover away from {old}: Sentinels name {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// How a client program is started.
#[derive(Clone, Copy)]
enum Lang {
    /// PROVISION_CLIENTS_PYTHON: a venv with pinned redis and valkey-glide-sync.
    Python,
    /// `node` with NODE_PATH=PROVISION_CLIENTS_NODE_MODULES (pinned ioredis and redis).
    Node,
    /// redis-rs, the `redis` crate of Cargo.lock, in-process (tests/clients/redis_rs.rs).
    Rust,
}

fn env_path(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if Path::new(&p).exists() => PathBuf::from(p),
        _ => panic!(
            "{var} is not set to an existing path (CI={}); run scripts/test.sh, which \
             installs {what}",
            std::env::var("CI").unwrap_or_default()
        ),
    }
}

/// Runs a client program against `d` as `user`. When the program prints `FAILOVER`, the
/// primary is killed and the program is told on stdin which port was the primary. The
/// program must exit 0 and print `ALL OK`; returns what it printed.
fn client(lang: Lang, script: &str, d: &mut Deployment, user: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut cmd = match lang {
        Lang::Rust => return redis_rs::run(d, user),
        Lang::Python => Command::new(env_path(
            "PROVISION_CLIENTS_PYTHON",
            "a venv with pinned redis and valkey-glide-sync",
        )),
        Lang::Node => {
            require("node");
            let mut c = Command::new("node");
            c.env(
                "NODE_PATH",
                env_path(
                    "PROVISION_CLIENTS_NODE_MODULES",
                    "pinned ioredis and redis (node-redis) from npm",
                ),
            );
            c
        }
    };
    let spec = d.spec(user);
    let mut child = cmd
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("REDISCLI_AUTH")
        .arg(&path)
        .arg(&spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s).unwrap();
        s
    });
    // A client that hangs fails the test instead of holding CI.
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            if Instant::now() > deadline {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.trim() == "FAILOVER" {
            let old = d.kill_primary();
            let new = d.wait_failover(old);
            out.push_str(&format!(
                "(harness: killed primary {old}, Sentinel names {new})\n"
            ));
            writeln!(stdin, "{old} {new}").unwrap();
            stdin.flush().unwrap();
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let text = out + &err.join().unwrap();
    assert!(
        status.success() && text.contains("ALL OK"),
        "{script} as {user} on {:?} failed ({status}):\n{text}",
        d.kind
    );
    text
}

/// Every user-facing check a client does, for both users; `what` lists lines the program
/// must have printed for app. Returns what monitor and app printed.
fn matrix(lang: Lang, script: &str, d: &mut Deployment, what: &[&str]) -> (String, String) {
    // monitor first: app may fail the primary over.
    let monitor = client(lang, script, d, "monitor");
    assert!(
        monitor.contains("monitor reads INFO") && monitor.contains("refused as expected"),
        "{monitor}"
    );
    let app = client(lang, script, d, "app");
    println!(
        "{script} on {:?} as monitor:\n{monitor}\nas app:\n{app}",
        d.kind
    );
    for w in what.iter().chain(&["wrong hostname refused"]) {
        assert!(
            app.contains(w),
            "{script} as app on {:?}: no `{w}`:\n{app}",
            d.kind
        );
    }
    (monitor, app)
}

const STANDALONE: &[&str] = &[
    "set/get",
    "pub/sub",
    "refused as expected",
    "unknown as expected",
];
const CLUSTER: &[&str] = &[
    "set/get",
    "slots on 3 primaries",
    "pub/sub",
    "refused as expected",
];
const SENTINEL: &[&str] = &["set/get", "pub/sub", "followed the failover"];

/// Both standalone bundles. `both` lists lines monitor and app must each have printed.
fn standalone_both(lang: Lang, script: &str, both: &[&str]) {
    for host in ["localhost", "127.0.0.1"] {
        let mut d = Deployment::standalone(host);
        // The admin uses renamed commands first, logs every command in the slowlog and stays
        // connected: no reply to monitor or app may reveal a renamed name.
        let config = d.nodes[0].as_ref().unwrap().renamed("CONFIG");
        let _admin = redis_rs::admin(
            &d,
            &[
                &[&config, "SET", "slowlog-log-slower-than", "0"],
                &[&config, "GET", "maxmemory"],
            ],
        );
        let want: Vec<&str> = STANDALONE.iter().chain(both).copied().collect();
        let (monitor, _) = matrix(lang, script, &mut d, &want);
        for w in both {
            assert!(
                monitor.contains(w),
                "{script} as monitor: no `{w}`:\n{monitor}"
            );
        }
    }
}

#[test]
fn redis_py_standalone() {
    standalone_both(
        Lang::Python,
        "redis_py.py",
        &["no renamed name in INFO everything"],
    );
}

#[test]
fn redis_py_cluster() {
    let _ = matrix(
        Lang::Python,
        "redis_py.py",
        &mut Deployment::cluster(),
        CLUSTER,
    );
}

#[test]
fn redis_py_sentinel() {
    let _ = matrix(
        Lang::Python,
        "redis_py.py",
        &mut Deployment::sentinel(),
        SENTINEL,
    );
}

#[test]
fn glide_standalone() {
    standalone_both(Lang::Python, "glide.py", &[]);
}

#[test]
fn glide_cluster() {
    let _ = matrix(
        Lang::Python,
        "glide.py",
        &mut Deployment::cluster(),
        CLUSTER,
    );
}

#[test]
fn glide_sentinel() {
    let _ = matrix(
        Lang::Python,
        "glide.py",
        &mut Deployment::sentinel(),
        SENTINEL,
    );
}

#[test]
fn ioredis_standalone() {
    standalone_both(Lang::Node, "ioredis.js", &[]);
}

#[test]
fn ioredis_cluster() {
    let _ = matrix(
        Lang::Node,
        "ioredis.js",
        &mut Deployment::cluster(),
        CLUSTER,
    );
}

#[test]
fn ioredis_sentinel() {
    let _ = matrix(
        Lang::Node,
        "ioredis.js",
        &mut Deployment::sentinel(),
        SENTINEL,
    );
}

#[test]
fn node_redis_standalone() {
    standalone_both(Lang::Node, "node_redis.js", &[]);
}

#[test]
fn node_redis_cluster() {
    let _ = matrix(
        Lang::Node,
        "node_redis.js",
        &mut Deployment::cluster(),
        CLUSTER,
    );
}

#[test]
fn node_redis_sentinel() {
    let _ = matrix(
        Lang::Node,
        "node_redis.js",
        &mut Deployment::sentinel(),
        SENTINEL,
    );
}

#[test]
fn redis_rs_standalone() {
    standalone_both(Lang::Rust, "redis-rs", &[]);
}

#[test]
fn redis_rs_cluster() {
    let _ = matrix(Lang::Rust, "redis-rs", &mut Deployment::cluster(), CLUSTER);
}

#[test]
fn redis_rs_sentinel() {
    let _ = matrix(
        Lang::Rust,
        "redis-rs",
        &mut Deployment::sentinel(),
        SENTINEL,
    );
}

/// What each client says to one server, trusting `cred/ca.crt` and presenting
/// `cred/app.crt` with hostname verification on: `PONG` or `REFUSED ...`, per client.
fn verdicts(cred: &Path, host: &str, port: u16) -> Vec<(&'static str, String)> {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let args = [
        cred.to_str().unwrap().to_string(),
        host.to_string(),
        port.to_string(),
        "app".to_string(),
    ];
    let out = |mut c: Command| {
        let o = c.args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let mut py = Command::new(env_path(
        "PROVISION_CLIENTS_PYTHON",
        "a venv with pinned redis and valkey-glide-sync",
    ));
    py.arg(scripts.join("ping.py"));
    require("node");
    let mut node = Command::new("node");
    node.arg(scripts.join("ping.js")).env(
        "NODE_PATH",
        env_path("PROVISION_CLIENTS_NODE_MODULES", "pinned ioredis from npm"),
    );
    let rs = {
        match client_at(host, cred, cred, port, "app", None) {
            Ok(mut c) => {
                let p = ping(&mut c);
                if p == "PONG" {
                    p
                } else {
                    format!("REFUSED {p}")
                }
            }
            Err(e) => format!("REFUSED {e}"),
        }
    };
    // OpenSSL's own verdict on the server's chain and name (not on the client certificate).
    let o = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-servername",
            host,
            "-verify_hostname",
            host,
            "-verify_return_error",
        ])
        .arg("-CAfile")
        .arg(cred.join("ca.crt"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let openssl = if text.contains("Verify return code: 0 (ok)") {
        "PONG".to_string()
    } else {
        format!(
            "REFUSED {}",
            text.lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
                .find(|l| l.contains("verify error") || l.contains("Verify return code"))
                .unwrap_or("no verdict")
        )
    };
    vec![
        ("redis-py", out(py)),
        ("ioredis", out(node)),
        ("redis-rs", rs),
        ("openssl", openssl),
    ]
}

#[track_caller]
fn expect_all(what: &str, v: &[(&'static str, String)], ok: bool, needle: &str) {
    eprintln!("{what}: {v:?}");
    for (client, verdict) in v {
        let good = if ok {
            verdict == "PONG"
        } else {
            verdict.starts_with("REFUSED") && verdict.to_lowercase().contains(needle)
        };
        assert!(
            good,
            "{what}: {client} said `{verdict}`, expected {}",
            if ok {
                "PONG".to_string()
            } else {
                format!("a refusal mentioning `{needle}`")
            }
        );
    }
}

/// A copy of the files an application host holds: ca.crt and the app user's credentials.
fn client_host(d: &Deployment, name: &str) -> PathBuf {
    let c = d.t.path().join(name);
    std::fs::create_dir_all(&c).unwrap();
    for f in ["ca.crt", "app.crt", "app.key", "app.password"] {
        std::fs::copy(d.dir.join(f), c.join(f)).unwrap();
    }
    c
}

fn renew(d: &Deployment, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "renew",
        "--dir",
        d.dir.to_str().unwrap(),
        "--reload",
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&run(&args).success().stdout).unwrap()
}

fn rollover_phase(d: &Deployment) -> serde_json::Value {
    let o = run(&[
        "check",
        "--dir",
        d.dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let critical: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["status"] != "WARNING" || !f["message"].as_str().unwrap().contains("overlap ended")
        })
        .collect();
    assert!(critical.is_empty(), "{}", o.stdout);
    v["ca_rollover"].clone()
}

/// The CA rollover, step by step, as seen by an application host that holds the `ca.crt`
/// and app certificate it was deployed with (redis-py, ioredis, redis-rs and openssl, with
/// hostname verification): every client keeps connecting through the overlap; once the new
/// `ca.crt` reached the host during the overlap, its old certificate keeps authenticating
/// after the finish; only the old CA's retirement refuses the old certificate.
#[test]
fn every_client_keeps_working_through_a_ca_rollover() {
    let d = Deployment::standalone("localhost");
    let port = d.ports[0];
    let deployed = client_host(&d, "deployed");
    expect_all("before", &verdicts(&deployed, "localhost", port), true, "");
    let mut open = client_as_host(&d.dir, port);

    // Step 1: the new CA is published; every certificate stays on the old CA.
    let v = renew(&d, &["--rollover-ca", "--overlap", "1s"]);
    assert_eq!(v["ca_rollover"], "publish", "{v}");
    let published = read(&d.dir, "ca.crt");
    assert_eq!(
        provision::core::inspect::pem_certificates(published.as_bytes())
            .unwrap()
            .len(),
        2
    );
    assert!(
        published.starts_with(&read(&deployed, "ca.crt")),
        "old CA still first"
    );
    let phase = rollover_phase(&d);
    assert!(
        phase["phase"] == "overlap" || phase["phase"] == "finish-due",
        "{phase}"
    );
    expect_all(
        "overlap, deployed ca.crt",
        &verdicts(&deployed, "localhost", port),
        true,
        "",
    );
    // The application host gets the published ca.crt during the overlap; it keeps its
    // old-CA certificate.
    let refreshed = client_host(&d, "refreshed");
    for f in ["app.crt", "app.key", "app.password"] {
        std::fs::copy(deployed.join(f), refreshed.join(f)).unwrap();
    }
    expect_all(
        "overlap, published ca.crt",
        &verdicts(&refreshed, "localhost", port),
        true,
        "",
    );

    // Step 2, once the overlap has passed: every certificate moves to the new CA.
    wait_overlap(&d.dir);
    assert_eq!(rollover_phase(&d)["phase"], "finish-due");
    let v = renew(&d, &["--rollover-ca", "--finish"]);
    assert_eq!(v["ca_rollover"], "finish", "{v}");
    assert_eq!(v["nodes"][0]["ok"], true, "{v}");
    assert_eq!(rollover_phase(&d)["phase"], "old-ca-trusted");
    assert_eq!(
        ping(&mut open),
        "PONG",
        "an open connection survives both steps"
    );
    expect_all(
        "finished, old certificate, published ca.crt",
        &verdicts(&refreshed, "localhost", port),
        true,
        "",
    );
    expect_all(
        "finished, new bundle",
        &verdicts(&d.dir, "localhost", port),
        true,
        "",
    );
    // A host that never got the published ca.crt cannot verify the new server certificate:
    // this is what the overlap is for.
    expect_all(
        "finished, only the ca.crt of the first deployment",
        &verdicts(&deployed, "localhost", port),
        false,
        "certificate",
    );

    // Retiring the old CA refuses the certificates it issued; new ones keep working.
    let v = renew(&d, &["--retire-old-ca"]);
    assert_eq!(v["dropped_cas"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(rollover_phase(&d)["phase"], "none");
    // (openssl s_client judges only the server's chain, which is still fine.) How the
    // refusal surfaces varies from run to run (an alert, EOF, a reset), so only the refusal
    // itself is asserted.
    let old_cert: Vec<_> = verdicts(&refreshed, "localhost", port)
        .into_iter()
        .filter(|(c, _)| *c != "openssl")
        .collect();
    expect_all("retired, old certificate", &old_cert, false, "");
    for f in ["app.crt", "app.key"] {
        std::fs::copy(d.dir.join(f), refreshed.join(f)).unwrap();
    }
    expect_all(
        "retired, new certificate",
        &verdicts(&refreshed, "localhost", port),
        true,
        "",
    );
}

/// A redis-rs connection as app to the bundle's own server by its name, `localhost`.
fn client_as_host(dir: &Path, port: u16) -> redis::Connection {
    client_at("localhost", dir, dir, port, "app", None).unwrap()
}
