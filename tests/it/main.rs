//! The integration tests, one binary: the crate is linked once, not once per suite. Each
//! module is a suite (`cargo nextest run -E 'test(/^live::/)'` runs one); `common` is the
//! shared harness (the built binary in a scrubbed environment, bundles, real servers).

#[path = "../common/mod.rs"]
mod common;

mod backups;
mod certmanager;
mod certs;
mod cli;
mod clients;
mod crash;
mod hostile;
mod integrations;
mod lifecycle;
mod live;
mod openssl;
mod pkilint;
mod props;
mod readme;
mod reload;
mod rotate;
mod secrets;
mod servers;
mod topology;
mod users;
