//! How the results of a live change are shown.

/// The first 12 hex digits of a serial, for people.
pub fn short_serial(serial: &str) -> &str {
    &serial[..serial.len().min(12)]
}

/// One line per node of a live reload (renew, rollback).
pub fn write_nodes(w: &mut String, results: &[crate::live::NodeResult]) -> std::fmt::Result {
    use std::fmt::Write;
    for r in results {
        if r.ok {
            writeln!(
                w,
                "  reloaded {:<22} now serving serial {}",
                r.node,
                r.presented_serial
                    .as_deref()
                    .map(short_serial)
                    .unwrap_or("(unchanged)")
            )?;
        } else {
            writeln!(
                w,
                "  FAILED   {:<22} {}",
                r.node,
                r.error.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}
