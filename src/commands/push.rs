//! `provision push`: converge live nodes to the bundle on disk. Users: every users.acl line
//! set where a node differs, users the file does not name deleted (`live::converge`).
//! Certificates: reloaded where a node serves an older one and the server can (`live::reload_nodes`).
//! With `--reload`, each Sentinel's own ACL (the `user` lines of its config) is converged too.
//! Nothing on disk changes.

use crate::cli::PushArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::live;
use crate::output::{Output, Report};
use crate::store::Store;
use std::fmt::Write;
use std::path::Path;

/// One node's state after the push.
#[derive(serde::Serialize)]
struct Node {
    node: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sentinel: bool,
    /// `in_sync`, `updated`, `unreachable` or `failed`.
    state: &'static str,
    /// Users set or deleted on the node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users_changed: Vec<String>,
    /// Whether the node now serves the bundle's certificate after a reload.
    certificate_reloaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: &PushArgs, out: Output) -> Result<ExitStatus> {
    let store = Store::open_readonly(args.bundle.path())?;
    let files = store.read_generation(None)?;
    // A tampered bundle is not pushed to a fleet.
    super::refuse_if_inconsistent(&files, &store.dir, false)?;
    let m = super::manifest_of(&files, &store.dir)?;
    let nodes = live::nodes(args.reload, &args.redis, &m)?;
    let acl = files.text(crate::core::bundle::USERS_ACL).unwrap_or("");
    let creds = live::admin_creds(&files, &m, &[])?;
    // The Sentinels (with --reload), each with the ACL its config in the bundle holds.
    let sentinels: Vec<(String, String)> = if args.reload {
        m.spec
            .instances()
            .into_iter()
            .filter(|i| i.kind == crate::core::topology::InstanceKind::Sentinel)
            .map(|i| {
                let acl: String = files
                    .text(&i.conf)
                    .unwrap_or("")
                    .lines()
                    .filter(|l| l.starts_with("user "))
                    .map(|l| format!("{l}\n"))
                    .collect();
                (i.address, acl)
            })
            .collect()
    } else {
        vec![]
    };
    let targets = nodes
        .iter()
        .map(|n| (n, acl, false))
        .chain(sentinels.iter().map(|(n, a)| (n, a.as_str(), true)));
    let mut results = Vec::new();
    for (n, acl, sentinel) in targets {
        let (state, users_changed, error) = match live::converge(n, &creds, acl, &[]) {
            Ok(changed) if changed.is_empty() => ("in_sync", changed, None),
            Ok(changed) => ("updated", changed, None),
            Err(e) if e.is_unreachable() => ("unreachable", vec![], Some(e.to_string())),
            Err(e) => ("failed", vec![], Some(e.to_string())),
        };
        results.push(Node {
            node: n.clone(),
            sentinel,
            state,
            users_changed,
            certificate_reloaded: false,
            error,
        });
    }
    // Certificates, on the nodes that answered, where the server can reload them.
    let reachable: Vec<String> = results
        .iter()
        .filter(|r| r.error.is_none() && !r.sentinel)
        .map(|r| r.node.clone())
        .collect();
    let certs = live::reload_nodes(&reachable, &files, &files, &m);
    match certs {
        Ok(certs) => {
            for c in certs {
                let r = results
                    .iter_mut()
                    .find(|r| r.node == c.node)
                    .expect("reloaded a pushed node");
                if !c.ok {
                    r.state = "failed";
                    r.error = c.error;
                } else if c.presented_serial.is_some() {
                    r.state = "updated";
                    r.certificate_reloaded = true;
                }
            }
        }
        // A bundle whose nodes cannot hot-reload (CONFIG disabled): users only.
        Err(e) => eprintln!("note: certificates not pushed: {e}"),
    }
    out.report(&Pushed {
        action: "push",
        dir: &store.dir,
        generation: &m.generation,
        nodes: &results,
    });
    let bad: Vec<String> = results
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| format!("{} ({})", r.node, r.state))
        .collect();
    if !bad.is_empty() {
        return Err(Error::failed(
            format!("{} node(s) are not in line with the bundle: {}", bad.len(), bad.join(", ")),
            Some("bring the node back and run `provision push` again; a node restarted from the bundle reads the same users".into()),
        ));
    }
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Pushed<'a> {
    action: &'static str,
    dir: &'a Path,
    generation: &'a str,
    nodes: &'a [Node],
}

impl Report for Pushed<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        writeln!(
            w,
            "Pushed generation {} of {}:",
            self.generation,
            self.dir.display()
        )?;
        for n in self.nodes {
            let state = n.state.replace('_', " ");
            write!(w, "  {state:<11} {}", n.node)?;
            if n.sentinel {
                write!(w, " (Sentinel)")?;
            }
            if !n.users_changed.is_empty() {
                write!(w, "  users: {}", n.users_changed.join(", "))?;
            }
            if n.certificate_reloaded {
                write!(w, "  certificate reloaded")?;
            }
            if let Some(e) = &n.error {
                write!(w, ": {e}")?;
            }
            writeln!(w)?;
        }
        Ok(())
    }
}
