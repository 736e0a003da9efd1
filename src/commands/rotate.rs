//! `provision rotate`: two-phase password rotation with no failed login.
//!
//! Start: each node first gains the new password (`ACL SETUSER u #new`), then the bundle's
//! `<user>.password` switches to it, so a client reading the file never holds a password a
//! node does not know. Finish: each node loses the old one (`ACL SETUSER u !old`), then
//! users.acl keeps only the new hash. `ACL LOAD` is never used: on Redis 7.0 it disconnects
//! every client of every non-default user. If a node refuses, the nodes already changed are
//! undone and the bundle on disk is left as it was: re-running the command is the retry. A
//! node that cannot be reached (down, after a failover) does not stop the rotation: it is
//! named, the others are changed, the bundle is committed, and the command exits 1; the node
//! reads the new users.acl when it restarts, or `provision push` brings it in line.

use super::manifest_of;
use crate::cli::RotateArgs;
use crate::core::rotation::{self, Step};
use crate::error::{Error, ExitStatus, Result};
use crate::live::nodes;
use crate::live::{self, Creds};
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;

pub fn run(args: &RotateArgs, out: Output) -> Result<ExitStatus> {
    let store = Store::open(args.bundle.path())?;
    let _lock = store.lock(args.lock.timeout())?;
    store.cleanup();
    let before = store.read_generation(None)?;
    let accepted = super::refuse_if_inconsistent(&before, &store.dir, args.accept_local_changes)?;
    let m = manifest_of(&before, &store.dir)?;
    // Certificate-identity users have no password: `--all` passes them by, naming one is an error.
    let users: Vec<String> = if args.all {
        m.spec
            .users
            .iter()
            .filter(|u| u.has_password())
            .map(|u| u.name.clone())
            .collect()
    } else {
        for u in &args.users {
            match m.spec.users.iter().find(|s| s.name == *u) {
                None => {
                    let known: Vec<&str> = m.spec.users.iter().map(|u| u.name.as_str()).collect();
                    return Err(Error::input(
                        format!("unknown user `{u}`"),
                        format!("this bundle's users are: {}", known.join(", ")),
                    ));
                }
                Some(s) if !s.has_password() => {
                    return Err(Error::input(
                        format!("user `{u}` logs in by certificate and has no password to rotate"),
                        "renew its certificate instead: `provision renew --force`",
                    ))
                }
                Some(_) => {}
            }
        }
        args.users.clone()
    };
    if users.is_empty() && args.all {
        return Err(Error::input(
            "no user to rotate: every user of this bundle logs in by certificate",
            "renew their certificates instead: `provision renew --force`",
        ));
    }
    if users.is_empty() {
        return Err(Error::input(
            "no user to rotate",
            "give --user NAME (repeatable) or --all",
        ));
    }
    let nodes = nodes(args.reload, &args.redis, &m)?;
    // Sentinels hold their own ACL (and the sentinel user's password): with --reload they are
    // changed too.
    let sentinels: Vec<String> = if args.reload {
        m.spec
            .instances()
            .into_iter()
            .filter(|i| i.kind == crate::core::topology::InstanceKind::Sentinel)
            .map(|i| i.address)
            .collect()
    } else {
        vec![]
    };
    let now = time::OffsetDateTime::now_utc();
    let gen_id = store::new_generation_id(now);
    let phase = if args.finish { "finish" } else { "start" };
    // users.acl is re-rendered with the templates the bundle was made with (or --templates,
    // which the new generation then records).
    let (templates, templates_dir) =
        super::templates_for(args.templates.templates.as_deref(), &m.spec)?;
    let mut m = m;
    m.spec.templates = templates_dir;
    let request = rotation::Request {
        templates: &templates,
        files: &before,
        manifest: &m,
        users: &users,
        now,
        generation: &gen_id,
    };
    let (files, steps) = if args.finish {
        rotation::finish(&request)
    } else {
        rotation::start(&request)
    }
    .map_err(|e| match e {
        rotation::RotationError::State(e) => {
            Error::input(e, "`provision check` shows which rotations are in progress")
        }
        rotation::RotationError::Template(e) => super::template_error(e),
    })?;

    // Live first, on every node; all or nothing.
    let login = live::admin_creds(&before, &m, &[])?;
    let masterauth = if nodes.is_empty() {
        None
    } else {
        masterauth_change(&before, &files, &m, &steps, args.finish)?
    };
    let sentinel_live = SentinelLive::new(&before, &files, &m, &steps, args.finish);
    let targets: Vec<(&String, bool)> = nodes
        .iter()
        .map(|n| (n, false))
        .chain(sentinels.iter().map(|n| (n, true)))
        .collect();
    let mut results = Vec::new();
    let mut applied: Vec<(&String, bool)> = Vec::new();
    let mut unreachable: Vec<String> = Vec::new();
    for &(n, is_sentinel) in &targets {
        let outcome = if is_sentinel {
            sentinel_live.apply(n, &login, &steps, false)
        } else {
            apply(n, &login, &steps, masterauth.as_ref(), false)
        };
        match outcome {
            Ok(()) => {
                applied.push((n, is_sentinel));
                results.push(json!({"node": n, "ok": true}));
            }
            Err(e) if e.is_unreachable() => {
                results.push(
                    json!({"node": n, "ok": false, "state": "unreachable", "error": e.to_string()}),
                );
                unreachable.push(format!("{n}: {e}"));
            }
            Err(e) => {
                results.push(json!({"node": n, "ok": false, "error": e.to_string()}));
                let mut undone = Vec::new();
                for &(a, is_sentinel) in &applied {
                    let undo = if is_sentinel {
                        sentinel_live.apply(a, &login, &steps, true)
                    } else {
                        apply(a, &login, &steps, masterauth.as_ref(), true)
                    };
                    let outcome = match undo {
                        Ok(()) => "undone".to_string(),
                        Err(u) => format!("undo failed: {u}"),
                    };
                    undone.push(format!("{a}: {outcome}"));
                }
                return Err(Error::failed(
                    format!(
                        "rotation {phase} failed on {n}: {e}\n  nodes changed before the failure: {}\n  the bundle on disk is unchanged",
                        if undone.is_empty() { "none".into() } else { undone.join(", ") }
                    ),
                    Some("fix the node and run the same command again".into()),
                ));
            }
        }
    }

    let mut entry = super::audit_entry(&format!("rotate-{phase}"), &gen_id, &files);
    if !accepted.is_empty() {
        entry["accepted_local_changes"] = json!(accepted);
    }
    entry["users"] = json!(steps.iter().map(|s| json!({"user": s.user, "old_hash_prefix": &s.old_hash[..12], "new_hash_prefix": &s.new_hash[..12]})).collect::<Vec<_>>());
    entry["nodes"] = json!(nodes);
    entry["sentinels"] = json!(sentinels);
    store.commit(&files, &gen_id, &entry)?;

    out.report(&Rotated {
        action: format!("rotate-{phase}"),
        dir: &store.dir,
        generation: &gen_id,
        users: &users,
        nodes: results,
        finish: args.finish,
        applied_on: &applied
            .iter()
            .filter(|(_, sentinel)| !sentinel)
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        unreachable: &unreachable,
        node_flags: node_flags(args),
    });
    if !unreachable.is_empty() {
        return Err(Error::failed(
            format!(
                "rotation {phase} is in the bundle on disk and on every other node, but {} node(s) could not be reached:\n  - {}",
                unreachable.len(),
                unreachable.join("\n  - ")
            ),
            Some("a node restarted from the bundle reads the new users.acl; a node that comes back without a restart needs `provision push --reload`".into()),
        ));
    }
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Rotated<'a> {
    action: String,
    dir: &'a std::path::Path,
    generation: &'a str,
    users: &'a [String],
    nodes: Vec<serde_json::Value>,
    #[serde(skip)]
    finish: bool,
    /// The data nodes the change was applied to.
    #[serde(skip)]
    applied_on: &'a [String],
    /// Nodes that could not be reached, with why.
    #[serde(skip)]
    unreachable: &'a [String],
    /// `--reload` / `--redis ...` as given, for the next command shown.
    #[serde(skip)]
    node_flags: String,
}

