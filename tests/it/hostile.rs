//! Hostile input, one test per row of the threat model that this layer closes: a directory
//! raced or reached through another user's link, a FIFO or device where a bundle file
//! belongs, a crash that could dump secrets, and usage errors of `check` behind global flags.
//! Each asserts the exact outcome: exit code, the file named, nothing written.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// The tests run as root and use `nobody` as the other local user.
fn nobody() -> (u32, u32) {
    assert!(
        rustix::process::getuid().is_root(),
        "these tests create files owned by another user: run them as root (CI does)"
    );
    (65534, 65534)
}

fn chown(p: &std::path::Path, (u, g): (u32, u32)) {
    std::os::unix::fs::lchown(p, Some(u), Some(g)).unwrap();
}

/// A world-writable sticky directory owned by root, like /tmp (`mkdir -m1777 /tmp/pub`).
fn public_dir(t: &tempfile::TempDir) -> std::path::PathBuf {
    let p = t.path().join("pub");
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).unwrap();
    p
}

#[test]
fn a_directory_another_user_made_first_is_refused_and_nothing_is_written() {
    let who = nobody();
    let t = tempdir();
    let race = public_dir(&t).join("race");
    // nobody wins the race: their 0777 directory is where the bundle would go.
    std::fs::create_dir(&race).unwrap();
    std::fs::set_permissions(&race, std::fs::Permissions::from_mode(0o777)).unwrap();
    chown(&race, who);
    run(&["init", "--dir", race.to_str().unwrap()])
        .code(2)
        .stderr_has("owned by uid 65534");
    assert_eq!(
        std::fs::read_dir(&race).unwrap().count(),
        0,
        "something was written"
    );
    run(&[
        "restore",
        "--dir",
        race.to_str().unwrap(),
        "/nonexistent.age",
    ])
    .code(2);
    assert_eq!(std::fs::read_dir(&race).unwrap().count(), 0);
}

#[test]
fn a_parent_reached_through_another_users_link_is_refused() {
    let who = nobody();
    let t = tempdir();
    let public = public_dir(&t);
    let theirs = public.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown(&theirs, who);
    let link = public.join("s4");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    chown(&link, who);
    let dir = link.join("secrets");
    run(&["init", "--dir", dir.to_str().unwrap()])
        .code(2)
        .stderr_has("symbolic link owned by uid 65534");
    assert!(!theirs.join("secrets").exists(), "the bundle was written");
    // The same path through a link of our own, to a directory of our own, is fine.
    let mine = public.join("mine");
    std::fs::create_dir(&mine).unwrap();
    let own_link = public.join("m4");
    std::os::unix::fs::symlink(&mine, &own_link).unwrap();
    run(&[
        "init",
        "--dir",
        own_link.join("secrets").to_str().unwrap(),
        "-q",
    ])
    .success();
    assert!(mine.join("secrets/..data").exists());
}

#[test]
fn a_world_writable_non_sticky_ancestor_is_refused() {
    let t = tempdir();
    let open = t.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = open.join("secrets");
    run(&["init", "--dir", dir.to_str().unwrap()])
        .code(2)
        .stderr_has("writable by every user (mode 0777)");
    assert!(!dir.exists());
}

/// `ca.crt -> /dev/zero` used to make `check` read until memory ran out, and a FIFO made it
/// hang: both are CRITICAL findings naming the file, and a writer refuses to build on them.
/// (A hang fails the test through the runner's timeout, not a clock in the test.)
#[test]
fn a_device_where_a_bundle_file_belongs_is_critical() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let ca = dir.join("ca.crt");
    std::fs::remove_file(&ca).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &ca).unwrap();
    let r = run(&["--json", "check", "--dir", d]).code(2);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == "ca.crt" && f["message"].as_str().unwrap().contains("/dev/zero")),
        "{j}"
    );
}

fn finding<'a>(j: &'a serde_json::Value, file: &str) -> Vec<&'a str> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"] == file)
        .map(|f| f["message"].as_str().unwrap())
        .collect()
}

