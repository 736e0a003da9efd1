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

    /// The one way a command prints its result: the value itself as JSON with `--json`,
    /// otherwise its human summary on stdout unless `--quiet`.
    pub fn report(&self, r: &impl Report) {
        if self.json {
            print_json(r);
        } else if !self.quiet {
            crate::out!("{}", human(r));
        }
    }

    /// A result that is itself the data asked for (`env`'s variables, `check --format
    /// prometheus`): JSON with `--json`, otherwise its text even with `--quiet`.
    pub fn report_data(&self, r: &impl Report) {
        if self.json {
            print_json(r);
        } else {
            crate::out!("{}", human(r));
        }
    }

    /// A result printed while stdout carries the command's data (`-o -`: an archive, a
    /// manifest stream, plaintext): no JSON, which would corrupt that data, and the summary
    /// on stderr unless `--quiet`.
    pub fn report_beside_data(&self, r: &impl Report) {
        if !self.json && !self.quiet {
            eprint!("{}", human(r));
        }
    }
}

/// What a command reports: one value, serialized as it is for `--json` and written as lines
/// for people by `human`, so both outputs come from the same fields.
pub trait Report: serde::Serialize {
    /// The summary a person reads, each line ending in `\n`.
    fn human(&self, w: &mut String) -> std::fmt::Result;
}

fn human(r: &impl Report) -> String {
    let mut s = String::new();
    r.human(&mut s).expect("writing to a String");
    s
}

fn print_json(r: &impl Report) {
    crate::outln!("{}", serde_json::to_string_pretty(r).expect("json"));
}

/// The result of a command that wrote one or more files outside the bundle (`alerts`,
/// `compose`, `schedule`, `export`): what it wrote, and how to check or install it.
#[derive(serde::Serialize)]
pub struct Wrote {
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<std::path::PathBuf>,
    /// Fields of one command only (`cron` of `schedule`, ...), at the top level.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The lines after "Wrote ...": how to check or install what was written.
    #[serde(skip)]
    pub next: Vec<String>,
}

impl Report for Wrote {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        for p in self.file.iter().chain(&self.files) {
            writeln!(w, "Wrote {}", p.display())?;
        }
        for l in &self.next {
            writeln!(w, "{l}")?;
        }
        Ok(())
    }
}
