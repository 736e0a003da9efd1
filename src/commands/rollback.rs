//! `provision rollback`: make the previous generation current again (all or nothing).

use super::manifest_of;
use crate::cli::RollbackArgs;
use crate::error::{ExitStatus, Result};
use crate::live::{node_failures, nodes, reload_nodes, NodeResult};
use crate::output::{Output, Report};
use crate::store::Store;
use serde_json::json;

pub fn run(args: &RollbackArgs, out: Output) -> Result<ExitStatus> {
    let store = Store::open(args.bundle.path())?;
    let _lock = store.lock(args.lock.timeout())?;
    store.cleanup();
    let before = store.read_generation(None)?;
    let from = store.current_generation().unwrap_or_default();
    // The generation rolled back to must pass the same audit as any other: a tampered
    // previous generation is not made current.
    if let Some(prev) = store.previous_generation() {
        let target = store.read_generation(Some(&prev))?;
        super::refuse_if_inconsistent(&target, &store.dir, false)?;
        super::refuse_revoked(
            &before,
            &target,
            args.allow_revoked,
            &format!("the previous generation {prev}"),
        )?;
    }
    let (to, now) = store.rollback(|to, now| {
        let mut entry = super::audit_entry("rollback", to.trim_start_matches("..gen-"), now);
        entry["from_generation"] = json!(from);
        entry
    })?;
    let m = manifest_of(&now, &store.dir)?;
    let results = reload_nodes(&nodes(args.reload, &args.redis, &m)?, &before, &now, &m)?;
    out.report(&RolledBack {
        action: "rollback",
        dir: &store.dir,
        from: &from,
        to: &to,
        nodes: &results,
    });
    node_failures(&results, "the rollback is complete")?;
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct RolledBack<'a> {
    action: &'static str,
    dir: &'a std::path::Path,
    from: &'a str,
    to: &'a str,
    nodes: &'a [NodeResult],
}

impl Report for RolledBack<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        writeln!(
            w,
            "Rolled {} back from {} to {}.",
            self.dir.display(),
            self.from,
            self.to
        )?;
        super::write_nodes(w, self.nodes)
    }
}