impl Report for Rotated<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        let list = self.users.join(", ");
        if self.finish {
            writeln!(
                w,
                "Finished the password rotation for {list}: only the new password is accepted now."
            )?;
        } else {
            writeln!(w, "Started a password rotation for {list}: the old and the new password are both accepted.")?;
            for u in self.users {
                writeln!(
                    w,
                    "  new password in {}",
                    self.dir
                        .join(crate::core::bundle::user_password(u))
                        .display()
                )?;
            }
            writeln!(
                w,
                "Next: roll your clients to the new password file, then run"
            )?;
            writeln!(
                w,
                "  provision rotate --dir {} {} --finish{}",
                self.dir.display(),
                self.users
                    .iter()
                    .map(|u| format!("--user {u}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                self.node_flags
            )?;
        }
        for n in self.applied_on {
            writeln!(w, "  applied live on {n}")?;
        }
        for n in self.unreachable {
            writeln!(w, "  unreachable {n}")?;
        }
        if self.applied_on.is_empty() && self.unreachable.is_empty() {
            writeln!(w, "  (files only: no --reload or --redis was given; running nodes keep their old ACL until you apply it)")?;
        }
        Ok(())
    }
}

fn node_flags(args: &RotateArgs) -> String {
    let mut s = String::new();
    if args.reload {
        s.push_str(" --reload");
    }
    for r in &args.redis {
        s.push_str(&format!(" --redis {r}"));
    }
    s
}

/// What a rotation changes on a Sentinel: the ACL of the users Sentinel knows (admin, app,
/// monitor, sentinel), and, when the sentinel user's rotation starts, the password Sentinel
/// sends to the nodes (`SENTINEL SET <master> auth-pass`) and to other Sentinels
/// (`SENTINEL CONFIG SET sentinel-pass`).
struct SentinelLive {
    users: Vec<String>,
    master: String,
    /// (new, old) password of the sentinel user when its rotation starts.
    sentinel_pw: Option<(
        String,
        crate::core::secret::Secret,
        crate::core::secret::Secret,
    )>,
}

