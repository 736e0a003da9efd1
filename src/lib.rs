//! `provision`: one binary that locks a Redis deployment down and keeps it locked down.
//!
//! `core` is pure (certificates, passwords, rules, templates); `io` is the only code that
//! touches files (its `write` the one writer of every secret file); `live` the one place that
//! talks to Redis; `commands` holds one file per subcommand (README: "Layout").

pub mod cli;
pub mod commands;
pub mod core;
pub mod error;
pub mod io;
pub mod live;
pub mod output;
/// The bundle store lives in `io`; the old path stays for the commands that name it.
pub use io::store;

use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs the command, prints any error with its hint, and returns
/// the exit code.
pub fn main_entry() -> ExitCode {
    no_core_dumps();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // `check` speaks the monitoring-plugin convention: a usage error is UNKNOWN (3),
            // whatever global flags come before it.
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => error::ExitStatus::usage_error(parsed_subcommand().as_deref()).code(),
            });
        }
    };
    let out = output::Output {
        json: cli.json,
        quiet: cli.quiet,
    };
    let result = match &cli.command {
        cli::Command::Init(a) => commands::init::run(a, out),
        cli::Command::Check(a) => commands::check::run(a, out),
        cli::Command::Renew(a) => commands::renew::run(a, out),
        cli::Command::Rollback(a) => commands::rollback::run(a, out),
        cli::Command::Rotate(a) => commands::rotate::run(a, out),
        cli::Command::User(a) => commands::user::run(a, out),
        cli::Command::Push(a) => commands::push::run(a, out),
        cli::Command::Reload(a) => commands::reload::run(a, out),
        cli::Command::Apply(a) => commands::user::apply(a, out),
        cli::Command::Env(a) => commands::env::run(a, out),
        cli::Command::Schedule(a) => commands::schedule::run(a, out),
        // One subcommand, three outputs: an age archive, Kubernetes Secrets or cert-manager objects.
        cli::Command::Backup(a) if a.format == cli::ExportFormat::K8s => commands::k8s::run(a, out),
        cli::Command::Backup(a) if a.format == cli::ExportFormat::CertManager => {
            commands::certmanager::run(a, out)
        }
        cli::Command::Backup(a) => commands::backup::run(a, out),
        cli::Command::Restore(a) => commands::restore::run(a, out),
        cli::Command::Seal(a) => commands::seal::seal(a, out),
        cli::Command::Unseal(a) => commands::seal::unseal(a, out),
        cli::Command::Alerts(a) => commands::alerts::run(a, out),
        cli::Command::Compose(a) => commands::compose::run(a, out),
    };
    let code = match result {
        Ok(error::ExitStatus::Success) if output::stdout_failed() => {
            ExitCode::from(error::ExitStatus::Failure.code())
        }
        Ok(status) => ExitCode::from(status.code()),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(e.exit_code())
        }
    };
    drop(cli);
    hold_for_memory_inspection();
    code
}

/// Test hook (tests/it/hostile.rs): with `PROVISION_TEST_HOLD_AT_EXIT` set, the process says so
/// on stderr once everything it did is dropped, and waits for stdin to close, so a test
/// running as root can read its memory through /proc/PID/mem and prove that no secret of
/// the bundle is left in it. Nothing is read or written besides that line.
fn hold_for_memory_inspection() {
    if std::env::var_os("PROVISION_TEST_HOLD_AT_EXIT").is_none() {
        return;
    }
    eprintln!("provision: holding at exit");
    let mut sink = [0u8; 64];
    while matches!(std::io::Read::read(&mut std::io::stdin(), &mut sink), Ok(n) if n > 0) {}
}

/// The subcommand the user named, read by clap itself with errors ignored (so global flags
/// before it, or a bad flag after it, do not hide it).
fn parsed_subcommand() -> Option<String> {
    use clap::CommandFactory;
    cli::Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(std::env::args_os())
        .ok()
        .and_then(|m| m.subcommand_name().map(str::to_string))
}

/// A crash must never spill a secret: no core file (RLIMIT_CORE 0) and not dumpable (no core
/// through a pipe handler either, and no ptrace or /proc/PID/mem by other processes of the
/// same user). Best effort: a kernel that refuses leaves the process as it was.
fn no_core_dumps() {
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}
