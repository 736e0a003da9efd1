//! `provision alerts`: Prometheus alerting rules for what `provision check --format prometheus`
//! exports (expiry, check status, staleness, unfinished rotations) and for the ACL counters
//! redis_exporter takes from Redis 7's INFO stats (failed logins, NOPERM denials).

use crate::cli::AlertsArgs;
use crate::core::bundle::MODE_PUBLIC;
use crate::core::render::Templates;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Wrote};
use std::path::PathBuf;

pub const ALERTS: &str = "provision-alerts.yml";

/// `provision check` runs from a daily timer or more often; two days without a fresh
/// timestamp means it stopped.
const STALE_SECONDS: u64 = 2 * 86_400;

/// The rules file for a given "expiring soon" threshold.
pub fn rules(templates: &Templates, expiring_secs: u64) -> Result<String> {
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        expiring_seconds => expiring_secs,
        stale_seconds => STALE_SECONDS,
        rotation_for => "7d",
        auth_failures => 10,
        acl_denials => 10,
    };
    super::render_template(templates, ALERTS, ctx)
}

pub fn run(args: &AlertsArgs, out: Output) -> Result<ExitStatus> {
    if args.expiring.secs() == 0 {
        return Err(Error::input(
            "--expiring must be longer than 0s",
            "give a duration such as 14d or 30d",
        ));
    }
    let templates = match &args.output.templates.templates {
        Some(d) => super::load_templates(d)?,
        None => Templates::builtin(),
    };
    let text = rules(&templates, args.expiring.secs())?;
    let path = args
        .output
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(ALERTS));
    crate::io::write::write_file(&path, MODE_PUBLIC, text.as_bytes(), args.output.force)?;
    out.report(&Wrote {
        action: "alerts",
        dir: None,
        next: vec![format!(
            "Check it with: promtool check rules {}",
            path.display()
        )],
        file: Some(path),
        files: vec![],
        extra: Default::default(),
    });
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_render_with_prometheus_templates_intact() {
        let r = super::rules(&super::Templates::builtin(), 14 * 86_400).unwrap();
        assert!(r.contains("provision_certificate_seconds_left < 1209600"));
        assert!(r.contains("{{ $labels.file }}"));
        assert!(r.contains("redis_acl_access_denied_auth_total"));
    }
}
