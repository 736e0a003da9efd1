//! Live proofs that hold on whichever server answers (redis 7.0, valkey 8.0, redis 8.0,
//! valkey 9.1: set PATH and PROVISION_TEST_SERVER, see tests/it/live.rs). Nothing here is a
//! hard-coded command list: the commands come from the live server (`ACL CAT`, `COMMAND`),
//! the renames from the bundle's `renamed-commands`, and every verdict from `ACL DRYRUN` as
//! the admin asks it about another user. DRYRUN replies OK when allowed and a text naming the
//! refused command otherwise; it checks the arity first, so each probe gets as many
//! arguments as the server's COMMAND reply says the command takes.

use crate::common::*;
use redis::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the server's COMMAND reply says about one command or subcommand.
struct Spec {
    arity: i64,
    first_key: i64,
    key_specs: usize,
}

impl Spec {
    fn takes_keys(&self) -> bool {
        self.first_key > 0 || self.key_specs > 0
    }
}

/// A reply as text (errors included), for matching and for failure messages.
fn text(v: &Value) -> String {
    match v {
        Value::Nil => "(nil)".into(),
        Value::Okay => "OK".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(a) | Value::Set(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn query(con: &mut redis::Connection, argv: &[String]) -> String {
    let mut c = redis::cmd(&argv[0]);
    for a in &argv[1..] {
        c.arg(a);
    }
    match c.query::<Value>(con) {
        Ok(v) => text(&v),
        Err(e) => format!("error: {e}"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `ACL DRYRUN user ARGV...` as the admin.
fn dryrun(admin: &mut redis::Connection, user: &str, argv: &[String]) -> String {
    let mut full = strings(&["ACL", "DRYRUN", user]);
    full.extend_from_slice(argv);
    query(admin, &full)
}

fn denied(reply: &str) -> bool {
    reply.to_lowercase().contains("no permissions")
}

/// Every command and subcommand the server knows, by full name (`get`, `config|get`), from
/// one COMMAND reply. A renamed command is listed under its original name.
fn command_table(admin: &mut redis::Connection) -> BTreeMap<String, Spec> {
    fn walk(v: &Value, out: &mut BTreeMap<String, Spec>) {
        let Value::Array(e) = v else { return };
        let int = |i: usize| match e.get(i) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        };
        let key_specs = match e.get(8) {
            Some(Value::Array(k)) => k.len(),
            _ => 0,
        };
        out.insert(
            text(&e[0]).to_lowercase(),
            Spec {
                arity: int(1),
                first_key: int(3),
                key_specs,
            },
        );
        if let Some(Value::Array(subs)) = e.get(9) {
            for s in subs {
                walk(s, out);
            }
        }
    }
    let Value::Array(all) = redis::cmd("COMMAND")
        .query::<Value>(admin)
        .expect("COMMAND")
    else {
        panic!("COMMAND did not reply with an array")
    };
    let mut out = BTreeMap::new();
    for c in &all {
        walk(c, &mut out);
    }
    assert!(
        out.len() > 200,
        "COMMAND listed only {} commands",
        out.len()
    );
    out
}

/// The full names the server puts in `category` (`ACL CAT category`).
fn category(admin: &mut redis::Connection, category: &str) -> Vec<String> {
    let v: Value = redis::cmd("ACL")
        .arg("CAT")
        .arg(category)
        .query(admin)
        .unwrap_or_else(|e| panic!("ACL CAT {category}: {e}"));
    let Value::Array(names) = v else {
        panic!("ACL CAT {category}: {v:?}")
    };
    let mut out: Vec<String> = names.iter().map(|n| text(n).to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

/// The bundle's rename map: original name (upper case) -> renamed name.
fn renames(dir: &Path) -> BTreeMap<String, String> {
    read(dir, "renamed-commands")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.trim().to_uppercase(), b.trim().to_string()))
        .collect()
}

/// How to invoke `full` (`config|get`) by the name it answers to, padded with `arg` up to its
/// arity: (argv, original argv when the command is renamed).
fn argv_for(
    full: &str,
    spec: &Spec,
    renamed: &BTreeMap<String, String>,
    arg: &str,
) -> (Vec<String>, Option<Vec<String>>) {
    let mut parts: Vec<String> = full.split('|').map(str::to_uppercase).collect();
    let original = renamed.get(&parts[0]).map(|new| {
        let orig = parts.clone();
        parts[0] = new.clone();
        orig
    });
    let pad = (spec.arity.unsigned_abs() as usize).saturating_sub(parts.len());
    let padded = |mut v: Vec<String>| {
        v.extend(std::iter::repeat_n(arg.to_string(), pad));
        v
    };
    (padded(parts), original.map(padded))
}

/// The single commands (`+info`, not `+@read`) the bundle's users.acl grants `user` on
/// purpose; templates/users.acl gives the reason of each.
fn explicit_grants(dir: &Path, user: &str) -> BTreeSet<String> {
    let acl = read(dir, "users.acl");
    let line = acl
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(user))
        .unwrap_or_else(|| panic!("no user {user} in users.acl"));
    line.split_whitespace()
        .filter_map(|t| t.strip_prefix('+'))
        .filter(|t| !t.starts_with('@'))
        .map(str::to_lowercase)
        .collect()
}

fn server_name(r: &Redis) -> String {
    let info = r.cli_as("admin", &["INFO", "server"]);
    let field = |f: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(f).map(|v| v.trim().to_string()))
    };
    let name = match (field("valkey_version:"), field("redis_version:")) {
        (Some(v), _) => format!("valkey {v}"),
        (None, Some(v)) => format!("redis {v}"),
        _ => panic!("no version in INFO server: {info}"),
    };
    // The proof is about the server named, not whichever redis-server PATH found.
    if let Ok(want) = std::env::var("PROVISION_TEST_SERVER") {
        assert_eq!(name, want, "PROVISION_TEST_SERVER names another server");
    }
    name
}

fn admin_of(r: &Redis) -> redis::Connection {
    client_as(&r.dir, &r.dir, r.port, "admin", None).expect("admin connects")
}

#[test]
fn app_may_run_no_admin_or_dangerous_command() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let server = server_name(&r);
    let mut admin = admin_of(&r);
    let table = command_table(&mut admin);
    let renamed = renames(&dir);
    let grants = explicit_grants(&dir, "app");
    let mut failures = Vec::new();
    for cat in ["admin", "dangerous"] {
        let names = category(&mut admin, cat);
        let (mut checked, mut via_rename, mut granted) = (0, 0, Vec::new());
        for full in &names {
            let spec = table.get(full).unwrap_or_else(|| {
                panic!("{server}: ACL CAT {cat} lists {full}, COMMAND lacks it")
            });
            let (argv, original) = argv_for(full, spec, &renamed, "app:x");
            if let Some(orig) = original {
                // Under its original name a renamed command does not exist at all.
                let got = dryrun(&mut admin, "app", &orig);
                if !got.contains("not found") {
                    failures.push(format!("{cat}: DRYRUN app {orig:?} (renamed away): {got}"));
                }
                via_rename += 1;
            }
            let got = dryrun(&mut admin, "app", &argv);
            checked += 1;
            if got == "OK" && grants.contains(full) {
                // Granted by name on purpose (users.acl says why); reported, not hidden.
                granted.push(full.clone());
            } else if !(denied(&got) && got.contains(&format!("'{full}' command"))) {
                failures.push(format!("{cat}: DRYRUN app {argv:?}: {got}"));
            }
        }
        eprintln!(
            "{server}: @{cat}: {checked} commands checked for app ({via_rename} by their renamed name), allowed only by an explicit grant in users.acl: {granted:?}"
        );
        assert!(
            checked >= 60,
            "{server}: only {checked} @{cat} commands: {names:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{server}: app may run admin/dangerous commands, or a probe was not a real check:\n{}",
        failures.join("\n")
    );
}

#[test]
fn monitor_reads_no_key() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let server = server_name(&r);
    let mut admin = admin_of(&r);
    let table = command_table(&mut admin);
    let renamed = renames(&dir);
    let mut failures = Vec::new();
    for cat in ["read", "write"] {
        let names = category(&mut admin, cat);
        let mut checked = 0;
        for full in &names {
            let spec = table.get(full).unwrap_or_else(|| {
                panic!("{server}: ACL CAT {cat} lists {full}, COMMAND lacks it")
            });
            if !spec.takes_keys() {
                continue;
            }
            let (argv, _) = argv_for(full, spec, &renamed, "somekey");
            let got = dryrun(&mut admin, "monitor", &argv);
            checked += 1;
            if !denied(&got) {
                failures.push(format!("{cat}: DRYRUN monitor {argv:?}: {got}"));
            }
        }
        eprintln!("{server}: @{cat}: {checked} key-taking commands checked for monitor");
        assert!(
            checked >= 60,
            "{server}: only {checked} key-taking @{cat} commands"
        );
    }

    // What monitoring needs is allowed, as a dry run and for real.
    for cmd in [
        &["INFO"][..],
        &["CLIENT", "LIST"],
        &["SLOWLOG", "LEN"],
        &["LATENCY", "LATEST"],
    ] {
        let argv = strings(cmd);
        let got = dryrun(&mut admin, "monitor", &argv);
        if got != "OK" {
            failures.push(format!("DRYRUN monitor {argv:?}: {got}"));
        }
        let real = r.cli_as("monitor", cmd);
        if real.contains("NOPERM") || real.starts_with("ERR") {
            failures.push(format!("monitor {cmd:?}: {real}"));
        }
    }

    // COMMANDLOG (valkey 8.1+), SLOWLOG's successor: monitor reads its lengths, never its
    // entries (they hold the argv of logged commands), as with SLOWLOG.
    let has_commandlog = query(&mut admin, &strings(&["COMMAND", "INFO", "commandlog"]));
    if has_commandlog.contains("commandlog") {
        for kind in ["slow", "large-request", "large-reply"] {
            let argv = strings(&["COMMANDLOG", "LEN", kind]);
            let got = dryrun(&mut admin, "monitor", &argv);
            if got != "OK" {
                failures.push(format!("DRYRUN monitor {argv:?}: {got}"));
            }
            let got = dryrun(
                &mut admin,
                "monitor",
                &strings(&["COMMANDLOG", "GET", "1", kind]),
            );
            if !denied(&got) {
                failures.push(format!("DRYRUN monitor COMMANDLOG GET {kind}: {got}"));
            }
        }
        let real = r.cli_as("monitor", &["COMMANDLOG", "LEN", "slow"]);
        if real.parse::<u64>().is_err() {
            failures.push(format!("monitor COMMANDLOG LEN slow: {real}"));
        }
        eprintln!("{server}: COMMANDLOG present: monitor reads its lengths, not its entries");
    } else {
        eprintln!("{server}: no COMMANDLOG command");
    }
    assert!(
        failures.is_empty(),
        "{server}: monitor reaches keys, or lacks what monitoring needs:\n{}",
        failures.join("\n")
    );
}

/// Startup banners Redis 7.0 logs at warning level (`#`); 7.2+ and valkey log them at
/// notice (`*`). They say the server started, nothing about the bundle.
fn is_startup_banner(text: &str) -> bool {
    text == "Configuration loaded"
        || text == "Server initialized"
        || (text.starts_with("oO0OoO0OoO0Oo ") && text.ends_with(" is starting oO0OoO0OoO0Oo"))
        || (text.contains(" version=") && text.ends_with(", just started"))
}

/// The warning lines of a server log (`pid:role dd Mon yyyy hh:mm:ss.mmm LEVEL text`, LEVEL
/// one of `. - * #`), but the overcommit advice and the start-up banners.
fn log_warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let f: Vec<&str> = l.splitn(7, ' ').collect();
            f.len() == 7 && f[0].contains(':') && f[5] == "#" && {
                let text = f[6].trim();
                !text.starts_with("WARNING Memory overcommit must be enabled")
                    && !is_startup_banner(text)
            }
        })
        .collect()
}

