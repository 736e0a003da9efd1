//! The README's code blocks, run as a newcomer would run them: top to bottom, in one scratch
//! directory, on loopback, with the binary under test as `provision` on PATH.
//!
//! Every ```sh, ```bash and ```yaml block must be preceded by a marker line:
//! - `<!-- readme-test: run -->` runs the block with `bash -euo pipefail`; it must exit 0.
//!   `<!-- readme-test: run expect=TEXT -->` (repeatable) also requires TEXT in its output.
//! - `<!-- readme-test: skip REASON -->` does not run it; the reason says why (a host path, a
//!   remote machine, a terminal prompt) and, where one exists, which test runs the same thing.
//!
//! `cargo run --release -- ARGS` in a block runs `provision ARGS` (a shim on PATH: building a
//! release binary again would take minutes and prove nothing more). Every process left running
//! in the scratch directory (the daemonized servers of the examples) is killed at the end.

use crate::common::require;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
enum Marker {
    Run(Vec<String>),
    Skip(String),
}

#[derive(Debug)]
struct Block {
    line: usize,
    lang: String,
    body: String,
    marker: Option<Marker>,
}

fn parse(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = String::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push_str(lines[i]);
            body.push('\n');
            i += 1;
        }
        i += 1;
        let marker = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- readme-test:"))
            .and_then(|l| l.strip_suffix("-->"))
            .map(|m| {
                let m = m.trim();
                if let Some(reason) = m.strip_prefix("skip") {
                    Marker::Skip(reason.trim().to_string())
                } else {
                    let rest = m.strip_prefix("run").unwrap_or_else(|| {
                        panic!(
                            "README.md:{}: marker `{m}` is neither run nor skip",
                            start + 1
                        )
                    });
                    Marker::Run(
                        rest.split(" expect=")
                            .skip(1)
                            .map(|e| e.trim().to_string())
                            .collect(),
                    )
                }
            });
        out.push(Block {
            line: start + 1,
            lang: lang.trim().to_string(),
            body,
            marker,
        });
    }
    out
}

/// Kills every process whose working directory or command line is inside `dir`.
fn kill_inside(dir: &Path) {
    let d = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cwd.starts_with(dir) || String::from_utf8_lossy(&cmd).contains(&d) {
            let _ = Command::new("kill").arg("-9").arg(&pid).status();
        }
    }
}

struct Scratch(tempfile::TempDir);

impl Drop for Scratch {
    fn drop(&mut self) {
        kill_inside(self.0.path());
    }
}

fn run_block(scratch: &Path, path: &str, b: &Block, expect: &[String]) {
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &b.body])
        .current_dir(scratch)
        .env("PATH", path)
        .env_remove("REDISCLI_AUTH")
        .env_remove("PROVISION_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "README.md:{}: block still running after 120 s:\n{}",
                b.line, b.body
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("README.md:{} ({}):\n{text}", b.line, out.status);
    assert!(
        out.status.success(),
        "README.md:{}: block failed ({}):\n{}\n--- output ---\n{text}",
        b.line,
        out.status,
        b.body
    );
    for e in expect {
        assert!(
            text.contains(e.as_str()),
            "README.md:{}: output lacks `{e}`:\n{text}",
            b.line
        );
    }
}

#[test]
fn every_readme_block_is_run_or_says_why_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = parse(&readme);
    let unmarked: Vec<String> = blocks
        .iter()
        .filter(|b| ["sh", "bash", "yaml"].contains(&b.lang.as_str()) && b.marker.is_none())
        .map(|b| format!("README.md:{} ```{}", b.line, b.lang))
        .collect();
    assert!(
        unmarked.is_empty(),
        "blocks without a `<!-- readme-test: run -->` or `<!-- readme-test: skip REASON -->` \
         line before them: {unmarked:#?}"
    );
    for b in &blocks {
        if let Some(Marker::Skip(reason)) = &b.marker {
            assert!(
                reason.len() >= 10,
                "README.md:{}: a skip needs a reason",
                b.line
            );
        }
    }
    let runs = blocks
        .iter()
        .filter(|b| matches!(b.marker, Some(Marker::Run(_))))
        .count();
    assert!(runs >= 10, "only {runs} README blocks are run");

    for p in [
        "redis-server",
        "redis-cli",
        "openssl",
        "age",
        "promtool",
        "docker-compose",
    ] {
        require(p);
    }
    let scratch = Scratch(tempfile::tempdir().unwrap());
    let dir = scratch.0.path();
    let bin = dir.join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_provision"), bin.join("provision")).unwrap();
    let shim = "#!/bin/sh\n\
        [ \"$1 $2 $3\" = \"run --release --\" ] || \
        { echo \"README shim: only 'cargo run --release -- ARGS' is supported\" >&2; exit 2; }\n\
        shift 3\nexec provision \"$@\"\n";
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, shim).unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path: PathBuf = bin;
    // The caller's PATH after the shim: scripts/test.sh puts promtool, kubernetes-validate
    // and the like there.
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        path.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A clone's root, as the README assumes: `templates/` is there.
    std::os::unix::fs::symlink(root.join("templates"), dir.join("templates")).unwrap();
    for b in &blocks {
        if let Some(Marker::Run(expect)) = &b.marker {
            run_block(dir, &path, b, expect);
        }
    }
}

