//! What several commands share (commands never import each other): the flags they map the
//! same way and how per-node results are printed. The bundle, template and CA-key I/O they
//! share lives in `crate::io` and is re-exported here for them.

mod args;
mod live;
mod manifests;

pub use crate::io::bundle::*;
pub use crate::io::cakey::*;
pub use crate::io::templates::*;
pub use args::*;
pub use live::*;
pub use manifests::{
    check_names, count, destination, export_error, report, shown, warn_mount, write,
};