#[test]
fn a_fifo_in_the_generation_is_critical_and_no_writer_opens_it() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let gen = std::fs::read_link(dir.join("..data")).unwrap();
    let inside = dir.join(&gen).join("ca.crt");
    std::fs::remove_file(&inside).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &inside,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let r = run(&["--json", "check", "--dir", d]).code(2);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let msgs = finding(&j, "ca.crt");
    assert!(msgs.iter().any(|m| m.contains("FIFO")), "{j}");
    let before = snapshot(dir);
    for args in [
        &["renew", "--force", "--dir", d][..],
        &["rotate", "--dir", d, "--user", "app"][..],
        &["backup", "--dir", d, "--format", "k8s", "-o", "-"][..],
    ] {
        run(args).code(1).stderr_has("ca.crt").stderr_has("FIFO");
    }
    assert_eq!(before, snapshot(dir), "nothing written");
}

/// Usage errors of `check` are UNKNOWN (3) to a monitoring system, whatever global flags come
/// first; other commands' usage errors stay 2.
#[test]
fn check_usage_errors_are_unknown_whatever_global_flags_come_first() {
    for args in [
        &["--quiet", "check", "--warn", "bogus"][..],
        &["--json", "check", "--bogus-flag"][..],
        &["-q", "check", "DIR", "extra-arg"][..],
        &["check", "--bogus-flag"][..],
    ] {
        run(args).code(3);
    }
    run(&["--json", "init", "--bogus-flag"]).code(2);
    run(&["-q", "renew", "--bogus-flag"]).code(2);
    run(&["check", "--help"]).code(0);
    // Every command is in --help's exit-code table.
    let help = run(&["--help"]).success().stdout;
    let (commands, codes) = help.split_once("Exit codes:").expect("an exit-code table");
    let names: Vec<&str> = commands
        .split_once("Commands:")
        .unwrap()
        .1
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line starts two blanks in; wrapped descriptions are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .collect();
    assert_eq!(names.len(), 17, "{names:?}");
    for n in names {
        assert!(
            codes
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == n),
            "`{n}` is missing from the exit-code table:\n{codes}"
        );
    }
}

/// A crash mid-run with core dumps allowed by the shell (`ulimit -c unlimited`, and this
/// machine's core_pattern writes `core` into the working directory): SIGABRT while the keys
/// are generated leaves no core file, and no bundle.
#[test]
fn sigabrt_mid_run_with_unlimited_cores_writes_no_core_file() {
    let t = tempdir();
    let work = t.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -c unlimited && exec \"$0\" init --dir s --key-type rsa-4096 -q",
        ])
        .arg(bin())
        .current_dir(&work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::ABORT,
    )
    .unwrap();
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(6), "killed by SIGABRT mid-run: {st:?}");
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.starts_with("core")),
        "a core file: {left:?}"
    );
    assert!(!work.join("s").join("..data").exists(), "{left:?}");
}

