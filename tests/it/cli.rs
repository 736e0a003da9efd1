//! The binary as a user meets it: file modes, --force, --json, help, and bad input that must
//! fail with a clear message, exit 2, and leave an existing bundle byte-for-byte unchanged.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn init_with_umask(umask: &str, dir: &Path) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask {umask}; exec \"$0\" init --dir \"$1\" --quiet"
        ))
        .arg(bin())
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

#[track_caller]
fn assert_modes(dir: &Path) {
    assert_eq!(mode_of(dir), 0o700, "directory mode");
    let gen = dir.join("..data");
    for e in std::fs::read_dir(&gen).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let want = if name.ends_with(".crt") || name == "manifest.json" || name == "manifest.sig" {
            0o644
        } else {
            0o600
        };
        assert_eq!(
            e.metadata().unwrap().permissions().mode() & 0o7777,
            want,
            "{name}"
        );
    }
    assert_eq!(mode_of(&dir.join("..data")), 0o700, "generation directory");
    assert_eq!(mode_of(&dir.join("audit.log")), 0o600);
    assert_eq!(mode_of(&dir.join(".lock")), 0o600);
}

#[test]
fn modes_are_exact_whatever_the_umask() {
    for umask in ["000", "022", "077"] {
        let t = tempdir();
        let dir = t.path().join("s");
        init_with_umask(umask, &dir);
        assert_modes(&dir);
    }
}

#[test]
fn bundle_has_every_file_and_no_secret_reaches_output() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    let human = run(&["init", "--dir", dir.to_str().unwrap()]).success();
    let names = [
        "ca.crt",
        "ca.key",
        "redis.crt",
        "redis.key",
        "users.acl",
        "redis.conf",
        "renamed-commands",
        "manifest.json",
        "manifest.sig",
        "signer.crt",
        "signer.key",
        "admin.crt",
        "admin.key",
        "admin.password",
        "app.crt",
        "app.key",
        "app.password",
        "monitor.crt",
        "monitor.key",
        "monitor.password",
    ];
    for n in names {
        assert!(dir.join(n).is_file(), "{n} missing");
        assert!(human.stdout.contains(n), "summary does not list {n}");
    }
    assert!(human.stdout.contains("redis-server "), "next steps");
    assert!(
        human.stdout.contains("REDISCLI_AUTH=\"$(cat "),
        "next steps read the password from its file"
    );
    assert!(!human.stdout.contains(" -a "), "never suggests -a");
    let json_dir = b.path("j");
    let json = run(&["init", "--dir", json_dir.to_str().unwrap(), "--json"]).success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(v["files"].as_array().unwrap().len(), names.len());
    assert_eq!(v["certificates"].as_array().unwrap().len(), 6);
    assert!(
        json.stderr.is_empty(),
        "--json writes nothing to stderr: {}",
        json.stderr
    );
    let quiet = run(&["init", "--dir", b.path("q").to_str().unwrap(), "--quiet"]).success();
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());

    // Every secret of both bundles: passwords, key bodies, secret command names.
    for (d, outputs) in [(dir, &human), (json_dir.as_path(), &json)] {
        let audit = read(d, "audit.log");
        let manifest = read(d, "manifest.json");
        let mut secrets: Vec<String> = ["admin", "app", "monitor"]
            .iter()
            .map(|u| read(d, &format!("{u}.password")))
            .collect();
        for k in ["ca.key", "redis.key", "app.key"] {
            secrets.extend(
                read(d, k)
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .map(str::to_string),
            );
        }
        secrets.extend(
            read(d, "renamed-commands")
                .lines()
                .map(|l| l.split(' ').nth(1).unwrap().to_string()),
        );
        // Regression: a password's SHA-256 is its users.acl hash; it must not reach 0644 files or output.
        for u in ["admin", "app", "monitor"] {
            secrets.push(provision::core::password::sha256_hex(
                read(d, &format!("{u}.password")).as_bytes(),
            ));
        }
        for s in &secrets {
            for (what, text) in [
                ("stdout", &outputs.stdout),
                ("stderr", &outputs.stderr),
                ("audit.log", &audit),
                ("manifest.json", &manifest),
            ] {
                assert!(!text.contains(s.as_str()), "a secret leaked into {what}");
            }
        }
        assert!(
            !read(d, "redis.conf").contains(&read(d, "app.password")),
            "password in redis.conf"
        );
        assert!(
            !read(d, "users.acl").contains(&read(d, "app.password")),
            "plaintext password in users.acl"
        );
    }
}