impl SentinelLive {
    fn new(
        before: &crate::core::bundle::Files,
        after: &crate::core::bundle::Files,
        m: &crate::core::bundle::Manifest,
        steps: &[Step],
        finish: bool,
    ) -> Self {
        use crate::core::bundle::user_password;
        use crate::core::spec::Role;
        let users = m
            .spec
            .users
            .iter()
            .filter(|u| {
                matches!(
                    u.role,
                    Role::Admin | Role::App | Role::Monitor | Role::Sentinel
                )
            })
            .map(|u| u.name.clone())
            .collect();
        let sentinel_pw = m
            .spec
            .user_with_role(Role::Sentinel)
            .filter(|u| !finish && steps.iter().any(|s| s.user == u.name))
            .and_then(|u| {
                let get = |f: &crate::core::bundle::Files| {
                    f.get(&user_password(&u.name)).map(|f| f.data.clone())
                };
                Some((u.name.clone(), get(after)?, get(before)?))
            });
        SentinelLive {
            users,
            master: m.spec.topology.master_name.clone(),
            sentinel_pw,
        }
    }

    fn apply(
        &self,
        node: &str,
        login: &Creds,
        steps: &[Step],
        undo: bool,
    ) -> std::result::Result<(), live::Error> {
        let mine: Vec<Step> = steps
            .iter()
            .filter(|s| self.users.contains(&s.user))
            .cloned()
            .collect();
        apply_acl(node, login, &mine, undo)?;
        if let Some((_, new, old)) = &self.sentinel_pw {
            let pw = if undo { old } else { new };
            let pw = pw.expose_str().trim_end();
            for args in [
                vec!["SENTINEL", "SET", self.master.as_str(), "auth-pass", pw],
                vec!["SENTINEL", "CONFIG", "SET", "sentinel-pass", pw],
            ] {
                live::command_ok(node, login, &args)?;
            }
        }
        Ok(())
    }
}

/// When the replication user's rotation starts, every node must also send the new password
/// when it next connects to a primary: `CONFIG SET masterauth` (renamed CONFIG) after the ACL
/// change. Returns (renamed CONFIG, new password, old password).
struct Masterauth {
    config: String,
    new: crate::core::secret::Secret,
    old: crate::core::secret::Secret,
}

fn masterauth_change(
    before: &crate::core::bundle::Files,
    after: &crate::core::bundle::Files,
    m: &crate::core::bundle::Manifest,
    steps: &[Step],
    finish: bool,
) -> Result<Option<Masterauth>> {
    use crate::core::bundle;
    use crate::core::spec::Role;
    let Some(repl) = m.spec.user_with_role(Role::Replication) else {
        return Ok(None);
    };
    if finish || !steps.iter().any(|s| s.user == repl.name) {
        return Ok(None);
    }
    let Some(config) = live::renamed_config(before)? else {
        return Err(Error::input(
            "CONFIG is disabled in this bundle (--disable-commands), so the replicas' masterauth cannot be changed live",
            "rotate the replication user without --reload/--redis and restart the nodes",
        ));
    };
    let pw = |f: &bundle::Files| {
        f.get(&bundle::user_password(&repl.name))
            .map(|f| f.data.clone())
            .ok_or_else(|| Error::failed(format!("{}.password is missing", repl.name), None))
    };
    Ok(Some(Masterauth {
        config,
        new: pw(after)?,
        old: pw(before)?,
    }))
}

/// `ACL SETUSER user <rule>` for every step on one node (or the undo rules), then the
/// masterauth change of a replication-user rotation.
fn apply(
    node: &str,
    login: &Creds,
    steps: &[Step],
    masterauth: Option<&Masterauth>,
    undo: bool,
) -> std::result::Result<(), live::Error> {
    if let Some(ma) = masterauth {
        let pw = if undo { &ma.old } else { &ma.new };
        if undo {
            set_masterauth(node, login, &ma.config, pw.expose_str())?;
        }
        apply_acl(node, login, steps, undo)?;
        if !undo {
            set_masterauth(node, login, &ma.config, pw.expose_str())?;
        }
        return Ok(());
    }
    apply_acl(node, login, steps, undo)
}

fn set_masterauth(
    node: &str,
    login: &Creds,
    config: &str,
    pw: &str,
) -> std::result::Result<(), live::Error> {
    live::command_ok(node, login, &[config, "SET", "masterauth", pw.trim_end()])
}

fn apply_acl(
    node: &str,
    login: &Creds,
    steps: &[Step],
    undo: bool,
) -> std::result::Result<(), live::Error> {
    for s in steps {
        let rule = if undo { &s.undo } else { &s.rule };
        match live::command_ok(node, login, &["ACL", "SETUSER", &s.acl_user, rule]) {
            Ok(()) => {}
            // Removing a password the node no longer has is already done.
            Err(live::Error::Refused { detail, .. })
                if rule.starts_with('!') && detail.contains("does not exist") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
