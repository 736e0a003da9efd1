//! Encrypted backups (`backup`/`restore`) and sealed files (`seal`/`unseal`), including
//! interoperability with the reference `age` CLI in both directions, and hostile archives.

mod common;
use common::*;
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
    let t = tempdir();
    let dir = t.path().join("secrets");
    init(&dir);
    let (key, pubkey) = keygen(t.path(), "key.txt");
    let before = generation(&dir);
    let out = t.path().join("b.age");
    run(&[
        "backup",
        "--dir",
        s(&dir),
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
    let pw = read(&dir, "app.password");
    assert!(!raw.windows(pw.len()).any(|w| w == pw.as_bytes()));

    std::fs::remove_dir_all(&dir).unwrap();
    run(&["restore", s(&out), "--dir", s(&dir), "--identity", s(&key)]).success();
    assert_eq!(generation(&dir), before);
    assert_eq!(mode_of(&dir), 0o700);
    run(&["check", "--dir", s(&dir)]).code(0);
    assert!(read(&dir, "audit.log").contains("\"restore\""));

    // An existing bundle is replaced only with --force; the old one stays as ..previous.
    let snap = snapshot(&dir);
    run(&["restore", s(&out), "--dir", s(&dir), "--identity", s(&key)]).code(2);
    assert_eq!(snapshot(&dir), snap);
    run(&[
        "restore",
        s(&out),
        "--dir",
        s(&dir),
        "-i",
        s(&key),
        "--force",
    ])
    .success();
    assert_eq!(generation(&dir), before);
    assert!(std::fs::symlink_metadata(dir.join("..previous")).is_ok());
}

#[test]
fn armored_passphrase_round_trip_and_output_rules() {
    let t = tempdir();
    let dir = t.path().join("secrets");
    init(&dir);
    let before = generation(&dir);
    let pass = t.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let out = t.path().join("b.age.asc");
    // `export` and `import` are the issue's names for backup and restore.
    run(&[
        "export",
        "--dir",
        s(&dir),
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
        s(&dir),
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
    let wrong = t.path().join("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    let snap = snapshot(&dir);
    let r = run(&[
        "restore",
        s(&out),
        "--dir",
        s(&dir),
        "--passphrase-file",
        s(&wrong),
        "--force",
    ]);
    let r = r.code(2);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert_eq!(snapshot(&dir), snap);

    std::fs::remove_dir_all(&dir).unwrap();
    run(&[
        "import",
        s(&out),
        "--dir",
        s(&dir),
        "--passphrase-file",
        s(&pass),
    ])
    .success();
    assert_eq!(generation(&dir), before);
    // -o -: the archive on stdout (not a terminal here), nothing else.
    let r = run(&[
        "backup",
        "--dir",
        s(&dir),
        "--passphrase-file",
        s(&pass),
        "--armor",
        "-o",
        "-",
    ]);
    let r = r.code(0);
    assert!(r.stdout.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // No -o at all is an error, not a default to stdout.
    run(&["backup", "--dir", s(&dir), "--passphrase-file", s(&pass)]).code(2);
}

#[test]
fn reference_age_decrypts_a_backup_and_tar_lists_it() {
    require("age");
    require("tar");
    let t = tempdir();
    let dir = t.path().join("secrets");
    init(&dir);
    let (key, pubkey) = keygen(t.path(), "key.txt");
    let out = t.path().join("b.age");
    run(&["backup", "--dir", s(&dir), "-r", &pubkey, "-o", s(&out)]).success();
    let plain = t.path().join("b.tar");
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
    for (name, (mode, _)) in generation(&dir) {
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
    std::fs::remove_dir_all(&dir).unwrap();
    run(&["restore", s(&enc), "--dir", s(&dir), "-i", s(&key)]).success();
    assert_eq!(generation(&dir), before);
}

#[test]
fn seal_uses_remembered_recipients_and_reference_age_opens_it() {
    require("age");
    let t = tempdir();
    let dir = t.path().join("secrets");
    init(&dir);
    let (key, pubkey) = keygen(t.path(), "key.txt");
    let dump = t.path().join("dump.rdb");
    std::fs::write(&dump, b"REDIS0011 fake dump").unwrap();
    let r = run(&["seal", s(&dump), "--dir", s(&dir)]);
    let r = r.code(2);
    assert!(r.stderr.contains("--remember"), "{}", r.stderr);
    assert!(!t.path().join("dump.rdb.age").exists());

    run(&["backup", "--dir", s(&dir), "-r", &pubkey, "--remember"]).success();
    assert_eq!(mode_of(&dir.join("backup-recipients")), 0o600);
    assert!(read(&dir, "backup-recipients").contains(&pubkey));
    run(&["check", "--dir", s(&dir)]).code(0);

    run(&["seal", s(&dump), "--dir", s(&dir)]).success();
    let sealed = t.path().join("dump.rdb.age");
    assert_eq!(mode_of(&sealed), 0o600);
    let out = Command::new("age")
        .args(["-d", "-i", s(&key), s(&sealed)])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"REDIS0011 fake dump");
    // The output is never replaced.
    run(&["seal", s(&dump), "--dir", s(&dir)]).code(2);

    // A backup with no recipient flag uses the remembered ones.
    let b = t.path().join("b.age");
    run(&["backup", "--dir", s(&dir), "-o", s(&b)]).success();
    let snap = generation(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    run(&["restore", s(&b), "--dir", s(&dir), "-i", s(&key)]).success();
    assert_eq!(generation(&dir), snap);
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
    let t = tempdir();
    let dir = t.path().join("secrets");
    init(&dir);
    let (key, pubkey) = keygen(t.path(), "key.txt");
    let (other, _) = keygen(t.path(), "other.txt");
    let good = t.path().join("good.age");
    run(&["backup", "--dir", s(&dir), "-r", &pubkey, "-o", s(&good)]).success();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = t.path().join("truncated.age");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let tampered = t.path().join("tampered.age");
    let mut tb = bytes.clone();
    let mid = tb.len() / 2;
    tb[mid] ^= 0x01;
    std::fs::write(&tampered, &tb).unwrap();
    let not_age = t.path().join("plain.tar");
    std::fs::write(
        &not_age,
        raw_tar(&[("provision-bundle/a", tar::EntryType::Regular, b"x")]),
    )
    .unwrap();

    let real = generation(&dir);
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
        t.path(),
        &pubkey,
        &with(("provision-bundle/../x", tar::EntryType::Regular, b"pwned")),
        "dotdot",
    );
    let bare_dotdot = age_encrypt(
        t.path(),
        &pubkey,
        &with(("../x", tar::EntryType::Regular, b"pwned")),
        "bare-dotdot",
    );
    let abs = age_encrypt(
        t.path(),
        &pubkey,
        &with(("/tmp/abs-provision-test", tar::EntryType::Regular, b"pwned")),
        "abs",
    );
    let link = age_encrypt(
        t.path(),
        &pubkey,
        &with(("provision-bundle/evil", tar::EntryType::Symlink, b"")),
        "symlink",
    );
    let extra = age_encrypt(
        t.path(),
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
    let unverified = age_encrypt(t.path(), &pubkey, &unverified_tar, "unverified");

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
            "does not verify",
        ),
    ];
    let snap = snapshot(&dir);
    let parent = snapshot(t.path());
    for (what, mut args, want) in cases {
        let mut full = vec!["restore"];
        full.append(&mut args);
        full.extend(["--dir", s(&dir), "--force"]);
        let r = run(&full);
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{what}: stderr lacks {want:?}: {}",
            r.stderr
        );
        assert_eq!(snapshot(&dir), snap, "{what} changed the bundle");
        assert_eq!(
            snapshot(t.path()),
            parent,
            "{what} wrote next to the bundle"
        );
        // A fresh target stays absent too.
        let fresh = t.path().join("fresh");
        let mut full2 = full.clone();
        let i = full2.iter().position(|a| *a == s(&dir)).unwrap();
        full2[i] = s(&fresh);
        run(&full2).code(2);
        assert!(!fresh.exists(), "{what} created {}", fresh.display());
    }
    assert!(!Path::new("/tmp/abs-provision-test").exists());
}