#[test]
fn server_log_has_no_error_after_start() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let server = server_name(&r);
    let config = r.renamed("CONFIG");
    for (user, cmd) in [
        ("app", vec!["PING"]),
        ("app", vec!["SET", "k", "v"]),
        ("app", vec!["GET", "k"]),
        ("monitor", vec!["INFO"]),
        ("monitor", vec!["SLOWLOG", "LEN"]),
        ("admin", vec![config.as_str(), "GET", "maxmemory"]),
        ("admin", vec!["ACL", "LIST"]),
    ] {
        let got = r.cli_as(user, &cmd);
        assert!(
            !got.contains("ERR") && !got.contains("NOPERM"),
            "{server}: {user} {cmd:?}: {got}"
        );
    }
    let log = std::fs::read_to_string(&r.log).unwrap();
    let warnings = log_warnings(&log);
    eprintln!(
        "{server}: {} warning line(s) in the log:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    assert!(
        warnings.is_empty(),
        "{server}: the server logged warnings with a default bundle:\n{}\n--- full log\n{log}",
        warnings.join("\n")
    );
}

/// The server on PATH by its own `--version`, and whether it has `tls-auth-clients-user CN`
/// (Valkey 9.0 and newer, Redis 8.6 and newer: their release notes and config.c) and
/// `tls-auth-clients-user URI` (Valkey 9.1 and newer).
fn server_maps_certificates() -> (String, bool, bool) {
    require("redis-server");
    let o = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&o.stdout).into_owned();
    let (product, rest) = v.split_once(" server v=").expect("`X server v=...`");
    let ver: Vec<u32> = rest
        .split_whitespace()
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let at_least = |maj: u32, min: u32| (ver[0], ver[1]) >= (maj, min);
    let (cn, uri) = match product {
        "Valkey" => (at_least(9, 0), at_least(9, 1)),
        "Redis" => (at_least(8, 6), false),
        other => panic!("unknown server `{other}`"),
    };
    (v.trim().to_string(), cn, uri)
}

