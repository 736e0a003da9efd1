//! The pure core: validation, durations, passwords, certificates, rendering, the bundle as a
//! set of files in memory. Nothing here touches the filesystem or the network.

pub mod archive;
pub mod bundle;
pub mod cakey;
pub mod certmanager;
pub mod checkup;
pub mod conf;
pub mod duration;
pub mod files;
pub mod inspect;
pub mod integrity;
pub mod invalid;
pub mod k8s;
pub mod password;
pub mod pki;
pub mod render;
pub mod renewal;
pub mod rotation;
pub mod secret;
pub mod server;
pub mod spec;
pub mod topology;
pub mod users;
pub mod validate;