#[test]
fn existing_bundle_needs_force_and_force_keeps_the_previous_generation() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let before = snapshot(dir);
    run(&["init", "--dir", d])
        .code(2)
        .stderr_has("already holds a bundle")
        .stderr_has("--force");
    assert_eq!(snapshot(dir), before, "refused init changed the bundle");

    let old_gen = std::fs::read_link(dir.join("..data")).unwrap();
    let old_pw = read(dir, "app.password");
    let old_ca = read(dir, "ca.crt");
    run(&["init", "--dir", d, "--force", "-q"]).success();
    assert_ne!(read(dir, "app.password"), old_pw);
    assert_ne!(read(dir, "ca.crt"), old_ca);
    assert_eq!(
        std::fs::read_link(dir.join("..previous")).unwrap(),
        old_gen,
        "previous generation kept"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("..previous/app.password")).unwrap(),
        old_pw
    );
    assert_modes(dir);
    // A third run prunes the oldest generation: only current and previous remain.
    run(&["init", "--dir", d, "--force", "-q"]).success();
    let gens = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("..gen-")
        })
        .count();
    assert_eq!(gens, 2);
    assert_eq!(
        read(dir, "audit.log").lines().count(),
        3,
        "one audit line per init"
    );
}

#[test]
fn force_with_fewer_users_removes_their_links() {
    let b = Bundle::init(&[]);
    let dir = b.dir.as_path();
    let cfg = b.path("c.toml");
    std::fs::write(&cfg, "[[users]]\nname = \"admin\"\nrole = \"admin\"\n").unwrap();
    run(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--force",
        "-q",
    ])
    .success();
    assert!(
        !dir.join("app.password").exists()
            && std::fs::symlink_metadata(dir.join("app.password")).is_err()
    );
    assert!(read(dir, "users.acl").lines().count() == 2);
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let cfg = |name: &str, body: &str| {
        let p = b.path(name);
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().into_owned()
    };
    let injection = cfg("inj.toml", "[[users]]\nname = \"app on nopass ~* +@all\"\nrole = \"app\"\n[[users]]\nname = \"admin\"\nrole = \"admin\"\n");
    let default_user = cfg(
        "def.toml",
        "[[users]]\nname = \"default\"\nrole = \"admin\"\n",
    );
    let unknown = cfg("unk.toml", "colour = \"blue\"\n");
    let wrong_type = cfg("type.toml", "port = \"six\"\n");
    let dup = cfg("dup.toml", "[[users]]\nname = \"admin\"\nrole = \"admin\"\n[[users]]\nname = \"admin\"\nrole = \"app\"\n");
    let newline_pat = cfg("nl.toml", "[[users]]\nname = \"admin\"\nrole = \"admin\"\n[[users]]\nname = \"a\"\nrole = \"app\"\nkeys = [\"x\\nuser evil on nopass +@all\"]\n");
    let nul_pat = cfg("nul.toml", "[[users]]\nname = \"admin\"\nrole = \"admin\"\n[[users]]\nname = \"a\"\nrole = \"app\"\nkeys = [\"x\\u0000y\"]\n");
    let bad_cmd = cfg("cmd.toml", "[[users]]\nname = \"admin\"\nrole = \"admin\"\n[[users]]\nname = \"r\"\nrole = \"custom\"\ncommands = [\"+get nopass\"]\n");
    let with_uri = cfg("uri.toml", "[[users]]\nname = \"admin\"\nrole = \"admin\"\n[[users]]\nname = \"app\"\nrole = \"app\"\nuri = \"spiffe://example.org/sa/app\"\n");
    let no_admin = cfg("noadm.toml", "[[users]]\nname = \"a\"\nrole = \"app\"\n");
    let a_file = cfg("plainfile", "x");
    let ww = b.path("ww");
    std::fs::create_dir(&ww).unwrap();
    std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o777)).unwrap();
    let link = b.path("link");
    std::os::unix::fs::symlink(dir, &link).unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--host", "bad host"], "invalid host `bad host`"),
        (vec!["--host", "256.1.1.1"], "invalid host"),
        (vec!["--host", "redis\nx"], "invalid host"),
        (vec!["--app-keys", "app:* +@all"], "invalid key pattern"),
        (vec!["--app-keys", "~*"], "invalid key pattern"),
        (vec!["--app-keys", "a\u{1}b"], "invalid key pattern"),
        (vec!["--config", &nul_pat], "invalid key pattern"),
        (vec!["--app-channels", "x y"], "invalid channel pattern"),
        (vec!["--cert-validity", "0d"], "zero"),
        (vec!["--ca-validity", "-5d"], "negative"),
        (vec!["--ca-validity", "99999999999999999999d"], "too large"),
        (
            vec!["--ca-validity", "30d", "--cert-validity", "365d"],
            "longer than the CA",
        ),
        (vec!["--key-type", "dsa"], "invalid value 'dsa'"),
        (vec!["--port", "0"], "port 0"),
        (vec!["--bind", "localhost"], "invalid bind address"),
        (vec!["--config", &injection], "invalid user name"),
        (vec!["--config", &default_user], "reserved"),
        (vec!["--config", &unknown], "unknown field `colour`"),
        (vec!["--config", &wrong_type], "invalid type"),
        (vec!["--config", &dup], "defined twice"),
        (vec!["--config", &newline_pat], "invalid key pattern"),
        (vec!["--config", &bad_cmd], "invalid command rule"),
        (vec!["--config", &no_admin], "role `admin`"),
        (
            vec![
                "--config",
                &with_uri,
                "--server",
                "valkey-9.1",
                "--user-auth",
                "cert",
                "--cert-identity",
                "cn",
            ],
            "has a `uri`, but the certificate identity is `cn`",
        ),
        (
            vec!["--config", &with_uri, "--server", "valkey-9.1"],
            "user `app` has a `uri`, but no user logs in by certificate",
        ),
        (
            vec![
                "--config",
                &with_uri,
                "--server",
                "valkey-9.0",
                "--user-auth",
                "cert",
            ],
            "which valkey-9.0 lacks; Valkey 9.1 and newer have it",
        ),
        (
            vec!["--server", "valkey-9.1", "--cert-identity", "uri"],
            "no user logs in by certificate",
        ),
        (
            vec!["--config", "/nonexistent/provision.toml"],
            "reading config file",
        ),
    ];
    let before = snapshot(b.tmp.path());
    for (extra, needle) in &cases {
        let mut args = vec!["init", "--dir", d, "--force"];
        args.extend(extra.iter().copied());
        run(&args).code(2).stderr_has(needle);
        assert_eq!(
            snapshot(b.tmp.path()),
            before,
            "case {extra:?} changed the disk"
        );
    }
    // Directory problems: each a clear error, nothing written.
    let dir_cases: Vec<(String, &str, i32)> = vec![
        (a_file.clone(), "not a directory", 2),
        (format!("{a_file}/sub"), "does not exist", 2),
        (ww.to_string_lossy().into_owned(), "world-writable", 2),
        (link.to_string_lossy().into_owned(), "symbolic link", 2),
        ("/nonexistent-parent/secrets".into(), "does not exist", 2),
    ];
    let before = snapshot(b.tmp.path());
    for (target, needle, code) in &dir_cases {
        run(&["init", "--dir", target, "--force"])
            .code(*code)
            .stderr_has(needle)
            .stderr_has("hint:");
        assert_eq!(
            snapshot(b.tmp.path()),
            before,
            "dir case {target} changed the disk"
        );
    }
    let n = cases.len() + dir_cases.len();
    eprintln!("{n} bad-input cases checked");
    // README.md states this count.
    assert_eq!(n, 33, "update the count in README.md (tests, cli)");
}

