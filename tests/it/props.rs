//! Properties over arbitrary input, some against a real redis-server:
//! - whatever the validators accept renders into an ACL file that Redis loads, with exactly
//!   the users, key and channel patterns declared (no injected user, rule or password);
//! - the config parser, the PEM/certificate inspection behind `check`, and the ACL renderer
//!   never panic, whatever they are fed (`fuzz_*`; scripts/fuzz.sh runs them long).
//!
//! PROPTEST_CASES raises the number of cases.

use crate::common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use provision::core::password::{self, sha256_hex};
use provision::core::render::{self, AclEntry};
use provision::core::spec::{ConfigFile, Role, Spec, UserSpec};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_.-]{0,12}",
        4 => "[a-z0-9:*?{}\\[\\]_.-]{1,12}",
        1 => "[ -~]{0,16}",
        1 => "[a-z]{1,6}( on| nopass| >pw| #00| ~\\*| &\\*| \\+@all| resetpass)",
        1 => "[a-z]{1,4}[\n\r\t\u{0}\u{7f}\u{a0}é→][a-z ]{0,6}",
        1 => Just("default".to_string()),
        1 => Just("on".to_string()),
        1 => Just("user evil on nopass ~* +@all".to_string()),
    ]
}

fn user_strategy() -> impl Strategy<Value = UserSpec> {
    (
        hostile_string(),
        prop_oneof![Just(Role::App), Just(Role::Monitor), Just(Role::Custom), Just(Role::Admin)],
        proptest::option::of(proptest::collection::vec(hostile_string(), 0..3)),
        proptest::option::of(proptest::collection::vec(hostile_string(), 0..3)),
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(vec!["+get", "+set", "-set", "+ping", "+client|list", "+@read", "-@write", "+hget", "+publish", "+flushall", "+config|get", "+@dangerous"])
                    .prop_map(String::from),
                1 => "[+-]@?[a-z]{1,8}(\\|[a-z]{1,6})?",
                1 => "[ -~]{1,10}",
            ],
            0..3,
        ),
    )
        .prop_map(|(name, role, keys, channels, commands)| UserSpec { name, role, keys, channels, commands, auth: None, uri: None, disabled: false })
}

/// A user is accepted if a spec of the admin plus that user validates.
fn accepted(u: &UserSpec) -> bool {
    Spec {
        users: vec![UserSpec::new("admin", Role::Admin), u.clone()],
        ..Spec::default()
    }
    .validate()
    .is_ok()
}