/// No core file can hold a secret: the process sets RLIMIT_CORE to 0 and makes itself not
/// dumpable before anything else, as the kernel sees it.
#[test]
fn the_process_can_never_dump_core() {
    require("strace");
    let t = tempdir();
    let log = t.path().join("strace.log");
    let st = Command::new("strace")
        .args(["-qq", "-e", "trace=prlimit64,setrlimit,prctl", "-o"])
        .arg(&log)
        .arg(bin())
        .args(["init", "-q", "--dir"])
        .arg(t.path().join("s"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.lines().any(|l| l.contains("RLIMIT_CORE")
            && l.contains("rlim_cur=0, rlim_max=0")
            && l.trim_end().ends_with("= 0")),
        "{calls}"
    );
    assert!(
        calls
            .lines()
            .any(|l| l.contains("PR_SET_DUMPABLE, SUID_DUMP_DISABLE")
                && l.trim_end().ends_with("= 0")),
        "{calls}"
    );
}

/// The current generation's directory, through `..data`.
fn generation(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(std::fs::read_link(dir.join("..data")).unwrap())
}

/// Appends `line` to a bundle file through its visible link (as an intruder or an operator
/// editing by hand would).
fn append(dir: &std::path::Path, name: &str, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(name))
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

fn check_json(d: &str, code: i32) -> serde_json::Value {
    let r = run(&["--json", "check", "--dir", d]).code(code);
    serde_json::from_str(&r.stdout).unwrap()
}

const HASH_OF_X: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

/// Every kind of bundle file, changed by hand: `check` is CRITICAL naming the file, every
/// writer refuses (exit 1, nothing written), and `--accept-local-changes` carries the edit
/// into a new, signed generation that audit.log records.
#[test]
fn a_hand_edit_of_any_file_is_critical_and_writers_refuse_it() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let j = check_json(d, 0);
    assert_eq!(j["integrity"]["signed"], true, "{j}");
    let edits: &[(&str, &str)] = &[
        (
            "users.acl",
            &format!("user backdoor on #{HASH_OF_X} ~* &* +@all"),
        ),
        ("redis.conf", "tls-auth-clients no"),
        ("redis.conf", "protected-mode no"),
        ("redis.conf", "bind 0.0.0.0"),
        ("app.password", "x"),
        ("redis.key", "# appended"),
        ("app.crt", "# appended"),
        ("renamed-commands", "# appended"),
        ("signer.key", "# appended"),
    ];
    for (file, line) in edits {
        let gen = generation(dir);
        let original = std::fs::read(gen.join(file)).unwrap();
        append(dir, file, line);
        let j = check_json(d, 2);
        let msgs = finding(&j, file);
        assert!(
            msgs.iter()
                .any(|m| m.contains("changed since provision wrote it")),
            "{file}: {j}"
        );
        let before = snapshot(dir);
        for args in [
            &["renew", "--force", "--dir", d][..],
            &["rotate", "--dir", d, "--user", "app"][..],
            &["backup", "--dir", d, "--format", "k8s", "-o", "-"][..],
        ] {
            run(args)
                .code(1)
                .stderr_has(&format!("{file}: changed since provision wrote it"));
        }
        assert_eq!(before, snapshot(dir), "{file}: nothing written");
        std::fs::write(gen.join(file), original).unwrap();
        check_json(d, 0);
    }

    // An edit made on purpose: accepted, recorded, signed.
    append(dir, "redis.conf", "maxmemory 100mb");
    run(&["renew", "--dir", d, "--accept-local-changes", "-q"]).success();
    let j = check_json(d, 0);
    assert_eq!(j["integrity"]["signed"], true, "{j}");
    assert!(read(dir, "redis.conf").contains("maxmemory 100mb"));
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["accepted_local_changes"],
        serde_json::json!(["redis.conf"])
    );
}

/// The manifest cannot be rewritten to match an edit: its signature no longer verifies. A
/// file slipped into the generation, a deleted signature and a signer from another CA are
/// each CRITICAL, naming the file.
#[test]
fn a_rewritten_manifest_or_a_foreign_signer_is_critical() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let other = b.path("other");
    run(&["init", "--dir", other.to_str().unwrap(), "-q"]).success();
    let gen = generation(dir);
    let keep = |n: &str| std::fs::read(gen.join(n)).unwrap();
    let (manifest, sig, signer, signer_key) = (
        keep("manifest.json"),
        keep("manifest.sig"),
        keep("signer.crt"),
        keep("signer.key"),
    );

    // app.crt swapped for another bundle's, and its digest in manifest.json updated to match
    // (a public file: its plain SHA-256 is recorded).
    let og = generation(&other);
    let theirs = std::fs::read(og.join("app.crt")).unwrap();
    let ours = keep("app.crt");
    std::fs::write(gen.join("app.crt"), &theirs).unwrap();
    let text = String::from_utf8(manifest.clone())
        .unwrap()
        .replace(&provision_sha256(&ours), &provision_sha256(&theirs));
    assert_ne!(
        text.as_bytes(),
        &manifest[..],
        "the digest was in the manifest"
    );
    std::fs::write(gen.join("manifest.json"), text).unwrap();
    let j = check_json(d, 2);
    assert!(
        finding(&j, "manifest.json")
            .iter()
            .any(|m| m.contains("signature does not verify")),
        "{j}"
    );
    assert_eq!(j["integrity"]["signed"], false);
    std::fs::write(gen.join("manifest.json"), &manifest).unwrap();
    std::fs::write(gen.join("app.crt"), &ours).unwrap();
    check_json(d, 0);

    // The signer of another bundle (another CA).
    std::fs::write(
        gen.join("signer.crt"),
        std::fs::read(og.join("signer.crt")).unwrap(),
    )
    .unwrap();
    let j = check_json(d, 2);
    assert!(
        finding(&j, "signer.crt")
            .iter()
            .any(|m| m.contains("was not issued by a CA in ca.crt")),
        "{j}"
    );
    std::fs::write(gen.join("signer.crt"), &signer).unwrap();

    // The signature removed.
    std::fs::remove_file(gen.join("manifest.sig")).unwrap();
    let j = check_json(d, 2);
    assert!(
        finding(&j, "manifest.sig")
            .iter()
            .any(|m| m.contains("missing")),
        "{j}"
    );
    std::fs::write(gen.join("manifest.sig"), &sig).unwrap();

    // A file slipped into the generation (an include a redis.conf edit could name).
    std::fs::write(gen.join("extra.conf"), "enable-debug-command yes\n").unwrap();
    let j = check_json(d, 2);
    assert!(
        finding(&j, "extra.conf")
            .iter()
            .any(|m| m.contains("not part of the bundle provision wrote")),
        "{j}"
    );
    std::fs::remove_file(gen.join("extra.conf")).unwrap();
    assert_eq!(std::fs::read(gen.join("signer.key")).unwrap(), signer_key);
    check_json(d, 0);
}