/// The Performance section's tables are the ones `scripts/bench.sh` wrote: every row is in
/// the `.md` it wrote beside a results JSON the section cites, and that JSON names the row.
#[test]
fn performance_figures_come_from_committed_bench_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("\n## Performance")
        .expect("a Performance section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let cited: Vec<&str> = section
        .split(|c: char| c == '(' || c == ')' || c == '`' || c.is_whitespace())
        .filter(|w| w.starts_with("bench/results/") && w.ends_with(".json") && !w.contains('<'))
        .collect();
    assert!(
        !cited.is_empty(),
        "the Performance section cites no results file"
    );
    let mut sources = Vec::new();
    for c in &cited {
        let json = std::fs::read_to_string(root.join(c)).unwrap_or_else(|e| panic!("{c}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["results"].is_array(), "{c} has no results");
        let md = root.join(c.replace(".json", ".md"));
        let md = std::fs::read_to_string(&md).unwrap_or_else(|e| panic!("{}: {e}", md.display()));
        sources.push((c, json, md));
    }
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| {
            l.starts_with("| ") && !l.starts_with("| command") && !l.starts_with("| bundle")
        })
        .collect();
    assert!(rows.len() >= 10, "only {} table rows found", rows.len());
    for row in rows {
        let name = row.split('|').nth(1).unwrap().trim();
        assert!(
            sources
                .iter()
                .any(|(_, json, md)| md.lines().any(|l| l == row)
                    && json.contains(&format!("\"{name}\""))),
            "README Performance row not in a cited bench result (written by scripts/bench.sh): \
             {row}\ncited: {cited:?}"
        );
    }
    // Every measured figure in the prose (a number with a unit of time, size or ratio) is a
    // cell of a table (ms, MiB, ×) or appears as written in the JSON of a result cited in the
    // same paragraph (any cited result when the paragraph cites none).
    let cited_in = |para: &str| -> Vec<usize> {
        let here: Vec<usize> = (0..cited.len())
            .filter(|&i| para.contains(cited[i]))
            .collect();
        if here.is_empty() {
            (0..cited.len()).collect()
        } else {
            here
        }
    };
    let mut n = 0;
    for para in section.split("\n\n") {
        for (num, unit) in prose_figures(para) {
            n += 1;
            let cells = [format!("| {num} |"), format!("| {num}{unit} |")];
            let table_unit = ["ms", "MiB", "×"].contains(&unit.as_str());
            let text = format!("{num} {unit}");
            let found = cited_in(para).into_iter().any(|i| {
                let (_, json, md) = &sources[i];
                (table_unit && cells.iter().any(|c| md.contains(c.as_str())))
                    || json.contains(&text)
            });
            assert!(
                found,
                "README Performance figure `{num} {unit}` is in no bench result cited beside it \
                 (a table cell of its .md or text of its JSON): cite the file that holds it or \
                 drop the figure\nparagraph: {para}"
            );
        }
    }
    assert!(n >= 4, "only {n} figures found in the prose");
}

/// The figures with a unit (`4.2 ms`, `23.5 GiB`, `29.84×`) in `section`, outside tables and
/// code blocks.
fn prose_figures(section: &str) -> Vec<(String, String)> {
    const UNITS: [&str; 8] = ["ms", "µs", "s", "KiB", "MiB", "GiB", "MB", "×"];
    let mut out = Vec::new();
    let mut code = false;
    for line in section.lines() {
        if line.starts_with("```") {
            code = !code;
        }
        if code || line.starts_with('|') {
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let starts = b[i].is_ascii_digit()
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'));
            if !starts {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_digit()
                    || (b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit()))
            {
                j += 1;
            }
            let num = &line[i..j];
            let rest = line[j..].strip_prefix(' ').unwrap_or(&line[j..]);
            if let Some(u) = UNITS.iter().find(|u| {
                rest.starts_with(**u)
                    && !rest[u.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric())
            }) {
                out.push((num.to_string(), u.to_string()));
            }
            i = j;
        }
    }
    out
}
