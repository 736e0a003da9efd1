//! `provision export --format k8s` (`backup --format k8s`): the current generation as
//! Kubernetes Secret manifests, written like any secret: a new 0600 file (replaced only with
//! --force, in one rename), or stdout when it is not a terminal.

use super::open_bundle;
use crate::cli::BackupArgs;
use crate::core::k8s;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Report};
use std::path::PathBuf;

pub fn run(args: &BackupArgs, out: Output) -> Result<ExitStatus> {
    let age_only = [
        (!args.recipients.is_empty(), "--recipient"),
        (args.recipients_file.is_some(), "--recipients-file"),
        (args.passphrase, "--passphrase"),
        (args.passphrase_file.is_some(), "--passphrase-file"),
        (args.armor, "--armor"),
        (args.remember, "--remember"),
    ];
    if let Some((_, flag)) = age_only.iter().find(|(set, _)| *set) {
        return Err(Error::input(
            format!("{flag} is for age archives, not --format k8s"),
            "drop it; the Secrets are plain base64 (encrypt them at rest in the cluster, e.g. with an EncryptionConfiguration)",
        ));
    }
    if let Some(flag) = args.cert_manager.first_given() {
        return Err(Error::input(
            format!("{flag} is for --format cert-manager"),
            "drop it, or use --format cert-manager",
        ));
    }
    let dest = super::destination(args.output.as_deref(), args.force)?;
    let opts = k8s::Options {
        prefix: args.name.clone().unwrap_or_else(|| "redis".into()),
        namespace: args.namespace.clone(),
    };
    // Names first: bad input is reported before the bundle is read.
    super::check_names(&opts)?;

    let (dir, files, m) = open_bundle(args.bundle.path())?;
    super::standalone_only(&m, &dir)?;
    // A tampered or inconsistent bundle is not shipped into a cluster.
    super::refuse_if_inconsistent(&files, &dir, false)?;
    super::warn_mount(&m, &dir);
    let text = k8s::secrets(&files, &m, &opts).map_err(super::export_error)?;
    let count = super::count(&text);
    super::write(dest.as_ref(), &text, args.force)?;
    let ns = opts
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    let r = Exported {
        action: "export",
        format: "k8s",
        dir,
        output: dest,
        generation: m.generation,
        secrets: count,
        namespace: opts.namespace,
        prefix: opts.prefix,
        ns,
    };
    super::report(out, &r, r.output.as_ref());
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Exported {
    action: &'static str,
    format: &'static str,
    dir: PathBuf,
    /// None: the Secrets went to stdout.
    output: Option<PathBuf>,
    generation: String,
    secrets: usize,
    namespace: Option<String>,
    #[serde(skip)]
    prefix: String,
    /// ` -n NAMESPACE` for the kubectl line, or nothing.
    #[serde(skip)]
    ns: String,
}

impl Report for Exported {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        writeln!(
            w,
            "Wrote {count} Kubernetes Secrets ({p}-tls, {p}-ca, {p}-config, {p}-user-*) of generation {} to {}.",
            self.generation,
            super::shown(self.output.as_ref()),
            count = self.secrets,
            p = self.prefix,
        )?;
        if let Some(p) = &self.output {
            writeln!(
                w,
                "Apply: kubectl apply{} -f {}  (then delete the file)",
                self.ns,
                p.display()
            )?;
        }
        Ok(())
    }
}
