//! `provision check`: expiry and consistency of a bundle, for people (`text`), machines
//! (`json`) and Prometheus (`prometheus`, for node_exporter's textfile collector).
//! Exit codes follow the monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use crate::cli::{CheckArgs, CheckFormat};
use crate::core::checkup::{self, Finding, Report, Status, Thresholds};
use crate::core::duration::human;
use crate::error::{ExitStatus, Result};
use crate::output::Output;
use crate::store::{Store, DATA};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

pub fn run(args: &CheckArgs, out: Output) -> Result<ExitStatus> {
    let started = Instant::now();
    let dir = args.bundle.path().to_path_buf();
    let format = if out.json {
        CheckFormat::Json
    } else {
        args.format
    };
    let th = Thresholds {
        warn: args.warn,
        crit: args.crit,
    };
    let key = super::key_from_args(&args.unlock).map_err(|e| match e.hint() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    });
    let (report, generation, abs) = match key.and_then(|k| audit(&dir, th, k.as_ref())) {
        Ok(x) => x,
        Err(msg) => {
            let r = Report {
                status: Status::Unknown,
                certificates: vec![],
                findings: vec![Finding {
                    status: Status::Unknown,
                    file: dir.display().to_string(),
                    message: msg,
                    expiry: false,
                    local_change: false,
                }],
                rotations_in_progress: vec![],
                ca_key: Default::default(),
                integrity: Default::default(),
                ca_rollover: Default::default(),
            };
            (r, String::new(), dir.clone())
        }
    };
    let elapsed = started.elapsed();
    let status = report.status;
    let checked = Checked {
        dir: &abs,
        generation: &generation,
        exit_code: status.code(),
        elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        report: &report,
        format,
    };
    match format {
        // `--format json` is `--json`: the same value, the same printer.
        CheckFormat::Json => Output { json: true, ..out }.report(&checked),
        CheckFormat::Prometheus => out.report_data(&checked),
        CheckFormat::Text => out.report(&checked),
    }
    Ok(ExitStatus::Check(status))
}

/// What `check` found: the report with where and when, as JSON, text or Prometheus metrics.
#[derive(serde::Serialize)]
struct Checked<'a> {
    dir: &'a Path,
    generation: &'a str,
    exit_code: u8,
    elapsed_ms: f64,
    /// status, certificates, findings, rotations_in_progress, ca_key, integrity, ca_rollover.
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip)]
    format: CheckFormat,
}

impl crate::output::Report for Checked<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        match self.format {
            CheckFormat::Prometheus => {
                w.push_str(&prometheus(self.dir, self.report));
                Ok(())
            }
            _ => write_text(w, self.dir, self.generation, self.report),
        }
    }
}

/// Reads the bundle and audits it; Err = UNKNOWN (missing or unreadable).
fn audit(
    dir: &Path,
    th: Thresholds,
    key: Option<&crate::io::age::Key>,
) -> std::result::Result<(Report, String, std::path::PathBuf), String> {
    let store = Store::open_readonly(dir).map_err(|e| e.to_string())?;
    let generation = store.current_generation().ok_or_else(|| {
        format!(
            "no bundle in `{}` (no `{DATA}` link); create one with `provision init`",
            store.dir.display()
        )
    })?;
    let (files, unreadable) = store
        .read_generation_checked(Some(&generation))
        .map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    let bundle_dir = store.dir.clone();
    let exists = super::host_path_exists(&files, &bundle_dir);
    let mut report = checkup::check(&files, now, th, &exists);
    if let (Some(k), true) = (key, report.ca_key.protected) {
        verify_ca_key(&mut report, &files, k);
    }
    report.findings.extend(checkup::foreign_paths(
        &files,
        &super::dir_names(&store.dir),
    ));
    // A name in the generation that is not a regular file of bounded size (a FIFO, a device,
    // a huge file) is reported, never read.
    for (name, e) in unreadable {
        report.findings.push(Finding {
            status: Status::Critical,
            file: name,
            message: format!("{e}"),
            expiry: false,
            local_change: false,
        });
    }
    // What Redis reads goes through the visible names: each must be provision's link into
    // `..data`, which points at the generation just checked.
    for (name, message) in store.visible_link_problems(&files) {
        report.findings.push(Finding {
            status: Status::Critical,
            file: name,
            message,
            expiry: false,
            local_change: false,
        });
    }
    if let Ok(m) = std::fs::metadata(&store.dir) {
        if m.mode() & 0o077 != 0 {
            report.findings.push(Finding {
                status: Status::Warning,
                file: store.dir.display().to_string(),
                message: format!(
                    "directory mode {:04o}; it should be 0700 (chmod 700)",
                    m.mode() & 0o7777
                ),
                expiry: false,
                local_change: false,
            });
        }
        let gen_dir = store.dir.join(&generation);
        if let Ok(g) = std::fs::metadata(&gen_dir) {
            if g.uid() != m.uid() {
                report.findings.push(Finding {
                    status: Status::Warning,
                    file: generation.clone(),
                    message: format!(
                        "owned by uid {}, the bundle directory by uid {}",
                        g.uid(),
                        m.uid()
                    ),
                    expiry: false,
                    local_change: false,
                });
            }
        }
    }
    report.status = report
        .findings
        .iter()
        .map(|f| f.status)
        .chain(report.certificates.iter().map(|c| c.status))
        .max()
        .unwrap_or(Status::Ok);
    Ok((report, generation, store.dir))
}

