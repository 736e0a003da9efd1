//! How the results of a live change are shown.

/// The first 12 hex digits of a serial, for people.
pub fn short_serial(serial: &str) -> &str {
    &serial[..serial.len().min(12)]
}

/// One line per node of a live reload (renew, rollback).
pub fn print_nodes(results: &[crate::live::NodeResult]) {
    for r in results {
        if r.ok {
            crate::outln!(
                "  reloaded {:<22} now serving serial {}",
                r.node,
                r.presented_serial
                    .as_deref()
                    .map(short_serial)
                    .unwrap_or("(unchanged)")
            );
        } else {
            crate::outln!(
                "  FAILED   {:<22} {}",
                r.node,
                r.error.as_deref().unwrap_or("")
            );
        }
    }
}
