//! Where Kubernetes manifests go (`export --format k8s|cert-manager`): a new 0600 file
//! (replaced only with --force, in one rename), or stdout when it is not a terminal. They
//! hold private keys and passwords, so a terminal never sees them.

use crate::core::bundle::MODE_SECRET;
use crate::core::k8s;
use crate::core::secret::Secret;
use crate::error::{Error, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Checks `-o` before anything is read: None = stdout.
pub fn destination(output: Option<&str>, force: bool) -> Result<Option<PathBuf>> {
    let Some(output) = output else {
        return Err(Error::input(
            "nowhere to write the manifests",
            "pass -o FILE (created 0600), or `-o -` to pipe them to `kubectl apply -f -`",
        ));
    };
    if output != "-" {
        return Ok(Some(PathBuf::from(output)));
    }
    if std::io::stdout().is_terminal() {
        return Err(Error::input(
            "refusing to print private keys and passwords to a terminal",
            "redirect stdout (`-o - | kubectl apply -f -`), or pass -o FILE",
        ));
    }
    if force {
        return Err(Error::input_only("--force needs -o FILE"));
    }
    Ok(None)
}

/// Writes `text` to `dest` (None: stdout).
pub fn write(dest: Option<&PathBuf>, text: &Secret, force: bool) -> Result<()> {
    match dest {
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(text.expose())
                .and_then(|_| so.flush())
                .map_err(|e| Error::io("writing", "stdout", e))
        }
        Some(path) => crate::io::write::write_file(path, MODE_SECRET, text.expose(), force)
            .map_err(|e| match e {
                Error::Input { msg, .. } if msg.ends_with("already exists") => Error::input(
                    msg,
                    "pass --force to replace it (after `provision renew` or `rotate`), or choose another -o FILE",
                ),
                e => e,
            }),
    }
}

/// The export's names, checked with a hint each.
pub fn check_names(opts: &k8s::Options) -> Result<()> {
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
    Ok(())
}

/// An export error as the CLI reports it.
pub fn export_error(e: k8s::K8sError) -> Error {
    match e {
        k8s::K8sError::Missing(_) => Error::failed(
            e.to_string(),
            Some("the bundle is incomplete: run `provision check` on it".into()),
        ),
        k8s::K8sError::NeedsNamespace => Error::input(
            e.to_string(),
            "pass --namespace NS, the namespace the StatefulSet runs in",
        ),
        k8s::K8sError::TooShort(_) => Error::input(
            e.to_string(),
            "re-create the bundle with --validity 1h or more",
        ),
        _ => Error::input(
            e.to_string(),
            "rename the user in the bundle's config file, or use another --name",
        ),
    }
}

/// The summary of an export: beside the data (on stderr) when the manifests went to stdout.
pub fn report(out: crate::output::Output, r: &impl crate::output::Report, dest: Option<&PathBuf>) {
    if dest.is_none() {
        out.report_beside_data(r);
    } else {
        out.report(r);
    }
}

/// Where the manifests went, as a summary names it.
pub fn shown(dest: Option<&PathBuf>) -> String {
    dest.map(|p| format!("{} (0600)", p.display()))
        .unwrap_or_else(|| "stdout".into())
}

/// The number of documents in a stream.
pub fn count(text: &Secret) -> usize {
    text.expose_str().lines().filter(|l| *l == "---").count()
}

/// Warns when the bundle's configs cannot work in a pod: made without --mount-dir (they name
/// host paths) or binding only loopback.
pub fn warn_mount(m: &crate::core::bundle::Manifest, dir: &std::path::Path) {
    let crt = m
        .spec
        .instances()
        .first()
        .map(|i| i.crt.clone())
        .unwrap_or_default();
    match &m.spec.mount_dir {
        None => eprintln!(
            "warning: the bundle in `{}` was made without --mount-dir, so its configs name host paths ({}/{crt}, ...) that do not exist in a pod; re-create it with the directory the StatefulSet mounts the Secrets at: `provision init --dir {} --mount-dir /etc/redis/tls --bind 0.0.0.0 --force`",
            dir.display(),
            dir.display(),
            crate::io::bundle::shell_quote(&dir.to_string_lossy())
        ),
        Some(_) if m.spec.bind.iter().all(|b| {
            let b = b.trim_start_matches('-');
            b.starts_with("127.") || b == "::1"
        }) => eprintln!(
            "warning: the configs bind only loopback ({}); other pods cannot connect. Re-create the bundle with --bind 0.0.0.0",
            m.spec.bind.join(" ")
        ),
        Some(_) => {}
    }
}
