//! `provision renew`: re-issue what is due, as one new generation; optionally hot-reload.

use super::manifest_of;
use crate::cli::RenewArgs;
use crate::core::renewal;
use crate::error::{Error, ExitStatus, Result};
use crate::live::{node_failures, nodes, reload_nodes, NodeResult};
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;
use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

pub fn run(args: &RenewArgs, out: Output) -> Result<ExitStatus> {
    let started = Instant::now();
    let store = Store::open(args.bundle.path())?;
    // What opens a protected CA key, read before the lock (a terminal prompt must not hold it);
    // used only if something is due.
    let key = super::key_from_args(&args.unlock)?;
    let _lock = store.lock(args.lock.timeout())?;
    store.cleanup();
    let before = store.read_generation(None)?;
    let accepted = super::refuse_if_inconsistent(&before, &store.dir, args.accept_local_changes)?;
    let m = manifest_of(&before, &store.dir)?;
    let nodes = nodes(args.reload, &args.redis, &m)?;
    if key.is_some() && m.spec.ca_key.is_none() {
        return Err(Error::input(
            format!(
                "the CA key of `{}` is not protected (plaintext ca.key): --identity and --passphrase are for a bundle made with `init --protect-ca-key`",
                store.dir.display()
            ),
            "drop --identity / --passphrase-file / --passphrase",
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let request = renewal::Request {
        within: args.within,
        force: args.force,
        ca: match (args.rollover_ca, args.finish) {
            (true, true) => renewal::CaRequest::Finish,
            (true, false) => renewal::CaRequest::Start,
            _ => renewal::CaRequest::Auto,
        },
        overlap: args.overlap.unwrap_or(renewal::DEFAULT_OVERLAP),
        retire_old_cas: args.retire_old_ca,
    };
    let plan = renewal::plan(&before, &m, now, &request).map_err(plan_error)?;

    // An accepted hand edit is recorded (and signed) in a new generation even when nothing
    // is due.
    if args.dry_run || (plan.is_empty() && accepted.is_empty()) {
        let results = if args.dry_run {
            vec![]
        } else {
            reload_nodes(&nodes, &before, &before, &m)?
        };
        out.report(&Unchanged {
            action: "renew",
            dir: &store.dir,
            dry_run: args.dry_run,
            changed: false,
            due: &plan,
            ca_rollover_in_progress: m.ca_rollover.as_ref(),
            nodes: &results,
        });
        node_failures(&results, "nothing was due")?;
        return Ok(ExitStatus::Success);
    }

    // Only a plan that signs needs the CA key: dropping an old CA from ca.crt does not.
    let (ca_key, sealer) = if plan.needs_ca_key() {
        let (k, s) = super::unlock_ca_key(
            &before,
            &m,
            key.as_ref(),
            &store.dir,
            &due_list(&plan),
            plan.signing_slot(),
        )?;
        (Some(k), s)
    } else {
        (None, crate::core::cakey::Sealer::Plain)
    };
    let gen_id = store::new_generation_id(now);
    let apply = renewal::Apply {
        now,
        generation: &gen_id,
        reuse_key: args.reuse_key,
        ca_key: ca_key.as_ref(),
        sealer: &sealer,
    };
    let (files, renewed) = renewal::apply(&before, &m, &plan, &apply)
        .map_err(|e| Error::failed(format!("renewing: {e}"), None))?;
    drop(ca_key);
    let mut entry = super::audit_entry("renew", &gen_id, &files);
    entry["renewed"] = json!(renewed);
    entry["dropped_cas"] = json!(plan.drop_cas);
    if !accepted.is_empty() {
        entry["accepted_local_changes"] = json!(accepted);
    }
    let generation = store.commit(&files, &gen_id, &entry)?;
    let results = reload_nodes(&nodes, &before, &files, &m)?;

    out.report(&Renewed {
        action: "renew",
        dir: &store.dir,
        dry_run: false,
        changed: true,
        generation: &gen_id,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        renewed: &renewed,
        ca_rollover: plan.ca_step,
        finish_after: plan.finish_after.as_deref(),
        dropped_cas: &plan.drop_cas,
        nodes: &results,
        generation_dir: &generation,
        live: !nodes.is_empty(),
    });
    node_failures(&results, "certificates were renewed")?;
    Ok(ExitStatus::Success)
}

/// A plan that cannot be made: bad input (exit 2) unless the bundle cannot be read.
fn plan_error(e: renewal::PlanError) -> Error {
    use renewal::PlanError as P;
    let hint = match &e {
        P::Bundle(_) => {
            return Error::failed(
                format!("reading the bundle: {e}"),
                Some("run `provision check` to see what is wrong".into()),
            )
        }
        P::NoRollover => "start one with `provision renew --rollover-ca`",
        P::InProgress { .. } => {
            "finish it with `provision renew --rollover-ca --finish` once its overlap has passed"
        }
        P::TooEarly { .. } => {
            "ship ca.crt to every client and run this again after the overlap (`provision check` shows how long is left)"
        }
        P::NothingToRetire(_) => "drop --retire-old-ca",
    };
    Error::input(format!("{e}; nothing was changed"), hint)
}

/// "renewing redis.crt, app.crt" / "rolling the CA over": what needs the CA key.
fn due_list(p: &renewal::Plan) -> String {
    if let Some(d) = &p.ca {
        let what = match p.ca_step {
            Some(renewal::CaStep::Finish) => "finishing the CA rollover",
            _ => "publishing a new CA",
        };
        return format!("{what} ({})", d.reason);
    }
    format!(
        "renewing {} ({})",
        p.leaves
            .iter()
            .map(|d| d.file.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        p.leaves.first().map_or("", |d| d.reason.as_str())
    )
}

fn short(serial: &str) -> &str {
    super::short_serial(serial)
}

fn write_plan(w: &mut String, p: &renewal::Plan) -> std::fmt::Result {
    if let Some(ca) = &p.ca {
        let step = match p.ca_step {
            Some(renewal::CaStep::Finish) => "finish the CA rollover",
            _ => "publish a new CA",
        };
        writeln!(w, "  {:<20} {step}: {}", ca.file, ca.reason)?;
    }
    for d in &p.leaves {
        writeln!(w, "  {:<20} {}", d.file, d.reason)?;
    }
    for c in &p.drop_cas {
        writeln!(w, "  ca.crt               drop old CA {}", short(c))?;
    }
    Ok(())
}

/// `renew` that changed nothing: a dry run, or nothing due.
#[derive(serde::Serialize)]
struct Unchanged<'a> {
    action: &'static str,
    dir: &'a Path,
    dry_run: bool,
    changed: bool,
    due: &'a renewal::Plan,
    ca_rollover_in_progress: Option<&'a crate::core::bundle::CaRollover>,
    nodes: &'a [NodeResult],
}

impl Report for Unchanged<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        if self.due.is_empty() {
            writeln!(w, "Nothing to renew in {}: every certificate has more than its renewal threshold left.", self.dir.display())?;
            if let Some(r) = self.ca_rollover_in_progress {
                writeln!(w, "  CA rollover in its overlap: certificates move to the new CA from {} (`provision renew --rollover-ca --finish`).", r.finish_after)?;
            }
        } else {
            writeln!(
                w,
                "Would renew in {} (dry run, nothing changed):",
                self.dir.display()
            )?;
            write_plan(w, self.due)?;
        }
        super::write_nodes(w, self.nodes)
    }
}

/// `renew` that made a new generation.
#[derive(serde::Serialize)]
struct Renewed<'a> {
    action: &'static str,
    dir: &'a Path,
    dry_run: bool,
    changed: bool,
    generation: &'a str,
    elapsed_ms: f64,
    renewed: &'a [renewal::Renewed],
    ca_rollover: Option<renewal::CaStep>,
    finish_after: Option<&'a str>,
    dropped_cas: &'a [String],
    nodes: &'a [NodeResult],
    #[serde(skip)]
    generation_dir: &'a str,
    /// Whether nodes were named (--reload / --redis).
    #[serde(skip)]
    live: bool,
}

