//! Encrypted backups (`backup`/`restore`) and sealed files (`seal`/`unseal`), including
//! interoperability with the reference `age` CLI in both directions, and hostile archives.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn init(dir: &Path) {
    run(&["init", "--dir", dir.to_str().unwrap(), "--quiet"]).success();
}

/// An age identity made by the reference `age-keygen`: (key file, public key).
fn keygen(t: &Path, name: &str) -> (PathBuf, String) {
    require("age-keygen");
    let key = t.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "age-keygen failed");
    let pubkey = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    (
        key,
        String::from_utf8(pubkey.stdout).unwrap().trim().to_string(),
    )
}

/// The current generation's files: name -> (mode, bytes).
fn generation(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let g = dir.join("..data");
    std::fs::read_dir(&g)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            assert!(m.is_file());
            (
                e.file_name().to_string_lossy().into_owned(),
                (
                    m.permissions().mode() & 0o7777,
                    std::fs::read(e.path()).unwrap(),
                ),
            )
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn round_trip_is_byte_identical_with_modes() {
    let b = Bundle::init(&[]);
    let dir = b.dir.as_path();
    let (key, pubkey) = keygen(b.tmp.path(), "key.txt");
    let before = generation(dir);
    let out = b.path("b.age");
    run(&[
        "backup",
        "--dir",
        s(dir),
        "--recipient",
        &pubkey,
        "-o",
        s(&out),
    ])
    .success();
    assert_eq!(mode_of(&out), 0o600);
    let raw = std::fs::read(&out).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"));
    // No bundle secret appears in the encrypted file.
    let pw = read(dir, "app.password");
    assert!(!raw.windows(pw.len()).any(|w| w == pw.as_bytes()));

    let fp = ca_fingerprint(dir);
    std::fs::remove_dir_all(dir).unwrap();
    run(&[
        "restore",
        "--expect-ca",
        &fp,
        s(&out),
        "--dir",
        s(dir),
        "--identity",
        s(&key),
    ])
    .success();
    assert_eq!(generation(dir), before);
    assert_eq!(mode_of(dir), 0o700);
    run(&["check", "--dir", s(dir)]).code(0);
    assert!(read(dir, "audit.log").contains("\"restore\""));

    // An existing bundle is replaced only with --force; the old one stays as ..previous.
    let snap = snapshot(dir);
    run(&["restore", s(&out), "--dir", s(dir), "--identity", s(&key)]).code(2);
    assert_eq!(snapshot(dir), snap);
    run(&[
        "restore",
        s(&out),
        "--dir",
        s(dir),
        "-i",
        s(&key),
        "--force",
    ])
    .success();
    assert_eq!(generation(dir), before);
    assert!(std::fs::symlink_metadata(dir.join("..previous")).is_ok());
}

#[test]
fn armored_passphrase_round_trip_and_output_rules() {
    let b = Bundle::init(&[]);
    let dir = b.dir.as_path();
    let before = generation(dir);
    let pass = b.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let out = b.path("b.age.asc");
    // `export` and `import` are the issue's names for backup and restore.
    run(&[
        "export",
        "--dir",
        s(dir),
        "--passphrase-file",
        s(&pass),
        "--armor",
        "-o",
        s(&out),
    ])
    .success();
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // Never overwrites an output file.
    let again = run(&[
        "backup",
        "--dir",
        s(dir),
        "--passphrase-file",
        s(&pass),
        "-o",
        s(&out),
    ]);
    again.code(2);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("-----BEGIN AGE"));
    // Wrong passphrase: clear error, nothing changed.
    let wrong = b.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    let snap = snapshot(dir);
    let r = run(&[
        "restore",
        s(&out),
        "--dir",
        s(dir),
        "--passphrase-file",
        s(&wrong),
        "--force",
    ]);
    let r = r.code(2);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert_eq!(snapshot(dir), snap);

    let fp = ca_fingerprint(dir);
    std::fs::remove_dir_all(dir).unwrap();
    run(&[
        "import",
        "--expect-ca",
        &fp,
        s(&out),
        "--dir",
        s(dir),
        "--passphrase-file",
        s(&pass),
    ])
    .success();
    assert_eq!(generation(dir), before);
    // -o -: the archive on stdout (not a terminal here), nothing else.
    let r = run(&[
        "backup",
        "--dir",
        s(dir),
        "--passphrase-file",
        s(&pass),
        "--armor",
        "-o",
        "-",
    ]);
    let r = r.code(0);
    assert!(r.stdout.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // No -o at all is an error, not a default to stdout.
    run(&["backup", "--dir", s(dir), "--passphrase-file", s(&pass)]).code(2);
}

#[test]
fn reference_age_decrypts_a_backup_and_tar_lists_it() {
    require("age");
    require("tar");
    let b = Bundle::init(&[]);
    let dir = b.dir.as_path();
    let (key, pubkey) = keygen(b.tmp.path(), "key.txt");
    let out = b.path("b.age");
    run(&["backup", "--dir", s(dir), "-r", &pubkey, "-o", s(&out)]).success();
    let plain = b.path("b.tar");
    let st = Command::new("age")
        .args(["-d", "-i", s(&key), "-o", s(&plain), s(&out)])
        .status()
        .unwrap();
    assert!(st.success());
    let list = Command::new("tar")
        .args(["-tvf", s(&plain)])
        .output()
        .unwrap();
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    for (name, (mode, _)) in generation(dir) {
        let line = list
            .lines()
            .find(|l| l.ends_with(&format!("provision-bundle/{name}")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{list}"));
        let want = if mode == 0o600 {
            "-rw-------"
        } else {
            "-rw-r--r--"
        };
        assert!(line.starts_with(want), "{line}");
    }
    assert!(list
        .lines()
        .all(|l| l.starts_with('-') || l.contains("provision-bundle/")));
}

#[test]
fn reference_age_encrypted_files_unseal_and_restore() {
    require("age");
    require("tar");
    let t = tempdir();
    let (key, pubkey) = keygen(t.path(), "key.txt");
    // age -r FILE -> provision unseal.
    let dump = t.path().join("dump.rdb");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&dump, &data).unwrap();
    let sealed = t.path().join("dump.rdb.age");
    assert!(Command::new("age")
        .args(["-r", &pubkey, "-o", s(&sealed), s(&dump)])
        .status()
        .unwrap()
        .success());
    let back = t.path().join("back.rdb");
    run(&["unseal", s(&sealed), "--identity", s(&key), "-o", s(&back)]).success();
    assert_eq!(std::fs::read(&back).unwrap(), data);
    assert_eq!(mode_of(&back), 0o600);

    // tar + age -r of a generation -> provision restore.
    let dir = t.path().join("secrets");
    init(&dir);
    let before = generation(&dir);
    let stage = t.path().join("stage/provision-bundle");
    std::fs::create_dir_all(&stage).unwrap();
    for (name, (mode, bytes)) in &before {
        std::fs::write(stage.join(name), bytes).unwrap();
        std::fs::set_permissions(stage.join(name), std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let tarball = t.path().join("b.tar");
    assert!(Command::new("tar")
        .args([
            "-C",
            s(&t.path().join("stage")),
            "-cf",
            s(&tarball),
            "provision-bundle"
        ])
        .status()
        .unwrap()
        .success());
    let enc = t.path().join("b.tar.age");
    assert!(Command::new("age")
        .args(["-r", &pubkey, "-o", s(&enc), s(&tarball)])
        .status()
        .unwrap()
        .success());
    let fp = ca_fingerprint(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    run(&[
        "restore",
        "--expect-ca",
        &fp,
        s(&enc),
        "--dir",
        s(&dir),
        "-i",
        s(&key),
    ])
    .success();
    assert_eq!(generation(&dir), before);
}

#[test]
fn seal_uses_remembered_recipients_and_reference_age_opens_it() {
    require("age");
    let bundle = Bundle::init(&[]);
    let dir = bundle.dir.as_path();
    let (key, pubkey) = keygen(bundle.tmp.path(), "key.txt");
    let dump = bundle.path("dump.rdb");
    std::fs::write(&dump, b"REDIS0011 fake dump").unwrap();
    let r = run(&["seal", s(&dump), "--dir", s(dir)]);
    let r = r.code(2);
    assert!(r.stderr.contains("--remember"), "{}", r.stderr);
    assert!(!bundle.path("dump.rdb.age").exists());

    run(&["backup", "--dir", s(dir), "-r", &pubkey, "--remember"]).success();
    assert_eq!(mode_of(&dir.join("backup-recipients")), 0o600);
    assert!(read(dir, "backup-recipients").contains(&pubkey));
    run(&["check", "--dir", s(dir)]).code(0);

    run(&["seal", s(&dump), "--dir", s(dir)]).success();
    let sealed = bundle.path("dump.rdb.age");
    assert_eq!(mode_of(&sealed), 0o600);
    let out = Command::new("age")
        .args(["-d", "-i", s(&key), s(&sealed)])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"REDIS0011 fake dump");
    // The output is never replaced.
    run(&["seal", s(&dump), "--dir", s(dir)]).code(2);

    // A backup with no recipient flag uses the remembered ones.
    let b = bundle.path("b.age");
    run(&["backup", "--dir", s(dir), "-o", s(&b)]).success();
    let snap = generation(dir);
    let fp = ca_fingerprint(dir);
    std::fs::remove_dir_all(dir).unwrap();
    run(&[
        "restore",
        "--expect-ca",
        &fp,
        s(&b),
        "--dir",
        s(dir),
        "-i",
        s(&key),
    ])
    .success();
    assert_eq!(generation(dir), snap);
}

/// A raw tar with exactly these entries (names written byte for byte, no sanitising).
fn raw_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, kind, d) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o600);
        h.set_size(d.len() as u64);
        h.as_old_mut().name[..p.len()].copy_from_slice(p.as_bytes());
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        b.append(&h, *d).unwrap();
    }
    b.into_inner().unwrap()
}