/// With `--identity`: opens ca.key.age in memory and checks it is the key of the CA in ca.crt.
fn verify_ca_key(
    report: &mut Report,
    files: &crate::core::bundle::Files,
    key: &crate::io::age::Key,
) {
    use crate::core::cakey::{self, CaKeyError, CA_KEY_AGE};
    let protection = files
        .text(crate::core::bundle::MANIFEST)
        .and_then(|t| serde_json::from_str::<crate::core::bundle::Manifest>(t).ok())
        .and_then(|m| m.spec.ca_key);
    let mut finding = |message: String| {
        report.findings.push(Finding {
            status: Status::Critical,
            file: CA_KEY_AGE.into(),
            message,
            expiry: false,
            local_change: false,
        })
    };
    match cakey::load(files, protection.as_ref(), Some(&key.unlock())) {
        Ok(_) => report.ca_key.matches_ca = Some(true),
        Err(CaKeyError::Mismatch) => {
            report.ca_key.matches_ca = Some(false);
            finding("decrypts to a key that does not match the CA in ca.crt: renew would refuse to sign".into());
        }
        // Missing or damaged files are reported by the audit already.
        Err(CaKeyError::Missing(_)) => {}
        Err(e) => finding(format!("cannot be opened with the key given: {e}")),
    }
}