fn provision_sha256(data: &[u8]) -> String {
    // An independent digest: coreutils' sha256sum, not the crate's own.
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The signature is standard: stock OpenSSL verifies manifest.sig over manifest.json with the
/// public key of signer.crt, and signer.crt against ca.crt, but never as a TLS peer.
#[test]
fn openssl_verifies_the_manifest_signature() {
    require("openssl");
    let b = Bundle::init(&["--key-type", "rsa-2048"]);
    let dir = b.dir.as_path();
    let gen = generation(dir);
    let sh = |script: &str| {
        Command::new("sh")
            .args(["-c", script])
            .current_dir(&gen)
            .output()
            .unwrap()
    };
    let tmp = b.tmp.path().display().to_string();
    let v = sh(&format!(
        "openssl x509 -in signer.crt -pubkey -noout > {tmp}/pub && base64 -d manifest.sig > {tmp}/sig && openssl dgst -sha256 -verify {tmp}/pub -signature {tmp}/sig manifest.json"
    ));
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        "Verified OK",
        "{v:?}"
    );
    let v = sh(&format!("cp manifest.json {tmp}/m && echo >> {tmp}/m && openssl dgst -sha256 -verify {tmp}/pub -signature {tmp}/sig {tmp}/m"));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("Verification failure"),
        "{v:?}"
    );
    let v = sh("openssl verify -CAfile ca.crt signer.crt");
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("signer.crt: OK"),
        "{v:?}"
    );
    let v = sh("openssl verify -CAfile ca.crt -purpose sslclient signer.crt");
    assert!(
        !v.status.success(),
        "signer.crt must not pass as a TLS client: {v:?}"
    );
    let v = sh("openssl verify -CAfile ca.crt -purpose sslserver signer.crt");
    assert!(
        !v.status.success(),
        "signer.crt must not pass as a TLS server: {v:?}"
    );
}

