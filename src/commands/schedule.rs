//! `provision schedule`: a systemd timer (and the equivalent cron line) that runs
//! `provision renew --reload` daily in a sandbox where only the bundle is writable.

use crate::cli::ScheduleArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Wrote};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const SERVICE: &str = "provision-renew.service";
pub const TIMER: &str = "provision-renew.timer";

/// An absolute path, refused if a systemd unit or crontab could not carry it literally.
fn unit_path(p: &Path, what: &str) -> Result<String> {
    let s = p.to_string_lossy().into_owned();
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '%'))
    {
        return Err(Error::input(
            format!(
                "{what} `{s}` contains {c:?}, which a systemd unit or crontab cannot carry safely"
            ),
            "use a path without spaces, quotes, backslashes or `%`",
        ));
    }
    Ok(s)
}

/// The user name owning `uid` (from /etc/passwd), or the number.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

pub fn run(args: &ScheduleArgs, out: Output) -> Result<ExitStatus> {
    let (dir, _files, m) = super::open_bundle(args.bundle.path())?;
    let (templates, _) = super::templates_for(args.output.templates.templates.as_deref(), &m.spec)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("finding this program's path: {e}"), None))?;
    let exe_s = unit_path(&exe, "the provision binary")?;
    let dir_s = unit_path(&dir, "the bundle directory")?;
    let owner = std::fs::metadata(&dir)
        .map_err(|e| Error::io("reading", &dir, e))?
        .uid();
    let args_s = format!("renew --dir {dir_s} --reload --quiet");
    let under = |prefix: &str| dir.starts_with(prefix);
    let protect_home = if under("/home") || under("/root") || under("/run/user") {
        "read-only"
    } else {
        "yes"
    };
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        dir => dir_s,
        exec_start => format!("{exe_s} {args_s}"),
        read_write => dir_s,
        protect_home => protect_home,
        user => (owner != 0).then(|| user_name(owner)),
    };
    let service = super::render_template(&templates, SERVICE, ctx.clone())?;
    let timer = super::render_template(&templates, TIMER, ctx)?;

    let out_dir = args
        .output
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let written = [(SERVICE, service), (TIMER, timer)]
        .into_iter()
        .map(|(n, text)| {
            let p = out_dir.join(n);
            crate::io::write::write_file(
                &p,
                crate::core::bundle::MODE_PUBLIC,
                text.as_bytes(),
                args.output.force,
            )
            .map(|_| p)
        })
        .collect::<Result<Vec<_>>>()?;

    // A fixed random-looking minute and hour per bundle: many hosts do not renew at once.
    let h = crate::core::password::sha256_hex(dir_s.as_bytes());
    let minute = u32::from_str_radix(&h[..4], 16).unwrap_or(0) % 60;
    let hour = u32::from_str_radix(&h[4..8], 16).unwrap_or(0) % 24;
    let cron = format!("{minute} {hour} * * * {exe_s} {args_s}");
    if dir.starts_with("/tmp") || dir.starts_with("/var/tmp") {
        eprintln!(
            "warning: the bundle is under {}, which PrivateTmp=yes hides from the service; move it (for example to /etc/redis/tls) before enabling the timer",
            if dir.starts_with("/tmp") { "/tmp" } else { "/var/tmp" }
        );
    }
    if m.spec.ca_key.is_some() {
        // The timer holds no identity, on purpose: it renews nothing that needs signing.
        eprintln!(
            "warning: the CA key is protected (ca.key.age): the timer cannot sign, so once a certificate is due it fails (exit 2, unit failed, nothing changed) until someone runs `provision renew --dir {dir_s} {}` by hand",
            if m.spec.ca_key == Some(crate::core::cakey::Protection::Passphrase) { "--passphrase" } else { "--identity KEYFILE" }
        );
    }
    let next = vec![
        String::new(),
        "Install:".into(),
        format!(
            "  cp {} {} /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now {TIMER}",
            written[0].display(),
            written[1].display()
        ),
        String::new(),
        "Or, without systemd, this crontab line (crontab -e as the bundle's owner):".into(),
        format!("  {cron}"),
    ];
    out.report(&Wrote {
        action: "schedule",
        dir: Some(dir),
        file: None,
        files: written,
        extra: [("cron".to_string(), cron.into())].into_iter().collect(),
        next,
    });
    Ok(ExitStatus::Success)
}
