//! `provision user`: add, change, disable, enable, remove and list users after `init`. Each
//! change is one new generation and one audit line; with `--reload`/`--redis` it is applied
//! live on every node (`ACL SETUSER`/`ACL DELUSER`, verified with `ACL GETUSER`). A node that
//! cannot be reached does not stop the others: it is named, the bundle is committed, exit 1.

use super::manifest_of;
use crate::cli::{UserAction, UserArgs, UserRules, UserTarget};
use crate::core::bundle::Revoked;
use crate::core::cakey::Slot;
use crate::core::spec::{Role, UserAuth, UserSpec};
use crate::core::users::{self, Change, Live, UserError};
use crate::error::{Error, ExitStatus, Result};
use crate::live::{self, Pushed};
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;
use std::fmt::Write;
use std::path::Path;

pub fn run(args: &UserArgs, out: Output) -> Result<ExitStatus> {
    let (change, target, unlock) = match &args.action {
        UserAction::List(a) => return list(a.bundle.path(), out),
        UserAction::Add(a) => (add_change(a)?, &a.target, Some(&a.unlock)),
        UserAction::Set(a) => {
            let (keys, channels, commands) = rules_of(&a.rules)?;
            if keys.is_none() && channels.is_none() && commands.is_none() {
                return Err(Error::input(
                    format!("nothing to change for `{}`", a.name),
                    "give --keys, --channels, --no-channels or --rules",
                ));
            }
            let change = Change::Set {
                name: a.name.clone(),
                keys,
                channels,
                commands,
            };
            (change, &a.target, None)
        }
        UserAction::Disable(a) => (Change::Disable(a.name.clone()), &a.target, None),
        UserAction::Enable(a) => (Change::Enable(a.name.clone()), &a.target, None),
        UserAction::Remove(a) => (Change::Remove(a.name.clone()), &a.target, None),
    };
    change_users(&change, target, unlock, out)
}

/// `--keys`, `--channels`/`--no-channels` and `--rules` as the spec holds them (None: not given).
type Rules = (
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Vec<String>>,
);

fn rules_of(r: &UserRules) -> Result<Rules> {
    let keys = (!r.keys.is_empty()).then(|| r.keys.clone());
    let channels = if r.no_channels {
        Some(vec![])
    } else {
        (!r.channels.is_empty()).then(|| r.channels.clone())
    };
    let commands = match &r.rules {
        Some(s) => {
            let v: Vec<String> = s.split_ascii_whitespace().map(str::to_string).collect();
            if v.is_empty() {
                return Err(Error::input(
                    "--rules is empty",
                    "give ACL command rules such as '+@read +info'",
                ));
            }
            Some(v)
        }
        None => None,
    };
    Ok((keys, channels, commands))
}

fn add_change(a: &crate::cli::UserAddArgs) -> Result<Change> {
    let (keys, channels, commands) = rules_of(&a.rules)?;
    let role = match (a.role.as_deref(), &commands) {
        (_, Some(_)) => Role::Custom,
        (Some("monitor"), _) => Role::Monitor,
        (Some("admin"), _) => Role::Admin,
        _ => Role::App,
    };
    if matches!(role, Role::Monitor | Role::Admin) && (keys.is_some() || channels.is_some()) {
        return Err(Error::input(
            format!(
                "role {} has fixed rules and takes no --keys or --channels",
                a.role.as_deref().unwrap_or_default()
            ),
            "drop --keys/--channels, or use --rules for a custom user",
        ));
    }
    let mut u = UserSpec::new(&a.name, role);
    u.keys = keys;
    u.channels = channels;
    u.commands = commands.unwrap_or_default();
    u.auth = a.auth.as_deref().and_then(UserAuth::from_name);
    Ok(Change::Add(u))
}

