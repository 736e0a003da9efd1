//! `provision export --format k8s`: the bundle as Kubernetes Secret manifests.

use crate::cli::BackupArgs;
use crate::error::{Error, Result};
use crate::output::Output;

pub fn run(_args: &BackupArgs, _out: Output) -> Result<u8> {
    Err(Error::input_only("--format k8s is not implemented yet"))
}
