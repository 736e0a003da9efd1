//! What Redis processes a bundle serves: one standalone server (the default), a primary with
//! replicas (optionally watched by Sentinels), or a Redis Cluster. Each process is an
//! `Instance` with its own certificate, key and config file; users, the CA and the rename map
//! are shared by all of them (one rename map for every node: differing maps diverge data).

use super::validate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One redis-server (files redis.crt, redis.key, redis.conf).
    #[default]
    Standalone,
    /// One primary (the first node) and replicas, optionally with Sentinels.
    Replication,
    /// Redis Cluster: every node cluster-enabled, TLS on the cluster bus.
    Cluster,
}

impl Kind {
    /// Every kind, with its name and a one-line description (what `--topology` lists).
    pub const ALL: [(Kind, &'static str, &'static str); 3] = [
        (
            Kind::Standalone,
            "standalone",
            "One redis-server (files redis.crt, redis.key, redis.conf)",
        ),
        (
            Kind::Replication,
            "replication",
            "One primary (the first node) and replicas, optionally with Sentinels",
        ),
        (
            Kind::Cluster,
            "cluster",
            "Redis Cluster: every node cluster-enabled, TLS on the cluster bus",
        ),
    ];

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Self::ALL
            .into_iter()
            .find(|(_, n, _)| *n == name)
            .map(|(k, _, _)| k)
    }
}

/// One Redis or Sentinel process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Also the prefix of the node's files: `<name>.crt`, `<name>.key`, `<name>.conf`.
    pub name: String,
    /// DNS names and IP addresses for its certificate; the first IP (else the first name) is
    /// where provision connects to it and what other nodes are told.
    pub hosts: Vec<String>,
    pub port: u16,
}

impl NodeSpec {
    /// Where to reach the node: its first IP address, else its first host name.
    pub fn address(&self) -> String {
        let h = self.host();
        if h.contains(':') {
            format!("[{h}]:{}", self.port)
        } else {
            format!("{h}:{}", self.port)
        }
    }
    /// Its first IP address, else its first host name.
    pub fn host(&self) -> &str {
        self.hosts
            .iter()
            .find(|h| h.parse::<std::net::IpAddr>().is_ok())
            .unwrap_or(&self.hosts[0])
    }
}

pub const DEFAULT_MASTER_NAME: &str = "mymaster";
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

fn default_master_name() -> String {
    DEFAULT_MASTER_NAME.into()
}
fn default_down_after_ms() -> u32 {
    5000
}
fn is_default_master(s: &String) -> bool {
    s == DEFAULT_MASTER_NAME
}
fn is_default_down(v: &u32) -> bool {
    *v == default_down_after_ms()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(default)]
    pub kind: Kind,
    /// Redis nodes; for `replication` the first one starts as the primary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeSpec>,
    /// Sentinels watching the primary (`replication` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinels: Vec<NodeSpec>,
    /// The name Sentinels know the primary by.
    #[serde(
        default = "default_master_name",
        skip_serializing_if = "is_default_master"
    )]
    pub master_name: String,
    /// Sentinels that must agree the primary is down. [default: a majority]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// `sentinel down-after-milliseconds`.
    #[serde(
        default = "default_down_after_ms",
        skip_serializing_if = "is_default_down"
    )]
    pub down_after_ms: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            kind: Kind::Standalone,
            nodes: vec![],
            sentinels: vec![],
            master_name: default_master_name(),
            quorum: None,
            down_after_ms: default_down_after_ms(),
        }
    }
}