/// One node's answer to the change.
#[derive(serde::Serialize)]
struct NodeState {
    node: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sentinel: bool,
    /// `in_sync`, `updated`, or `unreachable` / `failed` (with `error`).
    state: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn change_users(
    change: &Change,
    target: &UserTarget,
    unlock: Option<&crate::cli::UnlockArgs>,
    out: Output,
) -> Result<ExitStatus> {
    let store = Store::open(target.bundle.path())?;
    // A terminal prompt for a passphrase must not hold the lock.
    let key = match unlock {
        Some(u) => super::key_from_args(u)?,
        None => None,
    };
    let _lock = store.lock(target.lock.timeout())?;
    store.cleanup();
    let before = store.read_generation(None)?;
    super::refuse_if_inconsistent(&before, &store.dir, false)?;
    let m = manifest_of(&before, &store.dir)?;
    let nodes = live::nodes(target.reload, &target.redis, &m)?;
    let (templates, _) = super::templates_for(target.templates.templates.as_deref(), &m.spec)?;
    let ca_key = match change {
        Change::Add(u) => Some(
            super::unlock_ca_key(
                &before,
                &m,
                key.as_ref(),
                &store.dir,
                &format!("issuing the certificate of `{}`", u.name),
                Slot::Current,
            )?
            .0,
        ),
        _ => None,
    };
    let now = time::OffsetDateTime::now_utc();
    let gen_id = store::new_generation_id(now);
    let outcome = users::apply(
        &users::Request {
            templates: &templates,
            files: &before,
            manifest: &m,
            now,
            generation: &gen_id,
            ca_key: ca_key.as_ref(),
        },
        change,
    )
    .map_err(|e| user_error(e, change))?;
    drop(ca_key);

    let files = outcome.files;
    let m_new = manifest_of(&files, &store.dir)?;
    let mut entry = super::audit_entry(&format!("user-{}", change.verb()), &gen_id, &files);
    entry["user"] = json!(change.user());
    entry["nodes"] = json!(nodes);
    if let Some(r) = &outcome.revoked {
        entry["revoked"] = json!(r);
    }
    let generation = store.commit(&files, &gen_id, &entry)?;

    // Logged in as the new bundle's admin: one the nodes already know (a new user is never
    // the first enabled admin; a removed or disabled one is never chosen).
    let creds = if nodes.is_empty() {
        None
    } else {
        Some(live::admin_creds(&files, &m_new, &[])?)
    };
    let mut results: Vec<NodeState> = nodes
        .iter()
        .map(|n| push(n, creds.as_ref(), &outcome.live, false))
        .collect();
    // Sentinels keep an ACL of their own (admin, app and monitor users): with --reload they
    // are changed too.
    if let (true, Some(change)) = (target.reload, &outcome.sentinel) {
        let creds = live::admin_creds(&files, &m_new, &[])?;
        for s in m_new
            .spec
            .instances()
            .into_iter()
            .filter(|i| i.kind == crate::core::topology::InstanceKind::Sentinel)
        {
            results.push(push(&s.address, Some(&creds), change, true));
        }
    }
    out.report(&Changed {
        action: format!("user-{}", change.verb()),
        dir: &store.dir,
        generation: &gen_id,
        user: change.user(),
        revoked: outcome.revoked.as_ref(),
        nodes: &results,
        generation_dir: &generation,
    });
    nodes_failed(&results)
}

/// One line per node (or Sentinel): its state, and why for one that did not take the change.
fn write_nodes(w: &mut String, nodes: &[NodeState]) -> std::fmt::Result {
    for n in nodes {
        let state = n.state.replace('_', " ");
        let what = if n.sentinel { " (Sentinel)" } else { "" };
        match &n.error {
            None => writeln!(w, "  {state:<11} {}{what}", n.node)?,
            Some(e) => writeln!(w, "  {state:<11} {}{what}: {e}", n.node)?,
        }
    }
    Ok(())
}

/// Exit 1 naming every node that did not take the change (the bundle on disk has it).
fn nodes_failed(results: &[NodeState]) -> Result<ExitStatus> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{}: {}", r.node, r.error.as_deref().unwrap_or("")))
        .collect();
    if !failed.is_empty() {
        return Err(Error::failed(
            format!(
                "the change is in the bundle on disk, but {} node(s) did not take it:\n  - {}",
                failed.len(),
                failed.join("\n  - ")
            ),
            Some("the other nodes were changed; once the node is back, run `provision push --reload` (or the same command again), or restart it from the bundle".into()),
        ));
    }
    Ok(ExitStatus::Success)
}

