//! `provision export --format k8s` (`backup --format k8s`): the current generation as
//! Kubernetes Secret manifests, written like any secret: a new 0600 file (replaced only with
//! --force, in one rename), or stdout when it is not a terminal.

use super::{open_bundle, shell_quote};
use crate::cli::BackupArgs;
use crate::core::bundle::MODE_SECRET;
use crate::core::k8s;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Report};
use std::io::{IsTerminal, Write};
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
    let Some(output) = args.output.as_deref() else {
        return Err(Error::input(
            "nowhere to write the Secrets",
            "pass -o FILE (created 0600), or `-o -` to pipe them to `kubectl apply -f -`",
        ));
    };
    let to_stdout = output == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Error::input(
            "refusing to print private keys and passwords to a terminal",
            "redirect stdout (`-o - | kubectl apply -f -`), or pass -o FILE",
        ));
    }
    if to_stdout && args.force {
        return Err(Error::input_only("--force needs -o FILE"));
    }
    let opts = k8s::Options {
        prefix: args.name.clone().unwrap_or_else(|| "redis".into()),
        namespace: args.namespace.clone(),
    };
    // Names first: bad input is reported before the bundle is read.
    k8s::dns_label("--name", &opts.prefix, 40)
        .map_err(|e| Error::input(e, "for example --name redis or --name cache-redis"))?;
    if let Some(ns) = &opts.namespace {
        k8s::dns_label("--namespace", ns, 63).map_err(|e| {
            Error::input(
                e,
                "pass an existing namespace, for example --namespace cache",
            )
        })?;
    }

    let (dir, files, m) = open_bundle(args.bundle.path())?;
    super::standalone_only(&m, &dir)?;
    // A tampered or inconsistent bundle is not shipped into a cluster.
    super::refuse_if_inconsistent(&files, &dir, false)?;
    match &m.spec.mount_dir {
        None => eprintln!(
            "warning: the bundle in `{}` was made without --mount-dir, so its redis.conf names host paths ({}/redis.crt, ...) that do not exist in a pod; re-create it with the directory the StatefulSet mounts the Secrets at: `provision init --dir {} --mount-dir /etc/redis/tls --bind 0.0.0.0 --force`",
            dir.display(),
            dir.display(),
            shell_quote(&dir.to_string_lossy())
        ),
        Some(_) if m.spec.bind.iter().all(|b| {
            let b = b.trim_start_matches('-');
            b.starts_with("127.") || b == "::1"
        }) => eprintln!(
            "warning: redis.conf binds only loopback ({}); other pods cannot connect. Re-create the bundle with --bind 0.0.0.0",
            m.spec.bind.join(" ")
        ),
        Some(_) => {}
    }
    let text = k8s::secrets(&files, &m, &opts).map_err(|e| match e {
        k8s::K8sError::Missing(_) => Error::failed(
            e.to_string(),
            Some("the bundle is incomplete: run `provision check` on it".into()),
        ),
        _ => Error::input(
            e.to_string(),
            "rename the user in the bundle's config file, or use another --name",
        ),
    })?;
    let count = text.expose_str().matches("\n---\n").count() + 1;

    let written = if to_stdout {
        let mut so = std::io::stdout().lock();
        so.write_all(text.expose())
            .and_then(|_| so.flush())
            .map_err(|e| Error::io("writing", "stdout", e))?;
        None
    } else {
        let path = PathBuf::from(output);
        crate::io::write::write_file(&path, MODE_SECRET, text.expose(), args.force).map_err(|e| match e {
            Error::Input { msg, .. } if msg.ends_with("already exists") => Error::input(
                msg,
                "pass --force to replace it (after `provision renew` or `rotate`), or choose another -o FILE",
            ),
            e => e,
        })?;
        Some(path)
    };
    let ns = opts
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    let to_stdout = written.is_none();
    let r = Exported {
        action: "export",
        format: "k8s",
        dir,
        output: written,
        generation: m.generation,
        secrets: count,
        namespace: opts.namespace,
        prefix: opts.prefix,
        ns,
    };
    if to_stdout {
        out.report_beside_data(&r);
    } else {
        out.report(&r);
    }
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
            self.output
                .as_ref()
                .map(|p| format!("{} (0600)", p.display()))
                .unwrap_or_else(|| "stdout".into()),
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
