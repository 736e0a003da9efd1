//! The only code that touches files: opening the bundle directory by descriptor, bounded
//! reads, and the one writer of every secret file.
//!
//! - `dir`: walks a path to a directory descriptor, refusing ancestors another user could
//!   change (the race and link checks of `provision`'s threat model);
//! - `read`: bounded reads of regular files through a directory descriptor;
//! - `write`: create-new files with their final mode, atomic replacement, and a streaming sink
//!   that appears under its final name only when complete;
//! - `age`: recipients, identities, passphrases and age-encrypted outputs;
//! - `store`: the bundle directory itself (generations, links, lock, audit log);
//! - `bundle`: a bundle opened for a command (manifest, consistency audit, audit lines);
//! - `templates`: override templates read from a directory, and the Compose file;
//! - `cakey`: unlocking and sealing the protected CA key.

pub mod age;
pub mod bundle;
pub mod cakey;
pub mod dir;
pub mod mounted;
pub mod read;
pub mod store;
pub mod templates;
pub mod write;
