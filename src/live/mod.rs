//! The one place that talks to running Redis and Valkey nodes: logging in as the bundle's
//! admin (credentials held in memory, never in argv or the environment), one command per
//! connection, hot-reloading TLS files through the renamed CONFIG command and checking, by a
//! fresh handshake, which certificate a node now presents; and asking the server binary on
//! PATH which version it is.
//!
//! `conn` logs in and runs a command, `tls` reloads and verifies certificates, `nodes` turns a
//! bundle into the nodes and credentials to use, `server` probes `redis-server --version`.

mod acl;
mod conn;
mod nodes;
mod server;
mod tls;

pub use acl::{converge, delete_user, set_user, Pushed};
pub use conn::{command, command_ok, connect, parse_node, Creds};
pub use nodes::{admin_creds, node_failures, nodes, reload_nodes, renamed_config};
pub use server::detect_server;
pub use tls::{
    is_sentinel, presented_certificate, reload_tls, tls_files, wait_for_certificate, NodeResult,
};

use std::time::Duration;

/// How long a connection, a login or a handshake may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why talking to a node failed; each names the node, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a `HOST:PORT`.
    #[error("{0}")]
    Address(String),
    /// The TLS connection or the login failed.
    #[error("cannot log in to {node} as `{user}`: {detail}")]
    Login {
        node: String,
        user: String,
        detail: String,
    },
    /// Logged in, but the node answered the command with an error (`command` is the public
    /// name, never a secret renamed one).
    #[error("{node} refused `{command}`: {detail}")]
    Refused {
        node: String,
        command: String,
        detail: String,
    },
    /// The node answered a command that should answer `OK` with something else.
    #[error("{node} answered `{reply}` to `{command}`")]
    Unexpected {
        node: String,
        command: String,
        reply: String,
    },
    /// A verifying handshake (which certificate the node presents) failed.
    #[error("{0}")]
    Tls(String),
}

impl Error {
    /// The node could not be reached or logged in to (down, moved, another bundle's node),
    /// as opposed to a node that answered and refused: a change goes on without it.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Login { .. } | Error::Address(_))
    }
}
