//! Password rotation: files at each step, errors, and live against a real redis-server with a
//! client loop that must see zero failed logins and a long-lived connection that must survive.

use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn hashes_of(acl: &str, user: &str) -> usize {
    acl_hashes_of(acl, user).len()
}

#[test]
fn rotate_errors_and_files_at_each_step() {
    let b = Bundle::init(&[]);
    let (d, ds) = (b.dir.as_path(), b.d());
    run(&["rotate", "--dir", ds, "--user", "app", "--finish"])
        .code(2)
        .stderr_has("no rotation in progress");
    run(&["rotate", "--dir", ds, "--user", "nobody"])
        .code(2)
        .stderr_has("unknown user `nobody`");
    run(&["rotate", "--dir", ds]).code(2);
    let before = snapshot(d);
    let old = read(d, "app.password");
    let old_hash = sha256sum(&d.join("app.password"));
    assert_eq!(
        acl_hashes_of(&read(d, "users.acl"), "app"),
        std::slice::from_ref(&old_hash)
    );
    run(&["rotate", "--dir", ds, "--user", "app"])
        .success()
        .stdout_has("--finish");
    let new = read(d, "app.password");
    let new_hash = sha256sum(&d.join("app.password"));
    assert_ne!(old, new);
    assert_eq!(new.len(), 43);
    // Both passwords, by their SHA-256 (coreutils' sha256sum of the password files).
    let mut both = acl_hashes_of(&read(d, "users.acl"), "app");
    both.sort();
    let mut want = vec![old_hash, new_hash.clone()];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(hashes_of(&read(d, "users.acl"), "admin"), 1);
    run(&["check", "--dir", ds])
        .code(0)
        .stdout_has("rotation in progress for: app");
    run(&["rotate", "--dir", ds, "--user", "app"])
        .code(2)
        .stderr_has("already in progress");
    run(&["rotate", "--dir", ds, "--user", "app", "--finish"]).success();
    assert_eq!(acl_hashes_of(&read(d, "users.acl"), "app"), [new_hash]);
    assert_eq!(read(d, "app.password"), new);
    assert_ne!(snapshot(d), before);
    let audit = read(d, "audit.log");
    assert!(audit.contains("\"rotate-start\"") && audit.contains("\"rotate-finish\""));
    assert!(
        !audit.contains(&old) && !audit.contains(&new),
        "no password in audit.log"
    );
    run(&["check", "--dir", ds]).code(0);
    run(&["rotate", "--dir", ds, "--all"]).success();
    for u in ["admin", "app", "monitor"] {
        assert_eq!(hashes_of(&read(d, "users.acl"), u), 2, "{u}");
    }
}

#[test]
fn live_rotation_has_no_failed_login_and_drops_no_connection() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let old = read(&dir, "app.password");
    let mut long = app_client(&dir, &dir, port);
    assert_eq!(ping(&mut long), "PONG");

    // A client loop: every iteration reads app.password as it is now and opens a new connection.
    // It counts its logins per phase (0 before `rotate`, 1 between start and --finish, 2 after),
    // and the test moves on only once each phase has seen logins: sampled, not slept through.
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let done: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let (d2, s2, p2, n2) = (dir.clone(), stop.clone(), phase.clone(), done.clone());
    let looper = std::thread::spawn(move || {
        let (mut failed, mut errors) = (0u32, Vec::new());
        while !s2.load(Ordering::SeqCst) {
            let ph = p2.load(Ordering::SeqCst);
            match client_as(&d2, &d2, port, "app", None)
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            {
                Ok(p) if p == "PONG" => {}
                Ok(p) => {
                    failed += 1;
                    errors.push(format!("phase {ph}: {p}"))
                }
                Err(e) => {
                    failed += 1;
                    errors.push(format!("phase {ph}: {e}"))
                }
            }
            n2[ph].fetch_add(1, Ordering::SeqCst);
        }
        (failed, errors)
    });
    let logins_in = |ph: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while done[ph].load(Ordering::SeqCst) < 10 {
            assert!(
                Instant::now() < deadline,
                "the client loop stalled in phase {ph}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let ds = dir.to_str().unwrap();
    logins_in(0);
    run(&["rotate", "--dir", ds, "--user", "app", "--reload"]).success();
    phase.store(1, Ordering::SeqCst);
    logins_in(1); // clients roll over to the new file
    let new = read(&dir, "app.password");
    assert_ne!(new, old);
    assert_eq!(
        r.cli_raw(Some(("app", &old)), Some("app"), &["PING"]),
        "PONG",
        "old still accepted mid-rotation"
    );
    assert_eq!(
        r.cli_raw(Some(("app", &new)), Some("app"), &["PING"]),
        "PONG",
        "new accepted mid-rotation"
    );
    run(&[
        "rotate", "--dir", ds, "--user", "app", "--finish", "--reload",
    ])
    .success();
    phase.store(2, Ordering::SeqCst);
    logins_in(2);
    stop.store(true, Ordering::SeqCst);
    let (failed, errors) = looper.join().unwrap();
    let counts: Vec<usize> = done.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    eprintln!("rotation client loop: logins per phase {counts:?}, {failed} failed");
    assert_eq!(failed, 0, "failed logins during rotation: {errors:?}");
    assert_eq!(ping(&mut long), "PONG", "long-lived connection survived");
    assert!(
        r.cli_raw(Some(("app", &old)), Some("app"), &["PING"])
            .contains("WRONGPASS"),
        "old password refused after --finish"
    );
    assert_eq!(
        r.cli_raw(Some(("app", &new)), Some("app"), &["PING"]),
        "PONG"
    );

    // A restarted server loading users.acl from disk agrees with the live state.
    let live_acl = r.cli_as("admin", &["ACL", "LIST"]);
    drop(r);
    let r2 = Redis::start(&dir, port, t.path());
    assert_eq!(
        normalized_acl(&r2.cli_as("admin", &["ACL", "LIST"])),
        normalized_acl(&live_acl)
    );
    assert!(r2
        .cli_raw(Some(("app", &old)), Some("app"), &["PING"])
        .contains("WRONGPASS"));
    assert_eq!(
        r2.cli_raw(Some(("app", &new)), Some("app"), &["PING"]),
        "PONG"
    );
}

#[test]
fn live_rotation_of_the_admin_itself() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let ds = dir.to_str().unwrap();
    let old = read(&dir, "admin.password");
    run(&["rotate", "--dir", ds, "--user", "admin", "--reload"]).success();
    let new = read(&dir, "admin.password");
    assert_eq!(
        r.cli_raw(Some(("admin", &old)), Some("admin"), &["ACL", "WHOAMI"]),
        "admin"
    );
    run(&[
        "rotate", "--dir", ds, "--user", "admin", "--finish", "--reload",
    ])
    .success();
    assert!(r
        .cli_raw(Some(("admin", &old)), Some("admin"), &["PING"])
        .contains("WRONGPASS"));
    assert_eq!(
        r.cli_raw(Some(("admin", &new)), Some("admin"), &["ACL", "WHOAMI"]),
        "admin"
    );
}