struct AclRedis {
    child: std::process::Child,
    port: u16,
    pw: String,
    dir: std::path::PathBuf,
}
impl Drop for AclRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
impl AclRedis {
    /// A loopback-only TLS server (client certificates required, as in a bundle) loading
    /// `acl`; its certificates come from a default bundle written to `dir` once.
    fn start(dir: &std::path::Path, acl: &str, admin_pw: &str) -> Result<AclRedis, String> {
        require("redis-server");
        if !dir.join("ca.crt").exists() {
            let f = provision::core::bundle::generate(
                &Spec::default(),
                &provision::core::bundle::Gen::new("/b", "g", time::OffsetDateTime::now_utc()),
            )
            .unwrap();
            for n in ["ca.crt", "redis.crt", "redis.key", "admin.crt", "admin.key"] {
                std::fs::write(dir.join(n), f.get(n).unwrap().data.expose()).unwrap();
            }
        }
        let port = free_port();
        std::fs::write(dir.join("users.acl"), acl).unwrap();
        // A fresh log per start (a port can come round again): readiness is read from it.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let log = dir.join(format!("r{port}-{stamp}.log"));
        std::fs::write(
            dir.join("r.conf"),
            format!("port 0\ntls-port {port}\ntls-cert-file redis.crt\ntls-key-file redis.key\ntls-ca-cert-file ca.crt\ntls-auth-clients yes\nbind 127.0.0.1\nsave \"\"\nappendonly no\naclfile \"{}\"\nlogfile \"{}\"\n", dir.join("users.acl").display(), log.display()),
        )
        .unwrap();
        let mut child = Command::new("redis-server")
            .arg(dir.join("r.conf"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            }
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Ready to accept")
            {
                return Ok(AclRedis {
                    child,
                    port,
                    pw: admin_pw.into(),
                    dir: dir.to_path_buf(),
                });
            }
            assert!(Instant::now() < deadline, "redis-server not ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// `redis-cli` over TLS with the admin certificate, hostname verified (127.0.0.1 is a
    /// SAN of the default bundle); logged in as admin unless `as_admin` is false.
    fn cli(&self, as_admin: bool, args: &[&str]) -> String {
        let mut c = Command::new("redis-cli");
        c.env_clear()
            .current_dir(&self.dir)
            .args([
                "--tls",
                "--cacert",
                "ca.crt",
                "--cert",
                "admin.crt",
                "--key",
                "admin.key",
            ])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if as_admin {
            c.env("REDISCLI_AUTH", &self.pw).args(["--user", "admin"]);
        }
        let out = c.args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    fn cmd(&self, args: &[&str]) -> String {
        self.cli(true, args)
    }
}

/// The ACL rules each role is documented to get (README "The bundle", templates/users.acl),
/// written here from that description and not by the renderer: Redis applies them to an
/// `off` oracle user, and the rendered user must describe itself exactly as the oracle does.
fn documented_rules(u: &UserSpec) -> Vec<String> {
    let mut r: Vec<String> = Vec::new();
    let patterns = |r: &mut Vec<String>| {
        r.push("resetkeys".into());
        r.extend(u.key_patterns().iter().map(|k| format!("~{k}")));
        r.push("resetchannels".into());
        r.extend(u.channel_patterns().iter().map(|c| format!("&{c}")));
    };
    match u.role {
        Role::Admin => r.extend(["~*", "&*", "+@all"].map(String::from)),
        Role::App => {
            patterns(&mut r);
            r.extend(
                "-@all +@read +@write +@string +@hash +@list +@set +@sortedset +@stream \
                 +@bitmap +@hyperloglog +@geo +@transaction +@pubsub +@connection -@dangerous \
                 -@admin -@scripting +info"
                    .split_whitespace()
                    .map(String::from),
            );
        }
        Role::Monitor => r.extend(
            "resetkeys resetchannels -@all +ping +info +client|list +slowlog|len +latency|latest"
                .split_whitespace()
                .map(String::from),
        ),
        _ => {
            patterns(&mut r);
            r.push("-@all".into());
            r.extend(u.commands.iter().cloned());
        }
    }
    r
}

/// One field of `ACL GETUSER` as redis-cli prints it (name line, then value line).
fn getuser_field(reply: &str, field: &str) -> Option<String> {
    let lines: Vec<&str> = reply.lines().collect();
    let i = lines.iter().position(|l| *l == field)?;
    lines.get(i + 1).map(|v| v.to_string())
}

fn tokens_with(line: &str, prefix: char) -> BTreeSet<String> {
    line.split_whitespace()
        .filter_map(|t| t.strip_prefix(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn accepted_users_load_into_redis_with_exactly_the_declared_rights() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u32)
        .min(200);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let (tried, kept) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let compared = std::cell::Cell::new(0usize);
    let t = tempdir();
    runner
        .run(
            &proptest::collection::vec(user_strategy(), 1..40),
            |candidates| {
                let mut users = vec![UserSpec::new("admin", Role::Admin)];
                let mut names = BTreeSet::from(["admin".to_string()]);
                for u in candidates {
                    tried.set(tried.get() + 1);
                    if accepted(&u) && names.insert(u.name.to_ascii_lowercase()) {
                        users.push(u);
                    }
                }
                kept.set(kept.get() + users.len() - 1);
                let passwords: Vec<_> = users.iter().map(|_| password::generate()).collect();
                let hashes: Vec<String> =
                    passwords.iter().map(|p| sha256_hex(p.expose())).collect();
                let entries: Vec<AclEntry<'_>> = users
                    .iter()
                    .zip(&hashes)
                    .map(|(u, h)| AclEntry {
                        user: u,
                        hashes: vec![h.clone()],
                    })
                    .collect();
                let acl = render::users_acl(&entries).map_err(|e| {
                    TestCaseError::fail(format!("render refused accepted users: {e}"))
                })?;
                let r =
                    AclRedis::start(t.path(), &acl, passwords[0].expose_str()).map_err(|log| {
                        TestCaseError::fail(format!(
                            "redis-server refused the rendered ACL:\n{acl}\nlog:\n{log}"
                        ))
                    })?;
                // Exactly the declared users exist.
                let live: BTreeSet<String> = r
                    .cmd(&["ACL", "USERS"])
                    .lines()
                    .map(str::to_string)
                    .collect();
                let mut want: BTreeSet<String> = users.iter().map(|u| u.name.clone()).collect();
                want.insert("default".into());
                prop_assert_eq!(&live, &want, "users differ; ACL:\n{}", acl);
                let list = r.cmd(&["ACL", "LIST"]);
                for (u, h) in users.iter().zip(&hashes) {
                    let line = list
                        .lines()
                        .find(|l| l.split_whitespace().nth(1) == Some(u.name.as_str()))
                        .unwrap_or("");
                    prop_assert!(
                        line.contains(" on ") && !line.contains("nopass"),
                        "{}: {}",
                        u.name,
                        line
                    );
                    prop_assert_eq!(
                        tokens_with(line, '#'),
                        BTreeSet::from([h.clone()]),
                        "{} has other passwords",
                        u.name
                    );
                    let (keys, chans) = match u.role {
                        Role::Admin => (
                            BTreeSet::from(["*".to_string()]),
                            BTreeSet::from(["*".to_string()]),
                        ),
                        Role::Monitor => (BTreeSet::new(), BTreeSet::new()),
                        _ => (
                            u.key_patterns().into_iter().collect(),
                            u.channel_patterns().into_iter().collect(),
                        ),
                    };
                    prop_assert_eq!(
                        tokens_with(line, '~'),
                        keys,
                        "{} key patterns: {}",
                        u.name,
                        line
                    );
                    prop_assert_eq!(
                        tokens_with(line, '&'),
                        chans,
                        "{} channel patterns: {}",
                        u.name,
                        line
                    );
                    // Command rules, rule by rule: Redis's own description of the rendered
                    // user equals its description of the documented rules.
                    let oracle = format!("oracle-{}", hashes.iter().position(|x| x == h).unwrap());
                    let mut set = vec!["ACL", "SETUSER", oracle.as_str(), "off"];
                    let rules = documented_rules(u);
                    set.extend(rules.iter().map(String::as_str));
                    let reply = r.cmd(&set);
                    prop_assert_eq!(reply.as_str(), "OK", "oracle rules {:?}", rules);
                    let (got, want) = (
                        r.cmd(&["ACL", "GETUSER", &u.name]),
                        r.cmd(&["ACL", "GETUSER", &oracle]),
                    );
                    for field in ["commands", "keys", "channels"] {
                        let g = getuser_field(&got, field);
                        prop_assert!(g.is_some(), "{}: no {} in {}", u.name, field, got);
                        prop_assert_eq!(
                            &g,
                            &getuser_field(&want, field),
                            "{} {} differ from the documented rules {:?}",
                            u.name,
                            field,
                            rules
                        );
                    }
                    compared.set(compared.get() + 1);
                    if u.role != Role::Admin
                        && !u.commands.iter().any(|c| {
                            c == "+@all"
                                || c == "+flushall"
                                || c == "+@dangerous"
                                || c == "+@write"
                                || c == "+@keyspace"
                        })
                    {
                        let dry = r.cmd(&["ACL", "DRYRUN", &u.name, "FLUSHALL"]);
                        prop_assert!(
                            dry.contains("no permissions"),
                            "{} may FLUSHALL: {}",
                            u.name,
                            dry
                        );
                    }
                }
                // The default user is off: no anonymous access.
                let anon = r.cli(false, &["PING"]);
                prop_assert!(anon.contains("NOAUTH"), "anonymous PING: {}", anon);
                Ok(())
            },
        )
        .unwrap();
    let (tried, kept) = (tried.get(), kept.get());
    eprintln!(
        "{cases} redis-server loads: {tried} candidate users, {kept} accepted and verified \
         live, {} compared rule by rule with ACL GETUSER",
        compared.get()
    );
    println!(
        "FUZZ accepted_users_load_into_redis_with_exactly_the_declared_rights cases={cases} \
         reached={kept} requested={cases}"
    );
    assert_eq!(
        compared.get(),
        kept + cases as usize,
        "every user (and each case's admin) is compared"
    );
    assert!(
        kept > 0 && kept < tried,
        "the generator must produce both valid and hostile users ({kept}/{tried})"
    );
}

/// A value of provision.toml of any shape.
fn any_value() -> BoxedStrategy<String> {
    prop_oneof![
        "\\[\"[a-z0-9.:-]{1,20}\"(, \"[a-z0-9.:-]{1,20}\"){0,2}\\]",
        "[0-9]{1,6}",
        "\"[0-9]{1,4}(d|h|m)\"",
        prop::sample::select(vec!["true", "false"]).prop_map(String::from),
        "\"[a-z0-9.-]{1,20}\"",
    ]
    .boxed()
}

/// A value of the type `key` takes (its content may still be invalid).
fn typed_value(key: &str) -> BoxedStrategy<String> {
    match key {
        "hosts" | "bind" => "\\[\"[a-z0-9.:-]{1,20}\"(, \"[a-z0-9.:-]{1,20}\"){0,2}\\]".boxed(),
        "port" | "maxclients" | "timeout" => "[0-9]{1,5}".boxed(),
        "key_type" => prop::sample::select(vec!["ecdsa-p256", "ed25519", "rsa-2048", "dsa"])
            .prop_map(|k| format!("\"{k}\""))
            .boxed(),
        "cert_validity" | "ca_validity" => "\"[0-9]{1,4}(d|h|m)\"".boxed(),
        "disable_commands" | "no_persistence" => prop::sample::select(vec!["true", "false"])
            .prop_map(String::from)
            .boxed(),
        _ => "\"[a-z0-9.-]{1,20}\"".boxed(),
    }
}

/// A provision.toml of distinct real top-level keys, each mostly with a value of its type
/// (sometimes of another), so that most files parse and many reach `generate`.
fn config_file() -> impl Strategy<Value = String> {
    let keys = vec![
        "hosts",
        "bind",
        "port",
        "key_type",
        "cert_validity",
        "ca_validity",
        "disable_commands",
        "no_persistence",
        "maxclients",
        "timeout",
        "trust_domain",
    ];
    prop::sample::subsequence(keys, 1..5).prop_flat_map(|ks| {
        ks.into_iter()
            .map(|k| {
                prop_oneof![5 => typed_value(k), 1 => any_value()]
                    .prop_map(move |v| format!("{k} = {v}\n"))
            })
            .collect::<Vec<_>>()
            .prop_map(|lines| lines.concat())
    })
}

/// Structured config files reach the generator: counted, so a generator that only produces
/// parse errors fails instead of passing vacuously.
#[test]
fn fuzz_config_parser_structured() {
    let mut runner = TestRunner::new(Config::default());
    let (mut parsed, mut generated) = (0u32, 0u32);
    let cases = runner.config().cases;
    let strategy = config_file();
    for _ in 0..cases {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(c) = ConfigFile::parse(&text) else {
            continue;
        };
        parsed += 1;
        let mut spec = Spec::default();
        if let Some(v) = c.hosts {
            spec.hosts = v;
        }
        if let Some(v) = c.bind {
            spec.bind = v;
        }
        if let Some(v) = c.port {
            spec.port = v;
        }
        if let Some(v) = c.key_type {
            spec.key_type = v;
        }
        if let Some(v) = c.cert_validity {
            spec.cert_validity = v;
        }
        if let Some(v) = c.ca_validity {
            spec.ca_validity = v;
        }
        if let Some(v) = c.disable_commands {
            spec.disable_commands = v;
        }
        if let Some(v) = c.no_persistence {
            spec.no_persistence = v;
        }
        if let Some(v) = c.trust_domain {
            spec.trust_domain = v;
        }
        if spec.validate().is_err() {
            continue;
        }
        let f = provision::core::bundle::generate(
            &spec,
            &provision::core::bundle::Gen::new("/b", "g", time::OffsetDateTime::now_utc()),
        );
        assert!(f.is_ok(), "{text}: {:?}", f.err());
        generated += 1;
    }
    println!("{cases} config files: {parsed} parsed, {generated} generated a bundle");
    println!(
        "FUZZ fuzz_config_parser_structured cases={cases} reached={generated} requested={cases}"
    );
    assert!(
        parsed * 4 >= cases && generated * 10 >= cases && parsed < cases,
        "too few cases reach the body: {parsed} parsed, {generated} generated of {cases}"
    );
}

/// Runs a fuzz target: `body` on `PROPTEST_CASES` (default 256) values of `strategy`, with
/// proptest's shrinking on failure. `body` says whether the case reached the interesting part
/// (parsed, valid, ...). Prints `FUZZ <name> cases=<n> reached=<m>`, which scripts/fuzz.sh
/// records; a target whose cases never reach past the input check proves little.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    body: impl Fn(S::Value) -> Result<bool, proptest::test_runner::TestCaseError>,
) -> (u32, u32) {
    let mut runner = TestRunner::new(Config::default());
    let cases = runner.config().cases;
    let (ran, reached) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let r = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        if body(v)? {
            reached.set(reached.get() + 1);
        }
        Ok(())
    });
    println!(
        "FUZZ {name} cases={} reached={} requested={cases}",
        ran.get(),
        reached.get()
    );
    if let Err(e) = r {
        panic!("{name}: {e}");
    }
    (ran.get(), reached.get())
}

#[test]
fn fuzz_config_parser_never_panics() {
    fuzz("fuzz_config_parser_never_panics", "(?s).{0,400}", |text| {
        Ok(ConfigFile::parse(&text).is_ok())
    });
}

#[test]
fn fuzz_pem_inspection_never_panics() {
    let (_, reached) = fuzz(
        "fuzz_pem_inspection_never_panics",
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..600),
            // PEM armour around random bytes, so the base64 and DER layers are reached too.
            1 => proptest::collection::vec(any::<u8>(), 0..400).prop_map(|d| {
                use base64::Engine;
                format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    base64::engine::general_purpose::STANDARD.encode(d)
                )
                .into_bytes()
            }),
        ],
        |bytes| {
            let mut reached = false;
            if let Ok(ders) = provision::core::inspect::pem_certificates(&bytes) {
                reached = !ders.is_empty();
                for d in ders {
                    let _ = provision::core::inspect::inspect(&d);
                }
            }
            let _ = provision::core::inspect::inspect(&bytes);
            let _ = provision::core::inspect::key_spki(&String::from_utf8_lossy(&bytes));
            Ok(reached)
        },
    );
    assert!(reached > 0, "no case got past the PEM armour");
}