impl Topology {
    pub fn is_standalone(&self) -> bool {
        self.kind == Kind::Standalone
    }
    /// How clients reach the bundle, as `provision env` names it in REDIS_TOPOLOGY:
    /// `standalone`, `replication` (a primary and replicas, no Sentinels), `sentinel`
    /// (replication found through Sentinels) or `cluster`.
    pub fn client_mode(&self) -> &'static str {
        match self.kind {
            Kind::Standalone => "standalone",
            Kind::Replication if self.sentinels.is_empty() => "replication",
            Kind::Replication => "sentinel",
            Kind::Cluster => "cluster",
        }
    }
    /// `--cluster-replicas` for `redis-cli --cluster create`: one replica per primary once
    /// there are enough nodes for three primaries with a replica each (6+), else none. The
    /// spec records nodes, not roles: Redis Cluster assigns them when it is created.
    pub fn cluster_replicas(&self) -> usize {
        if self.kind == Kind::Cluster && self.nodes.len() >= 6 {
            1
        } else {
            0
        }
    }
    pub fn quorum(&self) -> u32 {
        self.quorum.unwrap_or(self.sentinels.len() as u32 / 2 + 1)
    }
    /// Nodes named `redis-1..n` on `port`, `port+1`, ... (and Sentinels `sentinel-1..s` on
    /// 26379, ...), each with `hosts` and its own name as SANs.
    pub fn generated(kind: Kind, n: usize, sentinels: usize, hosts: &[String], port: u16) -> Self {
        let node = |prefix: &str, i: usize, port: u32| NodeSpec {
            name: format!("{prefix}-{}", i + 1),
            hosts: hosts
                .iter()
                .cloned()
                .chain(std::iter::once(format!("{prefix}-{}", i + 1)))
                .collect(),
            port: port.min(65535) as u16,
        };
        Topology {
            kind,
            nodes: (0..n)
                .map(|i| node("redis", i, port as u32 + i as u32))
                .collect(),
            sentinels: (0..sentinels)
                .map(|i| node("sentinel", i, DEFAULT_SENTINEL_PORT as u32 + i as u32))
                .collect(),
            master_name: default_master_name(),
            quorum: None,
            down_after_ms: default_down_after_ms(),
        }
    }

    /// Every problem with the topology.
    pub fn validate(&self, errs: &mut Vec<String>) {
        match self.kind {
            Kind::Standalone => {
                if !self.nodes.is_empty() || !self.sentinels.is_empty() {
                    errs.push("a standalone topology has no `nodes` or `sentinels`; set kind = \"replication\" or \"cluster\"".into());
                }
                return;
            }
            Kind::Replication if self.nodes.len() < 2 => errs.push(format!(
                "a replication topology needs a primary and at least one replica (2+ nodes), got {}",
                self.nodes.len()
            )),
            Kind::Cluster if self.nodes.len() < 3 => errs.push(format!(
                "Redis Cluster needs at least 3 nodes, got {}",
                self.nodes.len()
            )),
            Kind::Cluster if !self.sentinels.is_empty() => errs.push(
                "Sentinels watch a replication topology; Redis Cluster fails over by itself: drop `sentinels`".into(),
            ),
            _ => {}
        }
        if self.kind == Kind::Replication && !self.sentinels.is_empty() {
            if !self
                .master_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || self.master_name.is_empty()
            {
                errs.push(format!(
                    "master name `{}`: use letters, digits, `-`, `_` or `.`",
                    self.master_name
                ));
            }
            let q = self.quorum();
            if q == 0 || q as usize > self.sentinels.len() {
                errs.push(format!(
                    "quorum {q} is impossible with {} Sentinel(s)",
                    self.sentinels.len()
                ));
            }
        }
        let mut seen_names = std::collections::HashSet::new();
        let mut seen_addrs = std::collections::HashSet::new();
        for n in self.nodes.iter().chain(&self.sentinels) {
            if let Err(e) = node_name(&n.name) {
                errs.push(e.to_string());
            }
            if !seen_names.insert(n.name.to_ascii_lowercase()) {
                errs.push(format!("node `{}` is defined twice", n.name));
            }
            if n.hosts.is_empty() {
                errs.push(format!("node `{}` has no hosts", n.name));
            }
            for h in &n.hosts {
                if let Err(e) = validate::host(h) {
                    errs.push(format!("node `{}`: {e}", n.name));
                }
            }
            if n.port == 0 || (self.kind == Kind::Cluster && n.port > 55535) {
                errs.push(format!(
                    "node `{}`: port {} is not usable{}",
                    n.name,
                    n.port,
                    if self.kind == Kind::Cluster {
                        " (cluster nodes need port+10000 for the bus: use 1-55535)"
                    } else {
                        ""
                    }
                ));
            }
            if !n.hosts.is_empty() && !seen_addrs.insert(n.address()) {
                errs.push(format!(
                    "node `{}` has the same address as another node ({})",
                    n.name,
                    n.address()
                ));
            }
        }
    }
}

/// Node names become file names and certificate CNs: a DNS label.
pub fn node_name(v: &str) -> Result<(), super::invalid::Invalid> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(super::invalid::Invalid::NodeName(
            super::invalid::Shown::new(v),
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceKind {
    Redis,
    Sentinel,
}

/// One process of the bundle with the files it owns.
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    pub kind: InstanceKind,
    pub crt: String,
    pub key: String,
    pub conf: String,
    pub hosts: Vec<String>,
    pub port: u16,
    /// For a replica: the primary it starts replicating from.
    pub replica_of: Option<NodeSpec>,
    pub address: String,
}

#[cfg(test)]
mod tests {

    #[test]
    fn kind_names_match_serde_and_parse_back() {
        for (k, name, _) in Kind::ALL {
            assert_eq!(Kind::from_name(name), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(Kind::from_name("sentinel"), None);
    }

    use super::*;

    #[test]
    fn generated_nodes_are_valid_and_distinct() {
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let t = Topology::generated(Kind::Replication, 3, 3, &hosts, 7000);
        let mut errs = vec![];
        t.validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(t.nodes[2].address(), "127.0.0.1:7002");
        assert_eq!(t.sentinels[0].address(), "127.0.0.1:26379");
        assert_eq!(t.quorum(), 2);
        assert!(t.nodes[1].hosts.contains(&"redis-2".to_string()));
    }

    #[test]
    fn client_mode_and_cluster_replicas() {
        let hosts = vec!["127.0.0.1".to_string()];
        assert_eq!(Topology::default().client_mode(), "standalone");
        let r = |s| Topology::generated(Kind::Replication, 3, s, &hosts, 7000);
        assert_eq!(r(0).client_mode(), "replication");
        assert_eq!(r(3).client_mode(), "sentinel");
        let c = |n| Topology::generated(Kind::Cluster, n, 0, &hosts, 7000);
        assert_eq!(c(3).client_mode(), "cluster");
        assert_eq!(c(3).cluster_replicas(), 0);
        assert_eq!(c(5).cluster_replicas(), 0);
        assert_eq!(c(6).cluster_replicas(), 1);
        assert_eq!(r(0).cluster_replicas(), 0);
    }

    #[test]
    fn refuses_impossible_topologies() {
        let hosts = vec!["127.0.0.1".to_string()];
        let mut errs = vec![];
        Topology::generated(Kind::Cluster, 2, 0, &hosts, 7000).validate(&mut errs);
        assert!(errs[0].contains("at least 3"), "{errs:?}");
        let mut errs = vec![];
        let mut t = Topology::generated(Kind::Replication, 2, 1, &hosts, 7000);
        t.quorum = Some(2);
        t.nodes[1].port = 7000;
        t.validate(&mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let mut errs = vec![];
        Topology::generated(Kind::Cluster, 3, 0, &hosts, 60000).validate(&mut errs);
        assert!(errs.iter().any(|e| e.contains("bus")), "{errs:?}");
        assert!(node_name("1abc").is_err() && node_name("a_b").is_err());
    }
}
