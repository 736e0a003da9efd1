//! What several commands share (commands never import each other): reading a bundle, how
//! per-node results are printed, templates and the protected CA key. Re-exported by `commands` as before.

mod bundle;
mod cakey;
mod live;
mod templates;

pub use bundle::*;
pub use cakey::*;
pub use live::*;
pub use templates::*;