/// redis-py (hostname verification on) presenting `cert_user`'s certificate: `login` is `-`
/// (no AUTH), `USER:file` or `USER=WORD`; returns the reply or `ERROR ...`.
fn redis_py(dir: &Path, port: u16, cert_user: &str, login: &str, command: &[&str]) -> String {
    let python = std::env::var_os("PROVISION_CLIENTS_PYTHON")
        .filter(|p| Path::new(p).exists())
        .expect("PROVISION_CLIENTS_PYTHON (a venv with pinned redis) is set by scripts/test.sh");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/cert_login.py");
    let o = std::process::Command::new(python)
        .env_remove("REDISCLI_AUTH")
        .arg(script)
        .arg(dir)
        .args(["localhost", &port.to_string(), cert_user, login])
        .args(command)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `user=NAME` of the connection's own line in `CLIENT INFO` (the app user may not run
/// ACL WHOAMI; CLIENT INFO is in @connection and names who the server thinks it is).
fn client_info_user(reply: &str) -> String {
    reply
        .split_whitespace()
        .find_map(|f| f.strip_prefix("user="))
        .unwrap_or_else(|| panic!("no user= in CLIENT INFO: {reply}"))
        .to_string()
}

#[test]
fn certificate_identity_users_log_in_by_certificate_alone() {
    let (server, has, _) = server_maps_certificates();
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    if !has {
        // No such server setting: refused before anything is written, naming who has it.
        let r = run(&[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--user-auth",
            "cert",
        ]);
        assert_eq!(r.code, 2, "{server}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("Valkey 9.0 and newer and Redis 8.6 and newer"),
            "{server}: {}",
            r.stderr
        );
        assert!(!dir.exists(), "{server}: a refused init wrote {dir:?}");
        eprintln!("{server}: no tls-auth-clients-user; --user-auth cert refused with exit 2");
        return;
    }
    // admin and app by certificate only, monitor both ways, `legacy` by password only.
    let cfg = b.path("provision.toml");
    std::fs::write(
        &cfg,
        "[[users]]\nname = \"admin\"\nrole = \"admin\"\n\
         [[users]]\nname = \"app\"\nrole = \"app\"\nkeys = [\"app:*\"]\n\
         [[users]]\nname = \"monitor\"\nrole = \"monitor\"\nauth = \"both\"\n\
         [[users]]\nname = \"legacy\"\nrole = \"app\"\nauth = \"password\"\n",
    )
    .unwrap();
    let port = free_port();
    let (d, p) = (dir.to_str().unwrap(), port.to_string());
    let cfg_s = cfg.to_str().unwrap();
    run(&[
        "init",
        "--dir",
        d,
        "--config",
        cfg_s,
        "--port",
        &p,
        "--user-auth",
        "cert",
        "--quiet",
    ])
    .success();
    for (file, present) in [
        ("admin.password", false),
        ("app.password", false),
        ("monitor.password", true),
        ("legacy.password", true),
    ] {
        assert_eq!(dir.join(file).exists(), present, "{file}");
    }
    let acl = read(dir, "users.acl");
    for l in acl
        .lines()
        .filter(|l| l.starts_with("user app ") || l.starts_with("user admin "))
    {
        assert!(
            l.contains(" resetpass ") && !l.contains('#') && !l.contains("nopass"),
            "{l}"
        );
    }
    run(&["check", "--dir", d]).success();

    let r = Redis::start(dir, port, b.tmp.path());
    // The certificate alone logs in as the user its CN names.
    let info = redis_py(dir, port, "app", "-", &["CLIENT", "INFO"]);
    assert_eq!(client_info_user(&info), "app", "{server}: {info}");
    assert_eq!(
        redis_py(dir, port, "admin", "-", &["ACL", "WHOAMI"]),
        "admin"
    );
    assert_eq!(
        redis_py(dir, port, "app", "-", &["SET", "app:k", "v"]),
        "True"
    );
    // No password can log in as a certificate-only user, with or without its certificate.
    for cert in ["app", "legacy"] {
        let got = redis_py(dir, port, cert, "app=anything", &["PING"]);
        assert!(
            got.starts_with("ERROR AuthenticationError")
                && got.contains("invalid username-password"),
            "{server}: AUTH app anything with {cert}.crt: {got}"
        );
    }
    // monitor: the certificate logs in, and so does the password.
    let info = redis_py(dir, port, "monitor", "-", &["CLIENT", "INFO"]);
    assert!(
        info.starts_with("ERROR NoPermission"),
        "monitor may not CLIENT INFO: {info}"
    );
    assert!(
        info.contains("User monitor"),
        "{server}: monitor's certificate: {info}"
    );
    assert_eq!(
        redis_py(dir, port, "monitor", "monitor:file", &["PING"]),
        "True"
    );
    // A password user's certificate logs in as nobody; its password does.
    let got = redis_py(dir, port, "legacy", "-", &["PING"]);
    assert!(
        got.contains("NOAUTH") || got.contains("Authentication required"),
        "{server}: legacy.crt alone: {got}"
    );
    let info = redis_py(dir, port, "legacy", "legacy:file", &["CLIENT", "INFO"]);
    assert_eq!(client_info_user(&info), "legacy", "{server}: {info}");

    // Renewal: provision itself logs in as the certificate-only admin to reload; the new
    // certificate logs in as the same user, the old one still does until it expires.
    let old = b.path("old");
    std::fs::create_dir(&old).unwrap();
    for f in ["ca.crt", "app.crt", "app.key"] {
        std::fs::copy(dir.join(f), old.join(f)).unwrap();
    }
    let before = sha256sum(&dir.join("app.crt"));
    let node = format!("127.0.0.1:{port}");
    let rn = run(&["renew", "--dir", d, "--force", "--redis", &node]);
    assert_eq!(rn.code, 0, "{server}: {}{}", rn.stdout, rn.stderr);
    assert_ne!(
        sha256sum(&dir.join("app.crt")),
        before,
        "app.crt was not renewed"
    );
    assert!(!dir.join("app.password").exists());
    for cred in [dir, old.as_path()] {
        let info = redis_py(cred, port, "app", "-", &["CLIENT", "INFO"]);
        assert_eq!(client_info_user(&info), "app", "{server}: {cred:?}: {info}");
    }
    run(&["check", "--dir", d]).success();
    let log = std::fs::read_to_string(&r.log).unwrap();
    let warnings = log_warnings(&log);
    assert!(
        warnings.is_empty(),
        "{server}: warnings in the log:\n{}",
        warnings.join("\n")
    );
    eprintln!("{server}: certificate-identity users proven (cert login, AUTH refused, renew)");
}

/// `--cert-identity uri` (and a user's own `uri`): the certificate's URI SAN names the ACL
/// user (`tls-auth-clients-user URI`, Valkey 9.1 and newer); refused with exit 2 elsewhere.
#[test]
fn uri_identity_users_log_in_by_their_uri() {
    let (server, _, has_uri) = server_maps_certificates();
    let b = Bundle::empty();
    let (dir, d) = (b.dir.as_path(), b.d());
    if !has_uri {
        let r = run(&[
            "init",
            "--dir",
            d,
            "--user-auth",
            "cert",
            "--cert-identity",
            "uri",
        ]);
        assert_eq!(r.code, 2, "{server}: {}", r.stderr);
        assert!(
            r.stderr.contains("Valkey 9.1 and newer"),
            "{server}: {}",
            r.stderr
        );
        assert!(!dir.exists(), "{server}: a refused init wrote {dir:?}");
        eprintln!(
            "{server}: no tls-auth-clients-user URI; --cert-identity uri refused with exit 2"
        );
        return;
    }
    // app has its own URI; admin and monitor get their SPIFFE IDs; legacy logs in by password.
    let app_uri = "spiffe://example.org/ns/prod/sa/checkout";
    let td = "example.org";
    let admin_uri = format!("spiffe://{td}/redis/user/admin");
    let monitor_uri = format!("spiffe://{td}/redis/user/monitor");
    let cfg = b.path("provision.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[users]]\nname = \"admin\"\nrole = \"admin\"\n\
             [[users]]\nname = \"app\"\nrole = \"app\"\nkeys = [\"app:*\"]\nuri = \"{app_uri}\"\n\
             [[users]]\nname = \"monitor\"\nrole = \"monitor\"\nauth = \"both\"\n\
             [[users]]\nname = \"legacy\"\nrole = \"app\"\nauth = \"password\"\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let p = port.to_string();
    run(&[
        "init",
        "--dir",
        d,
        "--config",
        cfg.to_str().unwrap(),
        "--port",
        &p,
        "--trust-domain",
        td,
        "--user-auth",
        "cert",
        "--cert-identity",
        "uri",
        "--quiet",
    ])
    .success();
    let acl = read(dir, "users.acl");
    for name in [app_uri, admin_uri.as_str()] {
        let line = acl
            .lines()
            .find(|l| l.starts_with(&format!("user {name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{acl}"));
        assert!(
            line.contains(" resetpass ") && !line.contains('#') && !line.contains("nopass"),
            "{line}"
        );
    }
    assert!(acl.contains("\nuser legacy on #"), "{acl}");
    assert!(!acl.contains("\nuser app "), "{acl}");
    assert!(read(dir, "redis.conf").contains("\ntls-auth-clients-user URI\n"));
    // The URI is in the certificate, as OpenSSL reads it.
    let san = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(dir.join("app.crt"))
        .output()
        .unwrap();
    let san = String::from_utf8_lossy(&san.stdout).into_owned();
    assert!(san.contains(&format!("URI:{app_uri}")), "{san}");
    run(&["check", "--dir", d]).success();

    let r = Redis::start(dir, port, b.tmp.path());
    let info = redis_py(dir, port, "app", "-", &["CLIENT", "INFO"]);
    assert_eq!(client_info_user(&info), app_uri, "{server}: {info}");
    assert_eq!(
        redis_py(dir, port, "app", "-", &["SET", "app:k", "v"]),
        "True"
    );
    assert_eq!(
        redis_py(dir, port, "admin", "-", &["ACL", "WHOAMI"]),
        admin_uri
    );
    // No password logs in as the URI user, by its URI name or its file name.
    for login in [format!("{app_uri}=anything"), "app=anything".to_string()] {
        let got = redis_py(dir, port, "legacy", &login, &["PING"]);
        assert!(
            got.starts_with("ERROR AuthenticationError"),
            "{server}: AUTH {login}: {got}"
        );
    }
    // monitor: its certificate, or its URI name and password.
    let got = redis_py(dir, port, "monitor", "-", &["PING"]);
    assert_eq!(got, "True", "{server}: monitor's certificate: {got}");
    let got = redis_py(
        dir,
        port,
        "legacy",
        &format!("{monitor_uri}|monitor:file"),
        &["PING"],
    );
    assert_eq!(got, "True", "{server}: monitor's password: {got}");
    // A password user's certificate (its URI names no user) logs in as nobody.
    let got = redis_py(dir, port, "legacy", "-", &["PING"]);
    assert!(
        got.contains("NOAUTH") || got.contains("Authentication required"),
        "{server}: legacy.crt alone: {got}"
    );
    // provision logs in as the URI admin to reload; the renewed certificate keeps the login.
    let before = sha256sum(&dir.join("app.crt"));
    let node = format!("127.0.0.1:{port}");
    let rn = run(&["renew", "--dir", d, "--force", "--redis", &node]);
    assert_eq!(rn.code, 0, "{server}: {}{}", rn.stdout, rn.stderr);
    assert_ne!(sha256sum(&dir.join("app.crt")), before);
    let info = redis_py(dir, port, "app", "-", &["CLIENT", "INFO"]);
    assert_eq!(client_info_user(&info), app_uri, "{server}: {info}");
    // rotate the break-glass password of monitor: ACL SETUSER by its URI name.
    let ro = run(&["rotate", "--dir", d, "--user", "monitor", "--redis", &node]);
    assert_eq!(ro.code, 0, "{server}: {}{}", ro.stdout, ro.stderr);
    let got = redis_py(
        dir,
        port,
        "legacy",
        &format!("{monitor_uri}|monitor:file"),
        &["PING"],
    );
    assert_eq!(got, "True", "{server}: monitor's new password: {got}");
    run(&["check", "--dir", d]).success();
    let warnings = log_warnings(&std::fs::read_to_string(&r.log).unwrap())
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(warnings.is_empty(), "{server}: {}", warnings.join("\n"));
    eprintln!("{server}: URI-identity users proven (URI login, AUTH refused, renew, rotate)");
}
