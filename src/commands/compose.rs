//! `provision compose`: a docker-compose.yml for the official redis:7 image that runs the
//! bundle as it is: mounted read-only at the bundle's `--mount-dir`, passwords as Compose
//! secrets, only on an internal network, with a TLS + ACL health check.

use super::open_bundle;
use super::{compose_file, COMPOSE};
use crate::cli::ComposeArgs;
use crate::core::bundle::MODE_PUBLIC;
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Wrote};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub fn run(args: &ComposeArgs, out: Output) -> Result<ExitStatus> {
    let (dir, _files, m) = open_bundle(args.bundle.path())?;
    super::standalone_only(&m, &dir)?;
    let (templates, _) = super::templates_for(args.output.templates.templates.as_deref(), &m.spec)?;
    let meta = std::fs::metadata(&dir).map_err(|e| Error::io("reading", &dir, e))?;
    let text = compose_file(&dir, &m, (meta.uid(), meta.gid()), &templates)?;
    let path = args
        .output
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(COMPOSE));
    crate::io::write::write_file(&path, MODE_PUBLIC, text.as_bytes(), args.output.force)?;
    out.report(&Wrote {
        action: "compose",
        dir: Some(dir),
        next: vec![format!(
            "Check it with: docker-compose -f {} config -q",
            path.display()
        )],
        file: Some(path),
        files: vec![],
        extra: Default::default(),
    });
    Ok(ExitStatus::Success)
}
