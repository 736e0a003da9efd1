//! How results reach people and machines: results on stdout (text or `--json`), progress on
//! stderr only when stderr is a terminal and output is not `--quiet` or `--json`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

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
        println!("{}", serde_json::to_string_pretty(v).expect("json"));
    }
}