#[test]
fn a_directory_where_a_file_belongs_is_refused() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(dir.join("users.acl")).unwrap();
    run(&["init", "--dir", dir.to_str().unwrap(), "--force"])
        .code(2)
        .stderr_has("is a directory");
    assert!(std::fs::symlink_metadata(dir.join("..data")).is_err());
}

#[test]
fn existing_open_directory_is_tightened() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(&["init", "--dir", dir.to_str().unwrap()])
        .success()
        .stdout_has("from 0755 to 0700");
    assert_eq!(mode_of(dir), 0o700);
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let h = run(&["init", "--help"]).success();
    assert!(h.stdout.contains("provision init --dir ./secrets"));
    assert!(h.stdout.contains("--key-type"));
    assert!(h.stdout.contains("ecdsa-p256") && h.stdout.contains("rsa-4096"));
    let top = run(&["--help"]).success();
    assert!(top.stdout.contains("Exit codes") && top.stdout.contains("3 UNKNOWN"));
    run(&["no-such-command"]).code(2);
}

#[test]
fn example_config_file_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("provision.example.toml");
    let b = Bundle::init(&["--config", example.to_str().unwrap()]);
    let acl = read(&b.dir, "users.acl");
    assert!(
        acl.contains("user ja4proxy on #") && acl.contains("~ja4:* ~rate:* ~enforcement:*"),
        "{acl}"
    );
}

