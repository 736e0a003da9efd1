//! How results reach people and machines: results on stdout (text or `--json`), progress on
//! stderr only when stderr is a terminal and output is not `--quiet` or `--json`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when a write to stdout failed for a reason other than a closed pipe.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout like `print!`, without its panic. A reader that went away
/// (`provision check | head -1`) is not an error: the rest of the output is dropped and the
/// command still exits with its own code (the status `check` computed, say). Any other
/// failure (a full disk under `> file`) is reported once on stderr and makes a successful
/// command exit 1, see `stdout_failed`.
pub fn write_stdout(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe && !STDOUT_FAILED.swap(true, Ordering::SeqCst)
        {
            eprintln!("error: writing to stdout: {e}");
        }
    }
}

/// True if some output could not be written (other than to a closed pipe).
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::SeqCst)
}

/// `print!` through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}

/// `println!` through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    pub fn human(&self) -> bool {
        !self.json && !self.quiet
    }

    /// A progress bar for `len` steps, or a hidden one.
    pub fn progress(&self, len: u64, msg: &'static str) -> ProgressBar {
        if !self.human() || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(std::time::Duration::from_millis(100));
        pb
    }

    pub fn print_json(&self, v: &serde_json::Value) {
        crate::outln!("{}", serde_json::to_string_pretty(v).expect("json"));
    }
}