fn age_encrypt(t: &Path, pubkey: &str, plain: &[u8], name: &str) -> PathBuf {
    let p = t.join(format!("{name}.plain"));
    std::fs::write(&p, plain).unwrap();
    let out = t.join(format!("{name}.age"));
    assert!(Command::new("age")
        .args(["-r", pubkey, "-o", s(&out), s(&p)])
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(&p).unwrap();
    out
}

#[test]
fn bad_keys_damaged_and_hostile_archives_change_nothing() {
    require("age");
    let bundle = Bundle::init(&[]);
    let dir = bundle.dir.as_path();
    let (key, pubkey) = keygen(bundle.tmp.path(), "key.txt");
    let (other, _) = keygen(bundle.tmp.path(), "other.txt");
    let good = bundle.path("good.age");
    run(&["backup", "--dir", s(dir), "-r", &pubkey, "-o", s(&good)]).success();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = bundle.path("truncated.age");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let tampered = bundle.path("tampered.age");
    let mut tb = bytes.clone();
    let mid = tb.len() / 2;
    tb[mid] ^= 0x01;
    std::fs::write(&tampered, &tb).unwrap();
    let not_age = bundle.path("plain.tar");
    std::fs::write(
        &not_age,
        raw_tar(&[("provision-bundle/a", tar::EntryType::Regular, b"x")]),
    )
    .unwrap();

    let real = generation(dir);
    let mut real_entries: Vec<(String, tar::EntryType, Vec<u8>)> = real
        .iter()
        .map(|(n, (_, b))| {
            (
                format!("provision-bundle/{n}"),
                tar::EntryType::Regular,
                b.clone(),
            )
        })
        .collect();
    let with = |extra: (&str, tar::EntryType, &[u8])| {
        let mut v: Vec<(&str, tar::EntryType, &[u8])> = real_entries
            .iter()
            .map(|(n, k, b)| (n.as_str(), *k, b.as_slice()))
            .collect();
        v.push(extra);
        raw_tar(&v)
    };
    let dotdot = age_encrypt(
        bundle.tmp.path(),
        &pubkey,
        &with(("provision-bundle/../x", tar::EntryType::Regular, b"pwned")),
        "dotdot",
    );
    let bare_dotdot = age_encrypt(
        bundle.tmp.path(),
        &pubkey,
        &with(("../x", tar::EntryType::Regular, b"pwned")),
        "bare-dotdot",
    );
    let abs = age_encrypt(
        bundle.tmp.path(),
        &pubkey,
        &with(("/tmp/abs-provision-test", tar::EntryType::Regular, b"pwned")),
        "abs",
    );
    let link = age_encrypt(
        bundle.tmp.path(),
        &pubkey,
        &with(("provision-bundle/evil", tar::EntryType::Symlink, b"")),
        "symlink",
    );
    let extra = age_encrypt(
        bundle.tmp.path(),
        &pubkey,
        &with(("provision-bundle/extra.key", tar::EntryType::Regular, b"x")),
        "extra",
    );
    // A bundle that does not verify: users.acl with a password hash that matches no file.
    for e in real_entries.iter_mut() {
        if e.0.ends_with("/app.password") {
            e.2 = b"x".repeat(43);
        }
    }
    let unverified_tar = raw_tar(
        &real_entries
            .iter()
            .map(|(n, k, b)| (n.as_str(), *k, b.as_slice()))
            .collect::<Vec<_>>(),
    );
    let unverified = age_encrypt(bundle.tmp.path(), &pubkey, &unverified_tar, "unverified");

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "wrong identity",
            vec![s(&good), "-i", s(&other)],
            "no identity",
        ),
        (
            "truncated",
            vec![s(&truncated), "-i", s(&key)],
            "truncated or was altered",
        ),
        (
            "tampered",
            vec![s(&tampered), "-i", s(&key)],
            "cannot decrypt",
        ),
        (
            "not age",
            vec![s(&not_age), "-i", s(&key)],
            "not a valid age file",
        ),
        ("dotdot", vec![s(&dotdot), "-i", s(&key)], "path traversal"),
        (
            "bare dotdot",
            vec![s(&bare_dotdot), "-i", s(&key)],
            "path traversal",
        ),
        ("absolute", vec![s(&abs), "-i", s(&key)], "absolute path"),
        ("symlink", vec![s(&link), "-i", s(&key)], "symbolic link"),
        (
            "unlisted file",
            vec![s(&extra), "-i", s(&key)],
            "does not list",
        ),
        (
            "fails check",
            vec![s(&unverified), "-i", s(&key)],
            "does not match its signed manifest",
        ),
    ];
    let snap = snapshot(dir);
    let parent = snapshot(bundle.tmp.path());
    for (what, mut args, want) in cases {
        let mut full = vec!["restore"];
        full.append(&mut args);
        full.extend(["--dir", s(dir), "--force"]);
        let r = run(&full);
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{what}: stderr lacks {want:?}: {}",
            r.stderr
        );
        assert_eq!(snapshot(dir), snap, "{what} changed the bundle");
        assert_eq!(
            snapshot(bundle.tmp.path()),
            parent,
            "{what} wrote next to the bundle"
        );
        // A fresh target stays absent too.
        let fresh = bundle.path("fresh");
        let mut full2 = full.clone();
        let i = full2.iter().position(|a| *a == s(dir)).unwrap();
        full2[i] = s(&fresh);
        run(&full2).code(2);
        assert!(!fresh.exists(), "{what} created {}", fresh.display());
    }
    assert!(!Path::new("/tmp/abs-provision-test").exists());
}