/// Policy, independently of digests: each weakening is CRITICAL with its own message, and
/// `--accept-local-changes` does not carry it (an accepted edit must still be safe).
#[test]
fn a_weakened_acl_or_config_is_critical_even_when_the_edit_is_accepted() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    let rows: &[(&str, &str, &str)] = &[
        (
            "users.acl",
            &format!("user backdoor on #{HASH_OF_X} ~* &* +@all"),
            "user `backdoor` (line 5) is not one of the bundle's users",
        ),
        (
            "users.acl",
            "user app +@all",
            "user `app` has `+@all`, wider than its declared role",
        ),
        (
            "users.acl",
            "user monitor allkeys",
            "user `monitor` has key pattern `*`, which is not declared",
        ),
        (
            "users.acl",
            "user app +config|get",
            "user `app` has `+config|get`, wider than its declared role",
        ),
        (
            "users.acl",
            "user default on",
            "the default user is enabled",
        ),
        ("users.acl", "user app nopass", "user `app` has nopass"),
        (
            "users.acl",
            "user app >plaintext",
            "user `app` has a plaintext password",
        ),
        (
            "redis.conf",
            "tls-auth-clients optional",
            "tls-auth-clients optional",
        ),
        (
            "redis.conf",
            "port 6379",
            "does not disable the plaintext port",
        ),
        (
            "redis.conf",
            "protected-mode no",
            "protected-mode no: it must be yes",
        ),
        (
            "redis.conf",
            "bind 0.0.0.0",
            "binds `0.0.0.0`, which the bundle does not declare",
        ),
        (
            "redis.conf",
            "enable-module-command yes",
            "enable-module-command yes: it must be no",
        ),
        (
            "redis.conf",
            "include /tmp/other.conf",
            "includes `/tmp/other.conf`",
        ),
        ("redis.conf", "loadmodule /tmp/m.so", "loads a module"),
    ];
    for (file, line, want) in rows {
        let gen = generation(dir);
        let original = std::fs::read(gen.join(file)).unwrap();
        append(dir, file, line);
        let j = check_json(d, 2);
        assert!(
            finding(&j, file).iter().any(|m| m.contains(want)),
            "{line}: no finding {want:?}: {j}"
        );
        let before = snapshot(dir);
        run(&["renew", "--force", "--accept-local-changes", "--dir", d])
            .code(1)
            .stderr_has(want);
        assert_eq!(before, snapshot(dir), "{line}: nothing written");
        std::fs::write(gen.join(file), original).unwrap();
    }
    // A missing rename, by deleting a line.
    let gen = generation(dir);
    let conf = std::fs::read_to_string(gen.join("redis.conf")).unwrap();
    let cut: String = conf
        .lines()
        .filter(|l| !l.starts_with("rename-command CONFIG "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(gen.join("redis.conf"), cut).unwrap();
    let j = check_json(d, 2);
    assert!(
        finding(&j, "redis.conf")
            .iter()
            .any(|m| m.contains("does not rename CONFIG")),
        "{j}"
    );
    std::fs::write(gen.join("redis.conf"), conf).unwrap();
    check_json(d, 0);
}

/// `..data` pointed at a generation copied from another bundle: internally consistent and
/// signed by that bundle's CA, but its redis.conf names the other bundle's files.
#[test]
fn a_generation_from_another_bundle_is_critical() {
    let t = tempdir();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    run(&["init", "--dir", a.to_str().unwrap(), "-q"]).success();
    run(&["init", "--dir", b.to_str().unwrap(), "-q"]).success();
    let theirs = std::fs::read_link(b.join("..data")).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(b.join(&theirs))
        .arg(&a)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(a.join("..data")).unwrap();
    std::os::unix::fs::symlink(&theirs, a.join("..data")).unwrap();
    let j = check_json(a.to_str().unwrap(), 2);
    let msgs = finding(&j, "redis.conf");
    assert!(
        msgs.iter().any(|m| m.contains("aclfile points at")
            && m.contains(&format!("{}/users.acl", b.display()))
            && m.contains("not this bundle's own file")),
        "{j}"
    );
    run(&["rotate", "--dir", a.to_str().unwrap(), "--user", "app"])
        .code(1)
        .stderr_has("not this bundle's own file");
}

/// Every secret of a bundle as bytes to look for: each password, the first base64 line of
/// each private key, and each secret command name.
fn secrets_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(generation(dir)).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let text = read(dir, &name);
        if name.ends_with(".password") {
            out.push((name, text.trim_end().as_bytes().to_vec()));
        } else if name.ends_with(".key") {
            let line = text.lines().nth(1).unwrap().to_string();
            out.push((name, line.into_bytes()));
        } else if name == "renamed-commands" {
            for l in text.lines() {
                let to = l.split_whitespace().nth(1).unwrap().to_string();
                out.push((
                    format!("{name}: {}", &to[..to.find('_').unwrap()]),
                    to.into_bytes(),
                ));
            }
        }
    }
    out
}