/// How many password hashes `user` has on the live node.
fn live_hashes(r: &Redis, user: &str) -> usize {
    r.cli_as("admin", &["ACL", "GETUSER", user])
        .lines()
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .count()
}

#[test]
fn live_rotation_refused_by_one_node_undoes_the_others_and_changes_no_file() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let ds = dir.to_str().unwrap();
    // A second node from the same bundle (its redis.conf on another port), whose admin may
    // not run ACL SETUSER: reachable, but it refuses the change.
    let port2 = free_port();
    let dir2 = t.path().join("second");
    std::fs::create_dir(&dir2).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "redis.conf" {
            std::os::unix::fs::symlink(e.path(), dir2.join(e.file_name())).unwrap();
        }
    }
    let conf =
        read(&dir, "redis.conf").replace(&format!("tls-port {port}"), &format!("tls-port {port2}"));
    std::fs::write(dir2.join("redis.conf"), conf).unwrap();
    let work2 = tempdir();
    let r2 = Redis::start(&dir2, port2, work2.path());
    assert_eq!(
        r2.cli_as("admin", &["ACL", "SETUSER", "admin", "-acl|setuser"]),
        "OK"
    );
    let before = snapshot(&dir);
    run(&[
        "rotate",
        "--dir",
        ds,
        "--user",
        "app",
        "--reload",
        "--redis",
        &format!("127.0.0.1:{port2}"),
    ])
    .code(1)
    .stderr_has(&format!("127.0.0.1:{port2}"))
    .stderr_has("undone")
    .stderr_has("unchanged");
    assert_eq!(snapshot(&dir), before, "bundle unchanged");
    assert_eq!(live_hashes(&r, "app"), 1, "the live node was undone");
    assert_eq!(r.cli_as("app", &["PING"]), "PONG");
}

#[test]
fn live_rotation_with_a_node_down_changes_the_others_and_the_bundle() {
    let (t, dir, port) = live_bundle(&[]);
    let r = Redis::start(&dir, port, t.path());
    let ds = dir.to_str().unwrap();
    let mut held = app_client(&dir, &dir, port);
    let old = read(&dir, "app.password");
    let dead = format!("127.0.0.1:{}", free_port());
    run(&[
        "rotate", "--dir", ds, "--user", "app", "--reload", "--redis", &dead,
    ])
    .code(1)
    .stderr_has(&dead)
    .stderr_has("could not be reached")
    .stdout_has(&format!("unreachable {dead}"));
    // The live node and the bundle both have the rotation; old and new passwords log in.
    assert_ne!(read(&dir, "app.password"), old);
    assert_eq!(acl_hashes_of(&read(&dir, "users.acl"), "app").len(), 2);
    assert_eq!(live_hashes(&r, "app"), 2);
    assert_eq!(
        r.cli_raw(Some(("app", &old)), Some("app"), &["PING"]),
        "PONG"
    );
    assert_eq!(r.cli_as("app", &["PING"]), "PONG");
    assert_eq!(ping(&mut held), "PONG");
    run(&["check", "--dir", ds]).code(0);
}