// ---- Protected CA key (`init --protect-ca-key`): only ca.key.age, opened to sign. ----

/// Every path under `root` whose file name is exactly `name` (generations included).
fn files_named(root: &Path, name: &str) -> Vec<String> {
    snapshot(root)
        .into_keys()
        .filter(|p| Path::new(p).file_name().is_some_and(|n| n == name))
        .collect()
}

/// Runs `program args` with `stdin` fed in (nothing touches the disk); returns stdout.
#[track_caller]
fn pipe(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    require(program);
    let mut c = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The plaintext CA key, decrypted by the reference `age` CLI into memory.
fn age_decrypt_ca_key(dir: &Path, key: &Path) -> Vec<u8> {
    require("age");
    let out = Command::new("age")
        .args(["-d", "-i", s(key), s(&dir.join("ca.key.age"))])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The public key of the issuing CA (the first certificate of ca.crt), from openssl.
fn ca_public_key(dir: &Path) -> Vec<u8> {
    pipe(
        "openssl",
        &["x509", "-noout", "-pubkey"],
        &std::fs::read(dir.join("ca.crt")).unwrap(),
    )
}

#[track_caller]
fn assert_key_matches_ca(dir: &Path, pem: &[u8]) {
    assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    let from_key = pipe("openssl", &["pkey", "-pubout"], pem);
    assert_eq!(
        String::from_utf8_lossy(&from_key),
        String::from_utf8_lossy(&ca_public_key(dir)),
        "ca.key.age does not hold the key of ca.crt"
    );
}

#[track_caller]
fn assert_leaves_verify(dir: &Path) {
    require("openssl");
    for leaf in ["redis.crt", "admin.crt", "app.crt", "monitor.crt"] {
        let out = Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                s(&dir.join("ca.crt")),
                s(&dir.join(leaf)),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify {leaf}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn leaf_serials(dir: &Path) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    m["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] != "ca" && c["role"] != "signer")
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect()
}

/// No file anywhere under `root` holds the body of the plaintext key.
#[track_caller]
fn assert_plaintext_nowhere(root: &Path, pem: &[u8]) {
    let body = String::from_utf8_lossy(pem)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for (path, (_, bytes)) in snapshot(root) {
        assert!(
            !bytes.windows(body.len()).any(|w| w == body.as_bytes()),
            "the plaintext CA key is on disk in {path}"
        );
    }
}

#[test]
fn protected_ca_key_init_renew_rollover_and_check() {
    require("openssl");
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    let (key, pubkey) = keygen(b.tmp.path(), "ca-admin.txt");
    let (other, _) = keygen(b.tmp.path(), "other.txt");
    let (_, second) = keygen(b.tmp.path(), "second.txt");
    let recipients = b.path("ca-recipients.txt");
    std::fs::write(&recipients, format!("# the second CA admin\n{second}\n")).unwrap();
    run(&[
        "init",
        "--dir",
        s(dir),
        "--protect-ca-key",
        &pubkey,
        "--protect-ca-key-file",
        s(&recipients),
        "-q",
    ])
    .success();
    assert!(
        files_named(dir, "ca.key").is_empty(),
        "a plaintext ca.key exists"
    );
    assert_eq!(mode_of(&dir.join("ca.key.age")), 0o600);
    assert!(std::fs::read(dir.join("ca.key.age"))
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    let pem = age_decrypt_ca_key(dir, &key);
    assert_key_matches_ca(dir, &pem);
    assert_plaintext_nowhere(b.tmp.path(), &pem);
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    assert_eq!(m["spec"]["ca_key"]["method"], "recipients");
    assert_eq!(
        m["spec"]["ca_key"]["recipients"],
        serde_json::json!([pubkey, second])
    );

    // check: not missing; protected; verified only with the identity.
    run(&["check", "--dir", s(dir)])
        .code(0)
        .stdout_has("CA key protected (age, 2 recipients)")
        .stdout_has("not verified without --identity");
    let j = run(&["check", "--dir", s(dir), "--json"]).code(0);
    let j: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(j["ca_key"]["protected"], true);
    assert_eq!(j["ca_key"]["file"], "ca.key.age");
    assert!(j["ca_key"]["matches_ca"].is_null());
    run(&["check", "--dir", s(dir), "--identity", s(&key)])
        .code(0)
        .stdout_has("matches ca.crt");
    run(&["check", "--dir", s(dir), "--identity", s(&other)])
        .code(2)
        .stdout_has("ca.key.age: cannot be opened");

    // Nothing due: no identity needed (the unattended timer), nothing written.
    let snap = snapshot(dir);
    run(&["renew", "--dir", s(dir)])
        .success()
        .stdout_has("Nothing to renew");
    assert_eq!(snapshot(dir), snap);

    // Due without the identity (or with the wrong one): exit 2, clear, byte-identical.
    run(&["renew", "--dir", s(dir), "--force"])
        .code(2)
        .stderr_has("ca.key.age")
        .stderr_has("--identity KEYFILE")
        .stderr_has("nothing was changed");
    assert_eq!(snapshot(dir), snap);
    run(&["renew", "--dir", s(dir), "--force", "--identity", s(&other)])
        .code(2)
        .stderr_has("no identity given can decrypt it");
    assert_eq!(snapshot(dir), snap);

    // With the identity: new serials, same CA, still no plaintext key anywhere.
    let sealed = std::fs::read(dir.join("ca.key.age")).unwrap();
    let serials = leaf_serials(dir);
    run(&["renew", "--dir", s(dir), "--force", "--identity", s(&key)]).success();
    let renewed = leaf_serials(dir);
    assert_eq!(renewed.len(), 4);
    assert!(renewed.iter().all(|r| !serials.contains(r)), "serials kept");
    assert_leaves_verify(dir);
    assert_eq!(std::fs::read(dir.join("ca.key.age")).unwrap(), sealed);
    assert!(files_named(dir, "ca.key").is_empty());
    assert_plaintext_nowhere(b.tmp.path(), &pem);

    // CA rollover: the new CA key is sealed, to the same recipients, first beside the old
    // one, then in its place.
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--overlap",
        "1s",
        "--identity",
        s(&key),
    ])
    .success();
    assert_eq!(std::fs::read(dir.join("ca.key.age")).unwrap(), sealed);
    assert!(dir.join("ca-next.key.age").exists());
    assert!(files_named(dir, "ca-next.key").is_empty());
    wait_overlap(dir);
    // The old identity opens the new key too; a wrong one is refused, nothing changed.
    let mid = snapshot(dir);
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--finish",
        "--identity",
        s(&other),
    ])
    .code(2)
    .stderr_has("ca-next.key.age");
    assert_eq!(snapshot(dir), mid);
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--finish",
        "--identity",
        s(&key),
    ])
    .success();
    assert!(!dir.join("ca-next.key.age").exists());
    assert!(files_named(dir, "ca.key").is_empty());
    assert_ne!(std::fs::read(dir.join("ca.key.age")).unwrap(), sealed);
    let new_pem = age_decrypt_ca_key(dir, &key);
    assert_ne!(new_pem, pem);
    assert_key_matches_ca(dir, &new_pem);
    assert_plaintext_nowhere(b.tmp.path(), &new_pem);
    assert_leaves_verify(dir);
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    assert_eq!(
        m["spec"]["ca_key"]["recipients"],
        serde_json::json!([pubkey, second])
    );
    run(&["check", "--dir", s(dir), "-i", s(&key)])
        .code(0)
        .stdout_has("matches ca.crt");
    assert!(read(dir, "audit.log")
        .lines()
        .all(|l| !l.contains("PRIVATE KEY")));
}

