//! Which server is on PATH (`redis-server --version`, then `valkey-server --version`).

use std::io::Read;
use std::time::Duration;

/// The Redis-compatible server on PATH, as its `--version` says: `redis-server`, else
/// `valkey-server`. Returns the target, the full version and the binary's name. Each probe
/// runs with an empty environment (only PATH) and is killed after 5 s.
pub fn detect_server() -> Option<(crate::core::server::Target, String, &'static str)> {
    ["redis-server", "valkey-server"]
        .into_iter()
        .find_map(|bin| {
            let text = version_of(bin)?;
            crate::core::server::parse_version_output(&text).map(|(t, v)| (t, v, bin))
        })
}

fn version_of(bin: &str) -> Option<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("--version")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}
