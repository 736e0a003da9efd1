//! `provision rollback`: make the previous generation current again (all or nothing).

use super::manifest_of;
use crate::cli::RollbackArgs;
use crate::error::{ExitStatus, Result};
use crate::live::{node_failures, nodes, reload_nodes};
use crate::output::Output;
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
    }
    let (to, now) = store.rollback(|to, now| {
        let mut entry = super::audit_entry("rollback", to.trim_start_matches("..gen-"), now);
        entry["from_generation"] = json!(from);
        entry
    })?;
    let m = manifest_of(&now, &store.dir)?;
    let results = reload_nodes(&nodes(args.reload, &args.redis, &m)?, &before, &now, &m)?;
    if out.json {
        out.print_json(&json!({"action": "rollback", "dir": store.dir, "from": from, "to": to, "nodes": results}));
    } else if !out.quiet {
        crate::outln!("Rolled {} back from {from} to {to}.", store.dir.display());
        super::print_nodes(&results);
    }
    node_failures(&results, "the rollback is complete")?;
    Ok(ExitStatus::Success)
}