#[test]
fn protected_ca_key_with_a_passphrase_file() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    let pass = b.path("pass");
    std::fs::write(&pass, "ca key passphrase, long enough\n").unwrap();
    let wrong = b.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    // --passphrase-file alone says nothing about protecting the CA key: a usage error.
    run(&["init", "--dir", s(dir), "--passphrase-file", s(&pass)]).code(2);
    assert!(!dir.exists());
    run(&[
        "init",
        "--dir",
        s(dir),
        "--protect-ca-key-passphrase",
        "--passphrase-file",
        s(&pass),
        "-q",
    ])
    .success();
    assert!(files_named(dir, "ca.key").is_empty());
    let m: serde_json::Value = serde_json::from_str(&read(dir, "manifest.json")).unwrap();
    assert_eq!(
        m["spec"]["ca_key"],
        serde_json::json!({"method": "passphrase"})
    );
    assert!(!read(dir, "manifest.json").contains("long enough"));
    run(&["check", "--dir", s(dir)])
        .code(0)
        .stdout_has("CA key protected (age, passphrase)");
    run(&["check", "--dir", s(dir), "--passphrase-file", s(&pass)])
        .code(0)
        .stdout_has("matches ca.crt");

    let snap = snapshot(dir);
    run(&["renew", "--dir", s(dir), "--force"])
        .code(2)
        .stderr_has("ca.key.age")
        .stderr_has("--passphrase-file");
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--force",
        "--passphrase-file",
        s(&wrong),
    ])
    .code(2)
    .stderr_has("wrong passphrase");
    assert_eq!(snapshot(dir), snap);

    let serials = leaf_serials(dir);
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--overlap",
        "1s",
        "--passphrase-file",
        s(&pass),
    ])
    .success();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(leaf_serials(dir)),
        sorted(serials.clone()),
        "leaves stay on the old CA in the overlap"
    );
    wait_overlap(dir);
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--finish",
        "--passphrase-file",
        s(&wrong),
    ])
    .code(2)
    .stderr_has("wrong passphrase");
    run(&[
        "renew",
        "--dir",
        s(dir),
        "--rollover-ca",
        "--finish",
        "--passphrase-file",
        s(&pass),
    ])
    .success();
    assert!(leaf_serials(dir).iter().all(|r| !serials.contains(r)));
    assert!(files_named(dir, "ca.key").is_empty());
    assert_leaves_verify(dir);
    // The new CA key is sealed with the same passphrase.
    run(&["check", "--dir", s(dir), "--passphrase-file", s(&pass)])
        .code(0)
        .stdout_has("matches ca.crt");
}

