//! Secrets hygiene over a whole life cycle: init, renew, rotate, finish, check, env, rollback.
//! Every secret generated along the way (passwords, private keys, secret command names, and
//! the SHA-256 of each password, which is its ACL hash) is searched for in every stdout,
//! stderr, audit.log and manifest.json produced.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::Path;

fn secrets_of_generation(g: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(g).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if name.ends_with(".password") {
            out.insert(text.clone());
            out.insert(provision::core::password::sha256_hex(text.as_bytes()));
        } else if name.ends_with(".key") {
            out.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() > 16)
                    .map(str::to_string),
            );
        } else if name == "renamed-commands" {
            out.extend(
                text.lines()
                    .filter_map(|l| l.split(' ').nth(1))
                    .filter(|n| n.len() > 10)
                    .map(str::to_string),
            );
        }
    }
}

#[test]
fn no_secret_reaches_any_output_over_a_life_cycle() {
    let b = Bundle::empty();
    let (dir, d) = (b.dir.as_path(), b.d());
    let steps: Vec<Vec<&str>> = vec![
        vec!["init", "--dir", d],
        vec!["init", "--dir", d, "--force", "--json"],
        vec!["renew", "--dir", d, "--force"],
        vec!["renew", "--dir", d, "--force", "--json", "--rollover-ca"],
        vec!["rotate", "--dir", d, "--user", "app"],
        vec!["check", "--dir", d],
        vec!["check", "--dir", d, "--json"],
        vec!["check", "--dir", d, "--format", "prometheus"],
        vec!["rotate", "--dir", d, "--user", "app", "--finish", "--json"],
        vec!["rotate", "--dir", d, "--all"],
        vec!["rotate", "--dir", d, "--all", "--finish"],
        vec!["env", "--dir", d, "--format", "shell"],
        vec!["env", "--dir", d, "--format", "github"],
        vec!["rollback", "--dir", d],
        vec!["renew", "--dir", d, "--dry-run", "--force"],
        vec!["init", "--dir", d, "--host", "bad host", "--force"],
    ];
    let mut outputs = Vec::new();
    let mut secrets = BTreeSet::new();
    for s in &steps {
        let r = run(s);
        // The bad host is refused as bad input (exit 2, naming the value); every other step
        // succeeds.
        let want = if s.contains(&"bad host") { 2 } else { 0 };
        assert_eq!(r.code, want, "{s:?}: {}", r.stderr);
        if want == 2 {
            assert!(r.stderr.contains("bad host"), "{}", r.stderr);
        }
        outputs.push((format!("{s:?}"), r.stdout, r.stderr));
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("..gen-")
            {
                secrets_of_generation(&p, &mut secrets);
            }
        }
    }
    let audit = read(dir, "audit.log");
    let manifest = read(dir, "manifest.json");
    assert!(
        secrets.len() > 60,
        "collected only {} secrets",
        secrets.len()
    );
    for s in &secrets {
        for (what, out, err) in &outputs {
            assert!(
                !out.contains(s.as_str()) && !err.contains(s.as_str()),
                "a secret leaked into the output of {what}"
            );
        }
        assert!(
            !audit.contains(s.as_str()),
            "a secret leaked into audit.log"
        );
        assert!(
            !manifest.contains(s.as_str()),
            "a secret leaked into manifest.json"
        );
    }
    // With --show-secrets, and only then, the password is printed (the control: the search works).
    let shown = run(&["env", "--dir", d, "--show-secrets"]).success();
    assert!(shown.stdout.contains(&read(dir, "app.password")));
    eprintln!(
        "{} secrets checked against {} command outputs, audit.log and manifest.json",
        secrets.len(),
        outputs.len()
    );
}
