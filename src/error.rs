//! One error type for the whole tool: each variant names what failed and where, carries a hint
//! where the user can fix it, and maps to an exit code.

use std::path::PathBuf;

/// Exit codes of `init`, `renew`, `rotate` and the other commands that change a bundle.
/// (`check` uses the monitoring-plugin codes instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.)
/// How a run ends, for the shell and for monitoring: the one place exit codes are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done.
    Success,
    /// 1: the command could not complete (I/O error, a Redis node refused, lock held, the
    /// bundle fails its integrity audit). The bundle on disk is unchanged or fully updated,
    /// never half.
    Failure,
    /// 2: bad input (invalid flag, value or config file, or a bundle already present without
    /// `--force`). Nothing was changed.
    BadInput,
    /// 3: `apply --plan` found changes to make (nothing was changed); CI gates on it.
    Pending,
    /// `check`: the monitoring-plugin state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). A usage
    /// error of `check` is UNKNOWN, whatever global flags come first.
    Check(crate::core::checkup::Status),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::Pending => 3,
            ExitStatus::Check(s) => s.code(),
        }
    }

    /// A command-line usage error of `subcommand` (as clap parsed it).
    pub fn usage_error(subcommand: Option<&str>) -> Self {
        match subcommand {
            Some("check") => ExitStatus::Check(crate::core::checkup::Status::Unknown),
            _ => ExitStatus::BadInput,
        }
    }

    /// The status of a failed command.
    pub fn of_error(e: &Error) -> Self {
        match e {
            Error::Input { .. } | Error::Exists(_) => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input; nothing was changed.
    #[error("{msg}")]
    Input { msg: String, hint: Option<String> },
    /// A bundle is already there.
    #[error("`{}` already holds a bundle", .0.display())]
    Exists(PathBuf),
    /// A filesystem operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another run holds the bundle lock.
    #[error("another provision run is changing `{}` (lock held for {waited_secs}s)", dir.display())]
    Locked { dir: PathBuf, waited_secs: u64 },
    /// Something else went wrong at run time.
    #[error("{msg}")]
    Failed { msg: String, hint: Option<String> },
}

impl Error {
    pub fn input(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            msg: msg.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn input_only(msg: impl Into<String>) -> Self {
        Error::Input {
            msg: msg.into(),
            hint: None,
        }
    }
    pub fn failed(msg: impl Into<String>, hint: Option<String>) -> Self {
        Error::Failed {
            msg: msg.into(),
            hint,
        }
    }
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Input { hint, .. } | Error::Failed { hint, .. } => hint.clone(),
            Error::Exists(_) => Some(
                "pass --force to replace it (the old bundle stays in place until the new one is complete, and is kept for `provision rollback`), or choose another --dir".into(),
            ),
            Error::Io { source, path, .. } => match source.raw_os_error() {
                Some(28) | Some(27) => Some("free some disk space (or raise the file size limit) and run the command again; the previous bundle is intact".into()),
                Some(30) => Some(format!("`{}` is on a read-only filesystem; choose a writable --dir", path.display())),
                Some(13) => Some(format!("check the permissions of `{}` (it must be writable by this user)", path.display())),
                Some(21) => Some(format!("`{}` is a directory where provision expects a file; move it away", path.display())),
                _ => None,
            },
            Error::Locked { .. } => Some("wait for the other run to finish, or raise --lock-timeout".into()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        ExitStatus::of_error(self).code()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