#[test]
fn unlock_flags_on_a_plaintext_ca_key_are_refused() {
    let b = Bundle::init(&[]);
    let dir = b.dir.as_path();
    let (key, _) = keygen(b.tmp.path(), "key.txt");
    let snap = snapshot(dir);
    run(&["renew", "--dir", s(dir), "--force", "--identity", s(&key)])
        .code(2)
        .stderr_has("not protected");
    assert_eq!(snapshot(dir), snap);
    let r = run(&["check", "--dir", s(dir), "--json"]).code(0);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["ca_key"]["protected"], false);
    assert_eq!(j["ca_key"]["matches_ca"], true);
}

#[test]
fn backup_and_restore_carry_a_protected_ca_key() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    let (ca_key, ca_pub) = keygen(b.tmp.path(), "ca-admin.txt");
    let (backup_key, backup_pub) = keygen(b.tmp.path(), "backup.txt");
    run(&["init", "--dir", s(dir), "--protect-ca-key", &ca_pub, "-q"]).success();
    let before = generation(dir);
    assert!(before.contains_key("ca.key.age") && !before.contains_key("ca.key"));
    let out = b.path("b.age");
    run(&["backup", "--dir", s(dir), "-r", &backup_pub, "-o", s(&out)]).success();
    // The archive holds ca.key.age as it is: still encrypted to the CA admin, not the backup key.
    require("age");
    require("tar");
    let tar = Command::new("age")
        .args(["-d", "-i", s(&backup_key), s(&out)])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let list = pipe("tar", &["-tvf", "-"], &tar.stdout);
    let list = String::from_utf8(list).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("-rw-------") && l.ends_with("provision-bundle/ca.key.age")),
        "{list}"
    );
    assert!(!list.contains("provision-bundle/ca.key\n"), "{list}");

    let fp = ca_fingerprint(dir);
    std::fs::remove_dir_all(dir).unwrap();
    run(&[
        "restore",
        "--expect-ca",
        &fp,
        s(&out),
        "--dir",
        s(dir),
        "-i",
        s(&backup_key),
    ])
    .success();
    assert_eq!(generation(dir), before);
    assert_eq!(mode_of(&dir.join("ca.key.age")), 0o600);
    run(&["check", "--dir", s(dir), "-i", s(&ca_key)])
        .code(0)
        .stdout_has("CA key protected")
        .stdout_has("matches ca.crt");
    // The restored bundle still signs with the CA admin's identity, and only with it.
    run(&["renew", "--dir", s(dir), "--force"]).code(2);
    run(&["renew", "--dir", s(dir), "--force", "-i", s(&ca_key)]).success();
    assert_leaves_verify(dir);
}