/// Applies `change` on one node (or Sentinel) and says how it went.
fn push(node: &str, creds: Option<&live::Creds>, change: &Live, sentinel: bool) -> NodeState {
    let creds = creds.expect("credentials when there are nodes");
    let r = match change {
        Live::Set {
            acl_name,
            rules,
            kill,
        } => live::set_user(node, creds, acl_name, rules, *kill),
        Live::Delete { acl_name } => live::delete_user(node, creds, acl_name),
    };
    NodeState::of(node, sentinel, r)
}

impl NodeState {
    /// A node's state from what a push answered.
    fn of(node: &str, sentinel: bool, r: std::result::Result<Pushed, live::Error>) -> Self {
        let (state, error) = match r {
            Ok(Pushed::InSync) => ("in_sync", None),
            Ok(Pushed::Updated) => ("updated", None),
            Err(e) if e.is_unreachable() => ("unreachable", Some(e.to_string())),
            Err(e) => ("failed", Some(e.to_string())),
        };
        NodeState {
            node: node.to_string(),
            sentinel,
            state,
            ok: error.is_none(),
            error,
        }
    }
}

/// A refused change is bad input (exit 2, nothing written) with a hint; a bundle that
/// cannot be re-rendered is a failure.
fn user_error(e: UserError, change: &Change) -> Error {
    let hint = match &e {
        UserError::Invalid(_) => "fix the value named above (names: a letter, then letters, digits, `_`, `-`, `.`; patterns such as `orders:*`; rules such as `+@read`)".to_string(),
        UserError::NoSuchUser(_) => "list the bundle's users with `provision user list`".into(),
        UserError::Exists(_) => "choose another name, or change the user with `provision user set`".into(),
        UserError::Refused(_) => format!("`provision user {}` cannot change that user", change.verb()),
        UserError::Build(_) => return Error::failed(e.to_string(), Some("run `provision check` to see what is wrong".into())),
    };
    Error::input(format!("{e}; nothing was changed"), hint)
}

/// What `user <change>` did.
#[derive(serde::Serialize)]
struct Changed<'a> {
    action: String,
    dir: &'a Path,
    generation: &'a str,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<&'a Revoked>,
    nodes: &'a [NodeState],
    #[serde(skip)]
    generation_dir: &'a str,
}

impl Report for Changed<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        let what = match self.action.as_str() {
            "user-add" => "Added",
            "user-set" => "Changed",
            "user-disable" => "Disabled",
            "user-enable" => "Enabled",
            _ => "Removed",
        };
        writeln!(
            w,
            "{what} user `{}` in {} (generation {}).",
            self.user,
            self.dir.display(),
            self.generation_dir
        )?;
        if let Some(r) = self.revoked {
            writeln!(
                w,
                "  certificate serial {} recorded as revoked",
                &r.serial[..r.serial.len().min(16)]
            )?;
        }
        if what == "Added" {
            writeln!(
                w,
                "  files: {u}.crt, {u}.key and (unless it logs in by certificate) {u}.password",
                u = self.user
            )?;
        }
        write_nodes(w, self.nodes)?;
        if self.nodes.is_empty() {
            writeln!(w, "  (files only: no --reload or --redis was given; running nodes keep their users until you apply it or restart them)")?;
        }
        Ok(())
    }
}

/// `user list`: the bundle's users as its manifest declares them.
fn list(dir: &Path, out: Output) -> Result<ExitStatus> {
    let (dir, _files, m) = super::open_bundle(dir)?;
    let users: Vec<Listed> = m
        .spec
        .users
        .iter()
        .map(|u| Listed {
            name: u.name.clone(),
            acl_name: u.acl_name().to_string(),
            role: format!("{:?}", u.role).to_lowercase(),
            auth: u.auth().name(),
            state: if u.disabled { "disabled" } else { "enabled" },
            keys: matches!(u.role, Role::App | Role::Custom).then(|| u.key_patterns()),
            channels: matches!(u.role, Role::App | Role::Custom).then(|| u.channel_patterns()),
            commands: u.commands.clone(),
            certificate_expires: m
                .certificates
                .iter()
                .find(|c| c.file == crate::core::bundle::user_crt(&u.name))
                .map(|c| c.not_after.clone()),
        })
        .collect();
    out.report(&UserList {
        dir: &dir,
        generation: &m.generation,
        users,
        revoked: &m.revoked,
    });
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    acl_name: String,
    role: String,
    auth: &'static str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    commands: Vec<String>,
    certificate_expires: Option<String>,
}