#[test]
fn fuzz_mutated_certificates_never_panic() {
    let (cases, reached) = fuzz(
        "fuzz_mutated_certificates_never_panic",
        (0usize..2000, any::<u8>(), 0usize..2000),
        |(pos, byte, cut)| {
            let der = CERT.with(|c| c.clone());
            let mut m = der.clone();
            let p = pos % m.len();
            m[p] = byte;
            m.truncate(cut.max(1).min(m.len()));
            Ok(match provision::core::inspect::inspect(&m) {
                Ok(i) => {
                    let _ = provision::core::inspect::verify_signed_by(&m, &der);
                    let _ = i.sans;
                    true
                }
                Err(_) => false,
            })
        },
    );
    assert!(
        reached > 0 && reached < cases,
        "mutations should both parse and fail: {reached} of {cases} parsed"
    );
}

#[test]
fn fuzz_acl_renderer() {
    let (cases, reached) = fuzz(
        "fuzz_acl_renderer",
        proptest::collection::vec(user_strategy(), 0..6),
        |users| {
            let mut spec = Spec::default();
            spec.users.extend(users);
            let valid = spec.validate().is_ok();
            if valid {
                let hashes: Vec<String> = spec
                    .users
                    .iter()
                    .map(|u| sha256_hex(u.name.as_bytes()))
                    .collect();
                let entries: Vec<AclEntry<'_>> = spec
                    .users
                    .iter()
                    .zip(&hashes)
                    .map(|(u, h)| AclEntry {
                        user: u,
                        hashes: vec![h.clone()],
                    })
                    .collect();
                let acl = render::users_acl(&entries);
                prop_assert!(acl.is_ok(), "{:?}", acl);
                let acl = acl.unwrap();
                prop_assert_eq!(acl.lines().count(), spec.users.len() + 1);
                for (line, u) in acl.lines().skip(1).zip(&spec.users) {
                    let t: Vec<&str> = line.split_whitespace().collect();
                    prop_assert_eq!(t[0], "user");
                    prop_assert_eq!(t[1], u.name.as_str());
                    prop_assert_eq!(t[2], "on");
                    prop_assert!(t.iter().all(|x| !x.starts_with('>')
                        && *x != "nopass"
                        && *x != "allkeys"
                        && *x != "allcommands"
                        || u.role == Role::Admin));
                }
            }
            Ok(valid)
        },
    );
    assert!(
        reached * 10 >= cases,
        "only {reached} of {cases} user sets were valid"
    );
}

thread_local! {
    static CERT: Vec<u8> = {
        let f = provision::core::bundle::generate(&Spec::default(), &provision::core::bundle::Gen::new("/b", "g", time::OffsetDateTime::now_utc())).unwrap();
        provision::core::inspect::pem_certificates(f.get("redis.crt").unwrap().data.expose()).unwrap().remove(0)
    };
}