/// Disaster recovery: a backup restored into another directory (a new host, another mount
/// point) gets its configs' paths moved there, its manifest re-signed, passes `check`, and a
/// real redis-server starts from it and serves the app user over TLS. The old directory is
/// gone, so nothing can still be read from it.
#[test]
fn restore_into_another_directory_moves_the_paths_and_serves() {
    require("redis-server");
    let (t, dir, port) = live_bundle(&[]);
    let (key, pubkey) = keygen(t.path(), "key.txt");
    let out = t.path().join("b.age");
    run(&["backup", "--dir", s(&dir), "-r", &pubkey, "-o", s(&out)]).success();
    let fp = ca_fingerprint(&dir);
    let pw = read(&dir, "app.password");
    std::fs::remove_dir_all(&dir).unwrap();
    let new = t.path().join("elsewhere").join("tls");
    std::fs::create_dir(t.path().join("elsewhere")).unwrap();
    let r = run(&[
        "restore",
        s(&out),
        "--dir",
        s(&new),
        "-i",
        s(&key),
        "--expect-ca",
        &fp,
    ])
    .success();
    assert!(
        r.stdout.contains("paths in the configs moved from"),
        "{}",
        r.stdout
    );
    let conf = read(&new, "redis.conf");
    assert!(
        conf.contains(&format!("aclfile \"{}/users.acl\"", new.display())),
        "{conf}"
    );
    assert!(!conf.contains(s(&dir)), "{conf}");
    run(&["check", "--dir", s(&new)]).code(0);
    assert_eq!(
        read(&new, "app.password"),
        pw,
        "the secrets are the backup's"
    );
    let audit = read(&new, "audit.log");
    assert!(audit.contains("paths_moved_from"), "{audit}");
    let work = t.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let redis = Redis::start(&new, port, &work);
    let reply = redis.cli_as("app", &["SET", "moved", "yes"]);
    assert_eq!(reply, "OK");
    assert_eq!(redis.cli_as("app", &["GET", "moved"]), "yes");
}

