//! One file per subcommand. Each takes its parsed arguments and the output settings, does the
//! I/O, and returns an exit code or an `Error`.

pub mod alerts;
pub mod backup;
pub mod certmanager;
pub mod check;
pub mod compose;
pub mod env;
pub mod init;
pub mod k8s;
pub mod push;
pub mod reload;
pub mod renew;
pub mod restore;
pub mod rollback;
pub mod rotate;
pub mod schedule;
pub mod seal;
pub mod user;

mod shared;
pub use shared::*;