/// Runs provision with the test hook that holds it at exit and returns all its readable
/// memory, read through /proc/PID/mem (the tests run as root, which may read a non-dumpable
/// process).
fn memory_at_exit(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    use std::io::{BufRead, Read};
    use std::os::unix::fs::FileExt;
    let mut child = Command::new(bin())
        .args(args)
        .env("PROVISION_TEST_HOLD_AT_EXIT", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "provision {args:?} exited before the hold"
        );
        if line.contains("holding at exit") {
            break;
        }
    }
    let pid = child.id();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut image = Vec::new();
    for m in maps.lines() {
        let f: Vec<&str> = m.split_whitespace().collect();
        // Readable and writable: heap, stack, anonymous maps and data segments (code and
        // read-only data of the binary cannot hold a secret made at run time).
        if !f[1].starts_with("rw") || m.contains("[vvar]") || m.contains("[vsyscall]") {
            continue;
        }
        let (a, b) = f[0].split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.read_exact_at(&mut buf, a).is_ok() {
            image.extend_from_slice(&buf);
        }
    }
    assert!(
        image.len() > 1 << 18,
        "read only {} bytes of memory",
        image.len()
    );
    drop(child.stdin.take());
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    assert!(child.wait().unwrap().success(), "{args:?}: {rest}");
    image
}

fn found_in(image: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| image.windows(n.len()).any(|w| w == &n[..]))
        .map(|(what, _)| what.clone())
        .collect()
}

/// No secret outlives its use: after init, check, renew and rotate, none of the bundle's
/// passwords, private keys (CA included) or secret command names is anywhere in the
/// process's memory (a positive control proves the search reads live memory).
#[test]
fn no_secret_is_left_in_memory_at_exit() {
    let b = Bundle::empty();
    let (dir, d) = (b.dir.as_path(), b.d());
    let image = memory_at_exit(&["init", "--dir", d, "-q"], &[]);
    let needles = secrets_of(dir);
    assert!(needles.len() >= 3 + 5 + 9, "{}", needles.len());
    assert_eq!(found_in(&image, &needles), Vec::<String>::new(), "init");
    for args in [
        &["check", "--dir", d][..],
        &["renew", "--force", "--dir", d, "-q"][..],
        &["rotate", "--user", "app", "--dir", d, "-q"][..],
    ] {
        let image = memory_at_exit(args, &[]);
        // What the run may have made (renew: new keys; rotate: a new password) and what
        // was there before.
        let mut all = needles.clone();
        all.extend(secrets_of(dir));
        assert_eq!(found_in(&image, &all), Vec::<String>::new(), "{args:?}");
    }
    // Positive control: the environment of the process is memory too; a needle put there on
    // purpose is found, so an empty result above means absent, not unread.
    let marker = (
        "marker".to_string(),
        b"provision-memory-probe-3f9a1c".to_vec(),
    );
    let image = memory_at_exit(
        &["check", "--dir", d],
        &[("PROVISION_PROBE", "provision-memory-probe-3f9a1c")],
    );
    assert_eq!(found_in(&image, &[marker]), vec!["marker".to_string()]);
}