#[derive(serde::Serialize)]
struct UserList<'a> {
    dir: &'a Path,
    generation: &'a str,
    users: Vec<Listed>,
    revoked: &'a [Revoked],
}

impl Report for UserList<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        writeln!(
            w,
            "Users of {} (generation {}):",
            self.dir.display(),
            self.generation
        )?;
        for u in &self.users {
            let mut detail = Vec::new();
            if let Some(k) = &u.keys {
                detail.push(format!("keys {}", k.join(" ")));
            }
            if let Some(c) = &u.channels {
                detail.push(if c.is_empty() {
                    "no channels".into()
                } else {
                    format!("channels {}", c.join(" "))
                });
            }
            if !u.commands.is_empty() {
                detail.push(format!("rules {}", u.commands.join(" ")));
            }
            writeln!(
                w,
                "  {:<14} {:<11} {:<8} {:<8} {}",
                u.name,
                u.role,
                u.auth,
                u.state,
                detail.join("; ")
            )?;
        }
        for r in self.revoked {
            writeln!(
                w,
                "  revoked: {} (serial {}, {})",
                r.user,
                &r.serial[..r.serial.len().min(16)],
                r.revoked_at
            )?;
        }
        Ok(())
    }
}

/// `provision apply --config FILE [--plan]`: the declarative form of `user`. The file's users
/// are the desired state; every change it implies goes into one generation.
pub fn apply(args: &crate::cli::ApplyArgs, out: Output) -> Result<ExitStatus> {
    let path = &args.config;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let cfg = crate::core::spec::ConfigFile::parse(&text).map_err(|e| {
        Error::input(
            format!("`{}`: {e}", path.display()),
            "fix the config file (provision.example.toml shows every key)",
        )
    })?;
    let Some(listed) = cfg.users else {
        return Err(Error::input(
            format!("`{}` has no [[users]]", path.display()),
            "list every user the bundle should have, as in provision.example.toml",
        ));
    };
    let target = &args.target;
    let store = if args.plan {
        Store::open_readonly(target.bundle.path())?
    } else {
        Store::open(target.bundle.path())?
    };
    let key = if args.plan {
        None
    } else {
        super::key_from_args(&args.unlock)?
    };
    let _lock = if args.plan {
        None
    } else {
        let l = store.lock(target.lock.timeout())?;
        store.cleanup();
        Some(l)
    };
    let before = store.read_generation(None)?;
    super::refuse_if_inconsistent(&before, &store.dir, false)?;
    let m = manifest_of(&before, &store.dir)?;
    let desired = users::desired(&m.spec, &listed, cfg.user_auth);
    let mut want = m.spec.clone();
    want.users = desired.clone();
    want.validate().map_err(|e| {
        Error::input(
            format!(
                "`{}`: {}; nothing was changed",
                path.display(),
                e.join("; ")
            ),
            "fix the users in the config file",
        )
    })?;
    let changes = users::plan(&m.spec, &desired).map_err(|e| {
        Error::input(
            format!("{e}; nothing was changed"),
            "a role or login change is a removal and an addition",
        )
    })?;
    let planned: Vec<Planned> = changes
        .iter()
        .map(|c| Planned {
            action: c.verb(),
            user: c.user().to_string(),
        })
        .collect();
    if args.plan {
        out.report(&Plan {
            action: "apply-plan",
            dir: &store.dir,
            generation: &m.generation,
            changes: &planned,
        });
        return Ok(if changes.is_empty() {
            ExitStatus::Success
        } else {
            ExitStatus::Pending
        });
    }
    let nodes = live::nodes(target.reload, &target.redis, &m)?;
    if changes.is_empty() {
        out.report(&Plan {
            action: "apply",
            dir: &store.dir,
            generation: &m.generation,
            changes: &planned,
        });
        return Ok(ExitStatus::Success);
    }
    let (templates, _) = super::templates_for(target.templates.templates.as_deref(), &m.spec)?;
    let ca_key = if changes.iter().any(|c| matches!(c, Change::Add(_))) {
        Some(
            super::unlock_ca_key(
                &before,
                &m,
                key.as_ref(),
                &store.dir,
                "issuing the certificates of new users",
                Slot::Current,
            )?
            .0,
        )
    } else {
        None
    };
    let now = time::OffsetDateTime::now_utc();
    let gen_id = store::new_generation_id(now);
    let (mut files, mut manifest) = (before.clone(), m.clone());
    let mut sentinel_changes = Vec::new();
    let mut revoked = Vec::new();
    for c in &changes {
        let o = users::apply(
            &users::Request {
                templates: &templates,
                files: &files,
                manifest: &manifest,
                now,
                generation: &gen_id,
                ca_key: ca_key.as_ref(),
            },
            c,
        )
        .map_err(|e| user_error(e, c))?;
        files = o.files;
        manifest = manifest_of(&files, &store.dir)?;
        sentinel_changes.extend(o.sentinel);
        revoked.extend(o.revoked);
    }
    drop(ca_key);
    let mut entry = super::audit_entry("apply", &gen_id, &files);
    entry["config"] = json!(path);
    entry["changes"] = json!(planned);
    entry["nodes"] = json!(nodes);
    if !revoked.is_empty() {
        entry["revoked"] = json!(revoked);
    }
    let generation = store.commit(&files, &gen_id, &entry)?;

    // Live: every node converged to the new users.acl, then the connections of users
    // disabled now closed; the Sentinels' ACL change by change.
    let acl = files.text(crate::core::bundle::USERS_ACL).unwrap_or("");
    let creds = live::admin_creds(&files, &manifest, &[])?;
    let disabled: Vec<String> = changes
        .iter()
        .filter(|c| matches!(c, Change::Disable(_)))
        .map(|c| manifest.spec.acl_name_of(c.user()).to_string())
        .collect();
    let mut results: Vec<NodeState> = nodes
        .iter()
        .map(|n| {
            let r = live::converge(n, &creds, acl, &disabled).map(|changed| {
                if changed.is_empty() {
                    Pushed::InSync
                } else {
                    Pushed::Updated
                }
            });
            NodeState::of(n, false, r)
        })
        .collect();
    if target.reload {
        for s in manifest
            .spec
            .instances()
            .into_iter()
            .filter(|i| i.kind == crate::core::topology::InstanceKind::Sentinel)
        {
            for c in &sentinel_changes {
                results.push(push(&s.address, Some(&creds), c, true));
            }
        }
    }
    out.report(&Applied {
        action: "apply",
        dir: &store.dir,
        generation: &gen_id,
        changes: &planned,
        nodes: &results,
        generation_dir: &generation,
    });
    nodes_failed(&results)
}