/// `provision check | head -1`: the reader is gone before the output is written. The command
/// must not panic, and must keep its own exit code (monitoring reads it, e.g. through
/// `${PIPESTATUS[0]}`). The pipe's read end is closed before the command starts, so every
/// write meets EPIPE.
#[test]
fn a_closed_stdout_pipe_is_not_a_crash_and_keeps_the_exit_code() {
    let b = Bundle::init(&[]);
    let d = b.d();
    let cases: [(&[&str], i32); 5] = [
        (&["check", "--dir", d], 0),
        (&["check", "--dir", d, "--json"], 0),
        (&["check", "--dir", d, "--format", "prometheus"], 0),
        // Every certificate expires within 400 days: WARNING, with a table to print.
        (&["check", "--dir", d, "--warn", "400d", "--crit", "1d"], 1),
        (&["env", "--dir", d], 0),
    ];
    for (args, code) in cases {
        let (r, w) = rustix::pipe::pipe().unwrap();
        drop(r);
        let out = Command::new(bin())
            .args(args)
            .stdout(std::process::Stdio::from(w))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}: a closed pipe is not worth a message");
    }
}

/// `init --json` names only files that exist: the standalone `redis_conf`, or per node.
#[test]
fn init_json_names_existing_configs_for_every_topology() {
    let t = tempdir();
    for (name, extra) in [
        ("standalone", vec![]),
        ("cluster", vec!["--topology", "cluster", "--nodes", "6"]),
        (
            "replication",
            vec!["--topology", "replication", "--nodes", "3"],
        ),
    ] {
        let dir = t.path().join(name);
        let d = dir.to_str().unwrap().to_string();
        let mut args = vec!["init", "--dir", d.as_str(), "--json", "--port", "21000"];
        args.extend(extra);
        let out = run(&args).success();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let nodes = v["nodes"].as_array().unwrap();
        assert!(!nodes.is_empty(), "{name}: no nodes");
        for n in nodes {
            let conf = n["conf"].as_str().unwrap();
            assert!(Path::new(conf).exists(), "{name}: {conf} does not exist");
        }
        if name == "standalone" {
            assert!(Path::new(v["redis_conf"].as_str().unwrap()).exists());
        } else {
            assert!(v["redis_conf"].is_null(), "{name}: {}", v["redis_conf"]);
            assert_eq!(nodes.len(), if name == "cluster" { 6 } else { 3 });
        }
    }
}

/// `init --server`: a given target, the server found on PATH, or the baseline when none is;
/// the rename of CONFIG follows the target (Valkey 9's Lua engine asks for CONFIG by name).
#[test]
fn the_target_server_is_given_found_on_path_or_the_baseline() {
    let t = tempdir();
    let init_json = |name: &str, path: &str, extra: &[&str]| {
        let dir = t.path().join(name);
        let out = Command::new(bin())
            .args(["init", "--json", "--dir", dir.to_str().unwrap()])
            .args(extra)
            .env_clear()
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let conf = read(&dir, "redis.conf");
        (j["server"].clone(), conf.contains("rename-command CONFIG "))
    };
    let empty = t.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();

    let (s, renamed) = init_json("given", empty, &["--server", "valkey-9.1"]);
    assert_eq!(s["target"], "valkey-9.1");
    assert_eq!(s["chosen"], "given");
    assert_eq!(s["renames_config"], false);
    assert!(!renamed, "a valkey-9.1 bundle must keep CONFIG's name");

    let (s, renamed) = init_json("given8", empty, &["--server", "redis-8.0"]);
    assert_eq!(s["target"], "redis-8.0");
    assert!(renamed, "a redis-8.0 bundle renames CONFIG");

    let (s, renamed) = init_json("baseline", empty, &[]);
    assert_eq!(s["target"], "redis-7.0");
    assert_eq!(s["chosen"], "baseline");
    assert!(s["found"].is_null());
    assert!(renamed);

    require("redis-server");
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    let (s, _) = init_json("found", &std::env::var("PATH").unwrap(), &[]);
    assert_eq!(s["chosen"], "found", "{s}");
    let v = s["found"]["version"].as_str().unwrap();
    assert!(version.contains(&format!("v={v} ")), "{version} vs {s}");

    // The config file's `server` is checked like the flag: exit 2, the value named.
    let cfg = t.path().join("c.toml");
    std::fs::write(&cfg, "server = \"redis-6.2\"\n").unwrap();
    let dir = t.path().join("bad");
    run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("redis-6.2");
    assert!(!dir.exists(), "a refused config file must write nothing");
    run(&[
        "init",
        "--server",
        "redis-6.2",
        "--dir",
        dir.to_str().unwrap(),
    ])
    .code(2);
}
