//! `provision export --format cert-manager`: the current generation split for a cluster
//! where cert-manager issues the leaf certificates: the CA as a cert-manager CA issuer, a
//! Certificate per Redis/Sentinel process and per ACL user, a trust-manager Bundle with
//! `ca.crt`, and the Secrets provision keeps owning (configs, passwords). Written like any
//! secret: a new 0600 file (replaced only with --force), or stdout when it is not a terminal.

use super::open_bundle;
use crate::cli::{BackupArgs, UnlockArgs};
use crate::core::bundle;
use crate::core::cakey::Slot;
use crate::core::certmanager::{self, CmOptions};
use crate::core::k8s;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Report};
use std::path::PathBuf;

pub fn run(args: &BackupArgs, out: Output) -> Result<ExitStatus> {
    let age_only = [
        (!args.recipients.is_empty(), "--recipient"),
        (args.recipients_file.is_some(), "--recipients-file"),
        (args.armor, "--armor"),
        (args.remember, "--remember"),
    ];
    if let Some((_, flag)) = age_only.iter().find(|(set, _)| *set) {
        return Err(Error::input(
            format!("{flag} is for age archives, not --format cert-manager"),
            "drop it; the manifests are plain base64 (encrypt Secrets at rest in the cluster, e.g. with an EncryptionConfiguration)",
        ));
    }
    let dest = super::destination(args.output.as_deref(), args.force)?;
    let cm = &args.cert_manager;
    let opts = CmOptions {
        k8s: k8s::Options {
            prefix: args.name.clone().unwrap_or_else(|| "redis".into()),
            namespace: args.namespace.clone(),
        },
        cluster_issuer: cm.cluster_issuer,
        cluster_resource_namespace: cm
            .cluster_resource_namespace
            .clone()
            .unwrap_or_else(|| certmanager::CLUSTER_RESOURCE_NAMESPACE.into()),
        cluster_domain: cm
            .cluster_domain
            .clone()
            .unwrap_or_else(|| certmanager::CLUSTER_DOMAIN.into()),
        client_namespaces: cm.client_namespaces.clone(),
    };
    // Names first: bad input is reported before the bundle is read.
    super::check_names(&opts.k8s)?;
    certmanager::check_options(&opts).map_err(super::export_error)?;

    let (dir, files, m) = open_bundle(args.bundle.path())?;
    // A tampered or inconsistent bundle is not shipped into a cluster.
    super::refuse_if_inconsistent(&files, &dir, false)?;
    super::warn_mount(&m, &dir);
    let p = &opts.k8s.prefix;
    let protected = m.spec.ca_key.is_some();
    if protected && !cm.include_ca_key {
        return Err(Error::input(
            format!(
                "the CA key of `{}` is protected (ca.key.age); cert-manager signs with it only if the export puts it, decrypted, into the Secret {p}-ca-key, where it leaves that protection",
                dir.display()
            ),
            format!(
                "to hand signing to cert-manager, pass --include-ca-key and {}; otherwise keep issuing with `provision renew` and `--format k8s`",
                super::unlock_flag(m.spec.ca_key.as_ref())
            ),
        ));
    }
    let ca_key = if protected {
        let unlock = UnlockArgs {
            identity: cm.identity.clone(),
            passphrase_file: args.passphrase_file.clone(),
            passphrase: args.passphrase,
        };
        let key = super::key_from_args(&unlock)?;
        super::unlock_ca_key(
            &files,
            &m,
            key.as_ref(),
            &dir,
            &format!("putting the CA key into the Secret {p}-ca-key"),
            Slot::Current,
        )?
        .0
    } else {
        if args.passphrase || args.passphrase_file.is_some() || !cm.identity.is_empty() {
            return Err(Error::input(
                "--identity, --passphrase and --passphrase-file open a protected ca.key.age, and this bundle's CA key is not protected",
                "drop them",
            ));
        }
        files
            .get(bundle::CA_KEY)
            .map(|f| f.data.clone())
            .ok_or_else(|| {
                Error::failed(
                    "the bundle has no ca.key",
                    Some("run `provision check` on it".into()),
                )
            })?
    };
    let text = certmanager::objects(&files, &m, &ca_key, &opts).map_err(super::export_error)?;
    let count = super::count(&text);
    super::write(dest.as_ref(), &text, args.force)?;
    eprintln!(
        "note: the Secret {p}-ca-key holds the CA's private key{}: anyone who can read it can issue certificates every node and client trusts; limit `get secrets` in its namespace to cert-manager",
        if protected { ", decrypted from ca.key.age" } else { "" }
    );
    // How nodes pick up what cert-manager renews: by themselves, or through the sidecar.
    let reload = if m.spec.target().caps().tls_auto_reload {
        Reload::TlsAutoReloadInterval
    } else {
        Reload::Sidecar
    };
    let r = Exported {
        reload,
        action: "export",
        format: "cert-manager",
        dir,
        output: dest,
        generation: m.generation,
        objects: count,
        namespace: opts.k8s.namespace.clone().unwrap_or_default(),
        issuer: format!(
            "{} {p}-ca",
            if opts.cluster_issuer {
                "ClusterIssuer"
            } else {
                "Issuer"
            }
        ),
    };
    super::report(out, &r, r.output.as_ref());
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Exported {
    action: &'static str,
    format: &'static str,
    dir: PathBuf,
    /// None: the manifests went to stdout.
    output: Option<PathBuf>,
    generation: String,
    objects: usize,
    namespace: String,
    issuer: String,
    reload: Reload,
}

#[derive(serde::Serialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Reload {
    /// The server re-reads its files (Valkey 9.1 and newer).
    TlsAutoReloadInterval,
    /// `provision reload --watch` beside each Redis node.
    Sidecar,
}

impl Report for Exported {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        writeln!(
            w,
            "Wrote {} objects (the {}, Certificates, a trust-manager Bundle, config and password Secrets) of generation {} to {}.",
            self.objects,
            self.issuer,
            self.generation,
            super::shown(self.output.as_ref()),
        )?;
        if let Some(p) = &self.output {
            writeln!(
                w,
                "Apply: kubectl apply -n {} -f {}  (then delete the file; cert-manager and trust-manager must be installed)",
                self.namespace,
                p.display()
            )?;
        }
        match self.reload {
            Reload::TlsAutoReloadInterval => writeln!(
                w,
                "Renewed certificates: the bundle's server re-reads its files (tls-auto-reload-interval); no sidecar needed."
            ),
            Reload::Sidecar => writeln!(
                w,
                "Renewed certificates: run `provision reload --watch` beside each Redis node (README: Kubernetes with cert-manager); Sentinels need a restart."
            ),
        }
    }
}