/// One change of a plan, as `apply` prints it.
#[derive(serde::Serialize)]
struct Planned {
    action: &'static str,
    user: String,
}

/// `apply --plan` (or `apply` with nothing to do).
#[derive(serde::Serialize)]
struct Plan<'a> {
    action: &'static str,
    dir: &'a Path,
    generation: &'a str,
    changes: &'a [Planned],
}

impl Report for Plan<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        if self.changes.is_empty() {
            return writeln!(
                w,
                "In sync: the users of {} are what the config file says.",
                self.dir.display()
            );
        }
        writeln!(
            w,
            "{} change(s) for {} (nothing was changed):",
            self.changes.len(),
            self.dir.display()
        )?;
        write_changes(w, self.changes)
    }
}

fn write_changes(w: &mut String, changes: &[Planned]) -> std::fmt::Result {
    for c in changes {
        writeln!(w, "  {:<8} {}", c.action, c.user)?;
    }
    Ok(())
}

/// What `apply` did.
#[derive(serde::Serialize)]
struct Applied<'a> {
    action: &'static str,
    dir: &'a Path,
    generation: &'a str,
    changes: &'a [Planned],
    nodes: &'a [NodeState],
    #[serde(skip)]
    generation_dir: &'a str,
}

impl Report for Applied<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        writeln!(
            w,
            "Applied {} change(s) to {} (generation {}):",
            self.changes.len(),
            self.dir.display(),
            self.generation_dir
        )?;
        write_changes(w, self.changes)?;
        write_nodes(w, self.nodes)
    }
}