fn write_text(w: &mut String, dir: &Path, generation: &str, r: &Report) -> std::fmt::Result {
    use std::fmt::Write;
    writeln!(
        w,
        "provision check: {} — {}{}",
        r.status.label(),
        dir.display(),
        if generation.is_empty() {
            String::new()
        } else {
            format!(" ({generation})")
        }
    )?;
    if !r.certificates.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "  {:<20} {:<7} {:<11} {:<18} {:>5}  STATUS",
            "FILE", "ROLE", "EXPIRES", "LEFT", "LIFE"
        )?;
        for c in &r.certificates {
            writeln!(
                w,
                "  {:<20} {:<7} {:<11} {:<18} {:>4.0}%  {}",
                c.file,
                c.role,
                &c.not_after[..10.min(c.not_after.len())],
                human(c.seconds_left),
                c.fraction_left * 100.0,
                c.status.label()
            )?;
        }
    }
    if !r.integrity.ca_fingerprint.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "  CA SHA-256 fingerprint: {}",
            r.integrity.ca_fingerprint
        )?;
        writeln!(
            w,
            "  Integrity: {}",
            if r.integrity.signed {
                format!(
                    "manifest signed by the bundle's signer (issued by this CA); {} files compared with it",
                    r.integrity.files_verified
                )
            } else {
                "manifest NOT verified (see findings)".to_string()
            }
        )?;
    }
    if r.ca_key.protected {
        writeln!(w)?;
        writeln!(
        w,
            "  {}: {}; {}",
            r.ca_key.summary,
            r.ca_key.file,
            match r.ca_key.matches_ca {
                Some(true) => "opened with the key given, matches ca.crt",
                Some(false) => "opened with the key given, does NOT match ca.crt",
                None => "whether it matches ca.crt is not verified without --identity (or --passphrase-file)",
            }
        )?;
    }
    if !r.ca_rollover.summary.is_empty() {
        writeln!(w)?;
        writeln!(w, "  {}", r.ca_rollover.summary)?;
    }
    if !r.rotations_in_progress.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "  password rotation in progress for: {} (finish with `provision rotate --finish`)",
            r.rotations_in_progress.join(", ")
        )?;
    }
    if !r.findings.is_empty() {
        writeln!(w)?;
        writeln!(w, "Problems:")?;
        let mut f = r.findings.clone();
        f.sort_by_key(|x| std::cmp::Reverse(x.status));
        for x in f {
            writeln!(w, "  {:<8}  {}: {}", x.status.label(), x.file, x.message)?;
        }
    }
    Ok(())
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Text exposition format for node_exporter's textfile collector.
pub fn prometheus(dir: &Path, r: &Report) -> String {
    let b = esc(&dir.display().to_string());
    let mut s = String::new();
    let mut metric = |name: &str, help: &str, rows: Vec<(String, String)>| {
        s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, v) in rows {
            s.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let cert_labels = |c: &checkup::CertStatus| {
        format!(
            "bundle=\"{b}\",file=\"{}\",role=\"{}\",serial=\"{}\"",
            esc(&c.file),
            esc(&c.role),
            esc(&c.serial)
        )
    };
    metric(
        "provision_certificate_expiry_timestamp_seconds",
        "Unix time at which the certificate expires.",
        r.certificates
            .iter()
            .map(|c| (cert_labels(c), c.not_after_unix.to_string()))
            .collect(),
    );
    metric(
        "provision_certificate_seconds_left",
        "Seconds until the certificate expires (negative once expired).",
        r.certificates
            .iter()
            .map(|c| (cert_labels(c), c.seconds_left.to_string()))
            .collect(),
    );
    metric(
        "provision_check_status",
        "Result of provision check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        vec![(format!("bundle=\"{b}\""), r.status.code().to_string())],
    );
    metric(
        "provision_check_problems",
        "Problems found by provision check, by severity.",
        [Status::Warning, Status::Critical, Status::Unknown]
            .iter()
            .map(|sev| {
                (
                    format!("bundle=\"{b}\",severity=\"{}\"", sev.label().to_lowercase()),
                    r.findings
                        .iter()
                        .filter(|f| f.status == *sev)
                        .count()
                        .to_string(),
                )
            })
            .collect(),
    );
    metric(
        "provision_ca_key_protected",
        "1 when the CA private key is stored only age-encrypted (ca.key.age), 0 when in plaintext.",
        vec![(
            format!("bundle=\"{b}\""),
            u8::from(r.ca_key.protected).to_string(),
        )],
    );
    metric(
        "provision_password_rotation_in_progress",
        "Users whose ACL line holds two passwords (1 while a rotation is unfinished).",
        vec![(
            format!("bundle=\"{b}\""),
            r.rotations_in_progress.len().to_string(),
        )],
    );
    metric(
        "provision_ca_rollover_overlap_seconds_left",
        "Seconds left of a CA rollover's overlap (0 once it may be finished); absent without one.",
        r.ca_rollover
            .overlap_seconds_left
            .iter()
            .map(|l| (format!("bundle=\"{b}\""), l.to_string()))
            .collect(),
    );
    metric(
        "provision_ca_old_cas_trusted",
        "Old CAs still trusted in ca.crt after a finished CA rollover.",
        vec![(
            format!("bundle=\"{b}\""),
            r.ca_rollover.old_cas.len().to_string(),
        )],
    );
    metric(
        "provision_check_timestamp_seconds",
        "Unix time at which provision check ran.",
        vec![(
            format!("bundle=\"{b}\""),
            time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
        )],
    );
    s
}