impl Report for Renewed<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        writeln!(
            w,
            "Renewed in {} (generation {}):",
            self.dir.display(),
            self.generation_dir
        )?;
        for r in self.renewed {
            writeln!(
                w,
                "  {:<20} serial {} -> {}, expires {}",
                r.file,
                short(&r.old_serial),
                short(&r.new_serial),
                &r.not_after[..10]
            )?;
        }
        match self.ca_rollover {
            Some(renewal::CaStep::Publish) => {
                writeln!(
                    w,
                    "  New CA published in ca.crt beside the old one; every certificate stays on the old CA until {}.",
                    self.finish_after.unwrap_or("the overlap ends")
                )?;
                writeln!(w, "  Ship the new ca.crt to every client now, then finish with `provision renew --rollover-ca --finish` (a renew timer finishes it once the overlap has passed).")?;
            }
            Some(renewal::CaStep::Finish) => {
                writeln!(w, "  CA rollover finished: every certificate is now from the new CA. ca.crt keeps the old CA until what it issued has expired, so old client certificates keep authenticating (`provision renew --retire-old-ca` drops it sooner).")?;
            }
            None => {}
        }
        if !self.dropped_cas.is_empty() {
            writeln!(
                w,
                "  dropped {} old CA(s) from ca.crt: nothing they issued is valid any more",
                self.dropped_cas.len()
            )?;
        }
        super::write_nodes(w, self.nodes)?;
        if !self.live {
            writeln!(w, "  Redis still serves the old certificate until reloaded: run with --reload (or --redis HOST:PORT), or restart it.")?;
        }
        Ok(())
    }
}
