//! Shared test harness: run the built binary in a scrubbed environment, snapshot bundle
//! directories, and start a real redis-server from a bundle.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_provision"))
}

/// The result of one run of the binary, with everything needed to explain a failure.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "command: provision {}\nexit: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "expected success\n{}", self.describe());
        self
    }
    #[track_caller]
    pub fn code(self, want: i32) -> Self {
        assert_eq!(self.code, want, "expected exit {want}\n{}", self.describe());
        self
    }
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

/// Runs `provision ARGS` in `cwd` with an empty environment (PATH only).
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .expect("run provision");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Run {
    run_in(&std::env::temp_dir(), args)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("provision-test-")
        .tempdir()
        .expect("tempdir")
}

/// Everything in a directory tree: path -> (mode, link target or content).
pub fn snapshot(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&path).unwrap();
                out.insert(rel, (0, t.to_string_lossy().as_bytes().to_vec()));
            } else if m.is_dir() {
                out.insert(rel.clone(), (m.permissions().mode() & 0o7777, vec![]));
                walk(base, &path, out);
            } else if m.is_file() {
                out.insert(
                    rel,
                    (
                        m.permissions().mode() & 0o7777,
                        std::fs::read(&path).unwrap(),
                    ),
                );
            } else {
                // A FIFO or device is recorded by kind, never opened (opening a FIFO blocks).
                out.insert(
                    rel,
                    (m.permissions().mode() & 0o7777, b"<special>".to_vec()),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

pub fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// Ports handed out to this test process. Each is reserved by an exclusive lock on
/// `$TMPDIR/provision-test-ports/PORT`, held until the process (one test, under nextest)
/// exits: another test cannot pick it between the choice and Redis binding it. Ports come from
/// below Linux's ephemeral range (32768–60999), so no outgoing connection takes one either,
/// and never from the fixed ports of the README's examples (tests/it/readme.rs).
static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

fn reserve(ports: &[u16]) -> bool {
    let dir = std::env::temp_dir().join("provision-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let mut locks = Vec::new();
    for &p in ports {
        if (26370..26400).contains(&p) {
            return false;
        }
        let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(p.to_string()))
        else {
            return false;
        };
        if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
            || TcpListener::bind(("127.0.0.1", p)).is_err()
        {
            return false;
        }
        locks.push(f);
    }
    HELD.lock().unwrap().extend(locks);
    true
}

/// `n` consecutive free TCP ports on 127.0.0.1 (and their +10000 cluster-bus ports when
/// `bus`), reserved for this test; returns the first.
pub fn free_ports(n: u16, bus: bool) -> u16 {
    // With the bus (+10000) the base stays below 22768, so the bus stays below 32768.
    let (lo, hi) = if bus { (20000, 22768) } else { (23000, 32768) };
    for _ in 0..500 {
        let base = lo + rand::random::<u16>() % (hi - lo - n);
        let mut ports: Vec<u16> = (base..base + n).collect();
        if bus {
            ports.extend((base..base + n).map(|p| p + 10000));
        }
        if reserve(&ports) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// A free TCP port on 127.0.0.1, reserved for this test.
pub fn free_port() -> u16 {
    free_ports(1, false)
}

/// Fails loudly when an external program is missing: a skipped live test proves nothing.
#[track_caller]
pub fn require(program: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{program}` is required by this test and is not installed; run scripts/test.sh (it installs redis-server, redis-tools and openssl) or `apt-get install -y redis-server redis-tools openssl`"
    );
}

/// A redis-server started from a bundle's redis.conf; killed on drop.
pub struct Redis {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Redis {
    /// Starts redis-server with `DIR/redis.conf`, only overriding where it logs.
    pub fn start(dir: &Path, port: u16, workdir: &Path) -> Redis {
        Self::start_conf(dir, "redis.conf", port, workdir)
    }

    /// Starts redis-server with `DIR/<conf>` (a node of a topology bundle).
    pub fn start_conf(dir: &Path, conf: &str, port: u16, workdir: &Path) -> Redis {
        require("redis-server");
        // A fresh log per start: readiness is read from it.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let log = workdir.join(format!("redis-{port}-{stamp}.log"));
        let child = Command::new("redis-server")
            .arg(dir.join(conf))
            .arg("--logfile")
            .arg(&log)
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let mut r = Redis {
            child,
            port,
            dir: dir.to_path_buf(),
            log,
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "redis-server exited with {status} before accepting connections; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("Ready to accept connections") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server not ready after 10s; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs redis-cli over TLS as `user` (certificate and password from the bundle; the
    /// password through REDISCLI_AUTH, never argv) and returns its output, trimmed.
    pub fn cli_as(&self, user: &str, args: &[&str]) -> String {
        let password = read(&self.dir, &format!("{user}.password"));
        self.cli_raw(Some((user, &password)), Some(user), args)
    }

    /// redis-cli over TLS with explicit credentials and client certificate (None = none).
    pub fn cli_raw(
        &self,
        auth: Option<(&str, &str)>,
        cert_of: Option<&str>,
        args: &[&str],
    ) -> String {
        require("redis-cli");
        let mut c = Command::new("redis-cli");
        c.env_clear()
            .arg("--tls")
            .arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("--cacert")
            .arg(self.dir.join("ca.crt"));
        if let Some(u) = cert_of {
            c.arg("--cert").arg(self.dir.join(format!("{u}.crt")));
            c.arg("--key").arg(self.dir.join(format!("{u}.key")));
        }
        if let Some((user, pw)) = auth {
            c.arg("--user").arg(user).env("REDISCLI_AUTH", pw);
        }
        let out = c
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        s.trim().to_string()
    }

    pub fn info_field(&self, field: &str) -> String {
        let info = self.cli_as("admin", &["INFO", "server"]);
        info.lines()
            .find_map(|l| {
                l.trim_matches('"')
                    .split_once(&format!("{field}:"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {field} in INFO: {info}"))
    }

    /// The renamed name of `command` from the bundle's rename map.
    /// The name `command` has in this bundle: its secret name from `renamed-commands`, or
    /// its own where the bundle's target keeps it (CONFIG on Valkey ≥ 9.0, see
    /// `provision init --help`).
    pub fn renamed(&self, command: &str) -> String {
        renamed_in(&self.dir, command)
    }
    /// The plain name's reply for a user allowed no dangerous command: `unknown command`
    /// where the bundle renames `command`, `NOPERM` where it keeps its name.
    pub fn plain_refusal(&self, command: &str) -> &'static str {
        if self.renamed(command) == command {
            "NOPERM"
        } else {
            "unknown command"
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bundle directory `s` inside a fresh temporary directory (removed on drop). `tmp` stays
/// reachable for what a test puts beside the bundle (keys, configs, a second bundle).
pub struct Bundle {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Bundle {
    /// The temporary directory and the bundle's path in it; nothing is created there, for a
    /// test that runs `init` itself.
    pub fn empty() -> Bundle {
        let tmp = tempdir();
        let dir = tmp.path().join("s");
        Bundle { tmp, dir }
    }

    /// `provision init --dir <tmp>/s -q EXTRA`, which must succeed.
    #[track_caller]
    pub fn init(extra: &[&str]) -> Bundle {
        let b = Bundle::empty();
        let mut args = vec!["init", "--dir", b.d(), "-q"];
        args.extend_from_slice(extra);
        run(&args).success();
        b
    }

    /// `provision init --dir <tmp>/s -q --config <tmp>/provision.toml EXTRA`, the config
    /// holding `toml`; init must succeed.
    #[track_caller]
    pub fn with_config(toml: &str, extra: &[&str]) -> Bundle {
        let b = Bundle::empty();
        let cfg = b.path("provision.toml");
        std::fs::write(&cfg, toml).unwrap();
        let mut args = vec![
            "init",
            "--dir",
            b.d(),
            "-q",
            "--config",
            cfg.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args).success();
        b
    }

    /// The bundle directory as a `--dir` argument.
    pub fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// `name` in the temporary directory, beside the bundle.
    pub fn path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join(name)
    }
}

/// Creates a bundle for live tests on a free port and returns (tempdir, bundle dir, port).
pub fn live_bundle(extra: &[&str]) -> (tempfile::TempDir, PathBuf, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec!["--port", &port_s];
    args.extend_from_slice(extra);
    let b = Bundle::init(&args);
    (b.tmp, b.dir, port)
}

/// The credentials of `user` as `provision::live` takes them: certificate, key and password
/// found in `cred_dir` (`password` overrides the password file), trusting `dir/ca.crt`.
pub fn creds_of(
    dir: &Path,
    cred_dir: &Path,
    user: &str,
    password: Option<&str>,
) -> provision::live::Creds {
    use provision::core::secret::Secret;
    let pw = password
        .map(str::to_string)
        .unwrap_or_else(|| read(cred_dir, &format!("{user}.password")));
    let file = |name: String| {
        std::fs::read(cred_dir.join(&name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    };
    provision::live::Creds {
        user: user.to_string(),
        password: Some(Secret::from_string(pw)),
        cert_pem: file(format!("{user}.crt")),
        key_pem: Secret::new(file(format!("{user}.key"))),
        ca_pem: std::fs::read(dir.join("ca.crt")).unwrap(),
    }
}

/// A `redis` crate connection to `host:port` as `user` through the crate's own TLS client
/// (`provision::live::connect`: hostname verification on), with the credentials of
/// [`creds_of`].
pub fn client_at(
    host: &str,
    dir: &Path,
    cred_dir: &Path,
    port: u16,
    user: &str,
    password: Option<&str>,
) -> redis::RedisResult<redis::Connection> {
    provision::live::connect(host, port, &creds_of(dir, cred_dir, user, password))
}

/// [`client_at`] 127.0.0.1.
pub fn client_as(
    dir: &Path,
    cred_dir: &Path,
    port: u16,
    user: &str,
    password: Option<&str>,
) -> redis::RedisResult<redis::Connection> {
    client_at("127.0.0.1", dir, cred_dir, port, user, password)
}

/// Where and as whom a raw `redis` crate client connects: TLS to `host:port` with hostname
/// verification on, logging in as `user` with `password`. Only for clients the shared
/// [`client_at`] cannot be: the cluster and Sentinel clients of tests/clients/redis_rs.rs.
pub fn tls_info(host: &str, port: u16, user: &str, password: &str) -> redis::ConnectionInfo {
    use redis::IntoConnectionInfo;
    redis::ConnectionAddr::TcpTls {
        host: host.into(),
        port,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()
    .unwrap()
    .set_redis_settings(
        redis::RedisConnectionInfo::default()
            .set_username(user)
            .set_password(password),
    )
}

/// The certificate and key of `user` found in `cred_dir`, trusting `dir/ca.crt`, for a raw
/// `redis` crate client (see [`tls_info`]).
pub fn tls_certs(dir: &Path, cred_dir: &Path, user: &str) -> redis::TlsCertificates {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: std::fs::read(cred_dir.join(format!("{user}.crt"))).unwrap(),
            client_key: std::fs::read(cred_dir.join(format!("{user}.key"))).unwrap(),
        }),
        root_cert: Some(std::fs::read(dir.join("ca.crt")).unwrap()),
    }
}

pub fn app_client(dir: &Path, cred_dir: &Path, port: u16) -> redis::Connection {
    client_as(dir, cred_dir, port, "app", None).expect("app connects")
}

pub fn ping(c: &mut redis::Connection) -> String {
    redis::cmd("PING")
        .query(c)
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// The bundle's CA fingerprint as OpenSSL prints it (`AB:CD:...`): what `restore
/// --expect-ca` takes, computed independently of provision.
pub fn ca_fingerprint(dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(dir.join("ca.crt"))
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    s.trim()
        .split_once('=')
        .expect("Fingerprint=")
        .1
        .to_string()
}

/// A Sentinel started from a copy of its bundle config (Sentinel rewrites its config file);
/// killed on drop.
pub struct Sentinel {
    pub child: Child,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `DIR/<name>.conf` as a Sentinel, from a 0600 copy in `root/work-<name>`.
pub fn start_sentinel(dir: &Path, name: &str, root: &Path) -> Sentinel {
    use std::os::unix::fs::OpenOptionsExt;
    let work = root.join(format!("work-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("sentinel.conf");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&conf)
        .unwrap();
    std::io::Write::write_all(&mut f, read(dir, &format!("{name}.conf")).as_bytes()).unwrap();
    // umask 077: Sentinel rewrites its config (passwords, ACL users, renamed commands in it)
    // through a new file, which would otherwise be 0644.
    let child = Command::new("sh")
        .args(["-c", "umask 077 && exec redis-server \"$@\"", "sh"])
        .arg(&conf)
        .arg("--sentinel")
        .arg("--logfile")
        .arg(work.join("sentinel.log"))
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server --sentinel");
    Sentinel { child }
}

/// redis-cli over TLS to 127.0.0.1:`port` as `user` with the user's certificate and an
/// explicit password (through REDISCLI_AUTH, never argv); stdout and stderr, trimmed.
pub fn cli_tls(dir: &Path, port: u16, user: &str, password: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .env_clear()
        .env("REDISCLI_AUTH", password)
        .args([
            "--tls",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--cacert",
        ])
        .arg(dir.join("ca.crt"))
        .arg("--cert")
        .arg(dir.join(format!("{user}.crt")))
        .arg("--key")
        .arg(dir.join(format!("{user}.key")))
        .args(["--user", user])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
        .trim()
        .to_string()
}

/// [`cli_tls`] with the user's own password from the bundle.
pub fn cli_user(dir: &Path, port: u16, user: &str, args: &[&str]) -> String {
    cli_tls(
        dir,
        port,
        user,
        read(dir, &format!("{user}.password")).trim(),
        args,
    )
}

/// A provision.toml for three nodes from `base` and three Sentinels from `sbase`, with
/// `down_after_ms = 1000` so a failover takes seconds; `node_hosts` are the nodes' SANs.
pub fn sentinel_config(base: u16, sbase: u16, node_hosts: &str) -> String {
    let mut toml = String::from("[topology]\nkind = \"replication\"\ndown_after_ms = 1000\n");
    for i in 0..3u16 {
        toml.push_str(&format!(
            "[[topology.nodes]]\nname = \"redis-{}\"\nhosts = [{node_hosts}]\nport = {}\n",
            i + 1,
            base + i
        ));
    }
    for i in 0..3u16 {
        toml.push_str(&format!(
            "[[topology.sentinels]]\nname = \"sentinel-{}\"\nhosts = [\"127.0.0.1\"]\nport = {}\n",
            i + 1,
            sbase + i
        ));
    }
    toml
}

/// The `#<sha256>` password hashes on `user`'s line of an ACL file, read here rather than with
/// the crate's own parser (an independent oracle).
pub fn acl_hashes_of(acl: &str, user: &str) -> Vec<String> {
    acl.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(user) && l.starts_with("user "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| t.strip_prefix('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// SHA-256 of a file's bytes, in hex, computed by coreutils' `sha256sum`.
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "sha256sum {}: {out:?}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Waits (at most 10 s) until the CA rollover in progress in `dir` has no overlap left, as
/// `check --format json` reports it.
pub fn wait_overlap(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = run(&["check", "--dir", dir.to_str().unwrap(), "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        let left = &v["ca_rollover"]["overlap_seconds_left"];
        assert!(left.is_i64(), "no CA rollover in progress: {}", o.stdout);
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the overlap did not pass: {}",
            o.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The name `command` has in the bundle `dir` (see `Redis::renamed`).
pub fn renamed_in(dir: &Path, command: &str) -> String {
    if let Some(n) = read(dir, "renamed-commands")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{command} ")).map(str::to_string))
    {
        return n;
    }
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    let target = m["spec"]["server"].as_str().unwrap_or("redis-7.0");
    assert!(
        command == "CONFIG" && target.starts_with("valkey-9"),
        "{command} not in renamed-commands (target {target})"
    );
    command.to_string()
}

/// Starts node `name` of a topology bundle (`DIR/<name>.conf`) from its own working directory
/// under `root` (a replica writes dump.rdb on its first sync; cluster nodes their nodes.conf).
pub fn start_node(dir: &Path, name: &str, port: u16, root: &Path) -> Redis {
    let work = root.join(format!("work-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    Redis::start_conf(dir, &format!("{name}.conf"), port, &work)
}

/// A `--topology KIND --nodes N` bundle of nodes on 127.0.0.1 from port `base`.
pub fn topology_bundle(kind: &str, nodes: u16, base: u16) -> Bundle {
    Bundle::init(&[
        "--topology",
        kind,
        "--nodes",
        &nodes.to_string(),
        "--host",
        "127.0.0.1",
        "--port",
        &base.to_string(),
    ])
}

/// ACL LIST output with each line's rules as a sorted set, lines sorted (Redis prints a
/// user's commands in hash-table order, which differs between a live change and a restart).
pub fn normalized_acl(acl: &str) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = acl
        .lines()
        .map(|l| {
            let mut t: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            t.sort();
            t
        })
        .collect();
    v.sort();
    v
}

/// kubernetes-validate from PATH (scripts/test.sh puts its venv first), else from the venv
/// scripts/test.sh makes; missing is a failure, never a skip.
pub fn kubernetes_validate() -> std::path::PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .unwrap_or_default();
    let venv = cache.join("provision/venv/bin/kubernetes-validate");
    if venv.exists() {
        return venv;
    }
    require("kubernetes-validate");
    "kubernetes-validate".into()
}

/// `kubernetes-validate --strict FILE`: (success, everything it printed).
pub fn k8s_validate(file: &Path) -> (bool, String) {
    let out = std::process::Command::new(kubernetes_validate())
        .arg("--strict")
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The JSON documents of an exported YAML stream.
pub fn k8s_docs(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

pub fn b64decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {s}"))
}