/// Forged backups, made as someone holding only the bundle's public age recipient would,
/// with the stock age and tar tools: the real archive with a backdoor in users.acl, and a
/// whole bundle of the attacker's own (their CA, their signer) encrypted to the recipient.
/// `restore` refuses each (exit 2), over the bundle and into an empty place with the real
/// CA's fingerprint, and writes nothing.
#[test]
fn a_backup_forged_with_the_public_recipient_is_refused() {
    require("age");
    require("age-keygen");
    let t = tempdir();
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let key = t.path().join("key.txt");
    assert!(Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let recipient = String::from_utf8(
        Command::new("age-keygen")
            .arg("-y")
            .arg(&key)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let dir = t.path().join("s");
    run(&["init", "--dir", &p(&dir), "-q"]).success();
    let fp = ca_fingerprint(&dir);
    let real = t.path().join("real.age");
    run(&[
        "backup",
        "--dir",
        &p(&dir),
        "-r",
        &recipient,
        "-o",
        &p(&real),
    ])
    .success();
    let sh = |script: &str| {
        let o = Command::new("sh")
            .args(["-c", script])
            .current_dir(t.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{script}: {o:?}");
    };
    // 1. The real archive, users.acl with a backdoor, re-encrypted to the recipient.
    sh(&format!(
        "mkdir x && age -d -i key.txt real.age | tar -C x -xf - && \
         echo 'user backdoor on #{HASH_OF_X} ~* &* +@all' >> x/provision-bundle/users.acl && \
         tar -C x -cf - provision-bundle | age -r {recipient} > edited.age"
    ));
    // 2. An attacker's own bundle, archived and encrypted to the same recipient.
    let theirs = t.path().join("theirs");
    run(&["init", "--dir", &p(&theirs), "-q"]).success();
    let forged = t.path().join("forged.age");
    run(&[
        "backup",
        "--dir",
        &p(&theirs),
        "-r",
        &recipient,
        "-o",
        &p(&forged),
    ])
    .success();

    let empty = t.path().join("empty");
    let before = snapshot(&dir);
    let parent = snapshot(t.path());
    for (archive, want_over, want_empty) in [
        (
            "edited.age",
            "users.acl: changed since provision wrote it",
            "users.acl: changed since provision wrote it",
        ),
        (
            "forged.age",
            "its signer was not issued by the CA of the bundle it would replace",
            "holds no CA with the fingerprint given",
        ),
    ] {
        let a = p(&t.path().join(archive));
        run(&["restore", &a, "--dir", &p(&dir), "-i", &p(&key), "--force"])
            .code(2)
            .stderr_has(want_over);
        run(&[
            "restore",
            &a,
            "--dir",
            &p(&empty),
            "-i",
            &p(&key),
            "--expect-ca",
            &fp,
        ])
        .code(2)
        .stderr_has(want_empty);
        run(&["restore", &a, "--dir", &p(&empty), "-i", &p(&key)])
            .code(2)
            .stderr_has("--expect-ca");
        assert_eq!(before, snapshot(&dir), "{archive}: the bundle changed");
        assert_eq!(
            parent,
            snapshot(t.path()),
            "{archive}: something was written"
        );
    }
    // The real archive restores into an empty place (the directory it was made for: paths
    // in redis.conf are absolute) with the right fingerprint only, in any spelling.
    std::fs::remove_dir_all(&dir).unwrap();
    run(&[
        "restore",
        &p(&real),
        "--dir",
        &p(&dir),
        "-i",
        &p(&key),
        "--expect-ca",
        &ca_fingerprint(&theirs),
    ])
    .code(2)
    .stderr_has("holds no CA with the fingerprint given");
    assert!(!dir.exists());
    run(&[
        "restore",
        &p(&real),
        "--dir",
        &p(&dir),
        "-i",
        &p(&key),
        "--expect-ca",
        &fp.to_lowercase().replace(':', ""),
    ])
    .success();
    run(&["check", "--dir", &p(&dir)]).code(0);
}

/// `rollback` audits the generation it would make current: a tampered previous generation is
/// refused (exit 1, nothing changed); an intact one is rolled back to.
#[test]
fn rollback_refuses_a_tampered_previous_generation() {
    let b = Bundle::init(&[]);
    let (dir, d) = (b.dir.as_path(), b.d());
    run(&["rotate", "--dir", d, "--user", "app", "-q"]).success();
    let prev = dir.join(std::fs::read_link(dir.join("..previous")).unwrap());
    let acl = prev.join("users.acl");
    let original = std::fs::read(&acl).unwrap();
    let mut edited = original.clone();
    edited.extend_from_slice(format!("user backdoor on #{HASH_OF_X} ~* &* +@all\n").as_bytes());
    std::fs::write(&acl, edited).unwrap();
    let before = snapshot(dir);
    run(&["rollback", "--dir", d])
        .code(1)
        .stderr_has("users.acl: changed since provision wrote it");
    assert_eq!(before, snapshot(dir));
    std::fs::write(&acl, original).unwrap();
    run(&["rollback", "--dir", d, "-q"]).success();
    check_json(d, 0);
}