#[test]
fn cert_manager_export_of_a_protected_ca_key_needs_include_ca_key_and_the_identity() {
    let b = Bundle::empty();
    let dir = b.dir.as_path();
    let (ca_key, ca_pub) = keygen(b.tmp.path(), "ca-admin.txt");
    let (other_key, _) = keygen(b.tmp.path(), "other.txt");
    run(&["init", "--dir", s(dir), "--protect-ca-key", &ca_pub, "-q"]).success();
    let before = crate::common::snapshot(dir);
    let out = b.path("cm.yaml");
    let export = |extra: &[&str]| {
        let mut a = vec![
            "export",
            "--dir",
            s(dir),
            "--format",
            "cert-manager",
            "--namespace",
            "cache",
            "-o",
            s(&out),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    // Without --include-ca-key: refused, and the refusal says the key would leave the bundle.
    export(&["--identity", s(&ca_key)])
        .code(2)
        .stderr_has("where it leaves that protection")
        .stderr_has("--include-ca-key");
    // Without the identity, or with another one: refused.
    export(&["--include-ca-key"])
        .code(2)
        .stderr_has("--identity");
    export(&["--include-ca-key", "--identity", s(&other_key)]).code(2);
    assert!(!out.exists());
    // With both: the Secret holds the key that ca.key.age decrypts to, and the note says so.
    export(&["--include-ca-key", "--identity", s(&ca_key)])
        .success()
        .stderr_has("decrypted from ca.key.age");
    let docs = k8s_docs(&std::fs::read_to_string(&out).unwrap());
    let secret = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "redis-ca-key")
        .unwrap();
    require("age");
    let plain = Command::new("age")
        .args(["-d", "-i", s(&ca_key), s(&dir.join("ca.key.age"))])
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert_eq!(
        b64decode(secret["data"]["tls.key"].as_str().unwrap()),
        plain.stdout
    );
    // The bundle itself is unchanged: still no plaintext ca.key.
    assert_eq!(crate::common::snapshot(dir), before);
}
