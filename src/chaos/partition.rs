//! Network partitions of a `--netns` cluster (see [`crate::cluster::netns`]): nftables rules
//! inside one node's network namespace that drop its traffic to and/or from chosen peers.
//!
//! Every rule lives in one table per namespace, `inet aftershock`, with two base chains
//! (`input` and `output`, priority -300, policy accept) and drop rules that match peer
//! addresses. Each [`PartitionGuard`] marks its rules with a unique tag in their comments, so
//! that [`PartitionGuard::revert`] removes exactly its own rules (and the table once it holds
//! no rule), while [`heal_all`] simply deletes the table in every namespace of the cluster:
//! the clean-up after a crash, since rules outlive the process that added them.
//!
//! The rules apply to every packet, established connections included: there is no conntrack
//! "established, accept" shortcut, and the chains run before conntrack (priority -300), so a
//! cut stalls open connections as well as new ones. ARP is not filtered, so healing is
//! instant (no neighbour entry has expired).
//!
//! # Caveats
//! A one-way cut is one-way per packet. TCP needs both directions, so an inbound-only or
//! outbound-only cut still breaks TCP connections (the handshake or the ACKs are lost); what
//! differs is which side's packets still arrive (datagrams, retransmissions that pile up,
//! connection attempts the peer sees or not).
//!
//! ```no_run
//! use aftershock::chaos::partition::{self, Direction, Peers};
//! use aftershock::cluster::LocalCluster;
//!
//! let cluster = LocalCluster::open(std::path::Path::new("/tmp/c"))?;
//! let layout = cluster.netns().expect("a --netns cluster");
//! let cut = partition::apply(layout, 2, Peers::OtherNodes, Direction::Both)?;
//! // ... node 2 can no longer talk to nodes 1 and 3; clients still reach it ...
//! cut.revert()?;
//! assert!(partition::active_rules(layout)?.is_empty());
//! # Ok::<(), aftershock::Error>(())
//! ```

use serde::Serialize;
use std::net::Ipv4Addr;

use crate::cluster::netns::{self, NetnsLayout};
use crate::error::{Error, Result};
pub use crate::scenario::fault::{Direction, Peers};

/// The nftables table holding every partition rule of a namespace.
pub const TABLE: &str = "aftershock";
/// The table's family: `inet` covers IPv4 and IPv6 in one table.
pub const FAMILY: &str = "inet";
/// Priority of the base chains: before conntrack (-200), so no state tracking sees dropped
/// packets and no "established" shortcut can apply.
pub const CHAIN_PRIORITY: i32 = -300;
/// Start of every rule comment aftershock writes.
const COMMENT_PREFIX: &str = "aftershock partition";
/// The lock (under `/run/aftershock`) that serializes rule edits between processes.
const LOCK: &str = "nft";

impl Peers {
    /// The addresses node `node` is cut off from.
    pub fn addresses(self, layout: &NetnsLayout, node: i32) -> Vec<Ipv4Addr> {
        let others = layout.nodes.iter().filter(|n| n.id != node).map(|n| n.addr);
        match self {
            Peers::OtherNodes => others.collect(),
            Peers::Clients => vec![layout.bridge_addr],
            Peers::All => std::iter::once(layout.bridge_addr).chain(others).collect(),
        }
    }
}

/// An applied partition. [`revert`](PartitionGuard::revert) removes its rules; dropping the
/// guard does the same, best effort (a failure is logged).
#[derive(Debug)]
#[must_use = "dropping a PartitionGuard heals the partition at once"]
pub struct PartitionGuard {
    node: i32,
    namespace: String,
    peers: Peers,
    direction: Direction,
    addrs: Vec<Ipv4Addr>,
    tag: String,
    active: bool,
}

/// Cuts node `node` of the cluster off from `peers` in `direction`, by adding drop rules to
/// the `inet aftershock` table in its namespace (creating the table and its chains when
/// needed). Several partitions of the same node can be active at once.
///
/// # Errors
/// [`Error::Usage`] when the layout has no such node or the node has no peers of that kind;
/// [`Error::Failed`] when its namespace does not exist (the cluster is down); [`Error::Io`] when nft fails.
pub fn apply(layout: &NetnsLayout, node: i32, peers: Peers, direction: Direction) -> Result<PartitionGuard> {
    let n = layout.node(node).ok_or_else(|| Error::Usage(format!("the cluster has no node {node} to partition")))?;
    let addrs = peers.addresses(layout, node);
    if addrs.is_empty() {
        return Err(Error::Usage(format!(
            "node {node} is the cluster's only node: there are no other nodes to cut it off from"
        )));
    }
    if !netns::namespace_exists(&n.namespace) {
        return Err(Error::Failed(format!(
            "network namespace {} of node {node} does not exist: is the cluster up?",
            n.namespace
        )));
    }
    let tag = new_tag();
    let script = apply_script(&tag, node, peers, direction, &addrs);
    let _lock = netns::host_lock(LOCK)?;
    netns::nft(&n.namespace, &["-f", "-"], Some(&script))?;
    let guard = PartitionGuard { node, namespace: n.namespace.clone(), peers, direction, addrs, tag, active: true };
    // NB: prove the rules are in place (and findable for revert) before reporting success.
    let mine = table_rules(&guard.namespace)?.into_iter().filter(|r| guard.owns(r)).count();
    if mine != expected_rules(direction) {
        return Err(Error::Io {
            context: format!("partitioning node {node} in {}", guard.namespace),
            source: std::io::Error::other(format!(
                "expected {} rule(s) after loading them, found {mine}",
                expected_rules(direction)
            )),
        });
    }
    Ok(guard)
}

impl PartitionGuard {
    /// The partitioned node.
    pub fn node(&self) -> i32 {
        self.node
    }

    /// The namespace holding the rules.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn peers(&self) -> Peers {
        self.peers
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The addresses the node is cut off from.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.addrs
    }

    /// The marker in the comments of this guard's rules.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// How the partition reads in timelines: `node 2 cut off from the other nodes (inbound)`.
    pub fn describe(&self) -> String {
        format!("node {} cut off from {} ({})", self.node, self.peers, self.direction)
    }

    /// Removes exactly the rules this guard added, and the table when no other rule is left
    /// in it. A namespace or table that is already gone (the cluster is down, or
    /// [`heal_all`] ran) is not an error.
    ///
    /// # Errors
    /// [`Error::Io`] when nft fails; the guard is then spent, and [`heal_all`] is the way out.
    pub fn revert(mut self) -> Result<()> {
        self.revert_now()
    }

    fn owns(&self, r: &ActiveRule) -> bool {
        r.comment.split_whitespace().any(|w| w == self.tag)
    }

    fn revert_now(&mut self) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let _lock = netns::host_lock(LOCK)?;
        if !netns::namespace_exists(&self.namespace) {
            return Ok(());
        }
        let rules = table_rules(&self.namespace)?;
        let mine: Vec<&ActiveRule> = rules.iter().filter(|r| self.owns(r)).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let script = if mine.len() == rules.len() {
            format!("delete table {FAMILY} {TABLE}\n")
        } else {
            mine.iter().map(|r| format!("delete rule {FAMILY} {TABLE} {} handle {}\n", r.chain, r.handle)).collect()
        };
        netns::nft(&self.namespace, &["-f", "-"], Some(&script)).map(drop)
    }
}

impl Drop for PartitionGuard {
    fn drop(&mut self) {
        if let Err(e) = self.revert_now() {
            tracing::warn!(
                "healing the partition of node {} ({}) failed: {e}; `aftershock heal` removes every partition rule",
                self.node,
                self.namespace
            );
        }
    }
}

/// One partition rule found in a node's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveRule {
    pub node: i32,
    pub namespace: String,
    /// `input` or `output`.
    pub chain: String,
    /// nft's handle of the rule.
    pub handle: u64,
    /// The rule's comment, e.g. `aftershock partition 1f2e3d4c5b6a: node 2 inbound from the clients`.
    pub comment: String,
}

/// Every partition rule in the namespaces of the cluster (empty when none is active or the
/// namespaces are gone).
///
/// # Errors
/// [`Error::Io`] when nft fails.
pub fn active_rules(layout: &NetnsLayout) -> Result<Vec<ActiveRule>> {
    let mut out = Vec::new();
    for n in &layout.nodes {
        if !netns::namespace_exists(&n.namespace) {
            continue;
        }
        out.extend(table_rules(&n.namespace)?.into_iter().map(|r| ActiveRule { node: n.id, ..r }));
    }
    Ok(out)
}

/// Deletes the `inet aftershock` table in every namespace of the cluster, whoever added its
/// rules: the way back after a crash left partitions behind. Returns what it removed, e.g.
/// `node 2 (as-1a2b3c4d-n2): table inet aftershock with 2 rule(s)`; empty when nothing was
/// left.
///
/// # Errors
/// [`Error::Io`] when nft fails (the other namespaces are still healed first).
pub fn heal_all(layout: &NetnsLayout) -> Result<Vec<String>> {
    let _lock = netns::host_lock(LOCK)?;
    let mut removed = Vec::new();
    let mut first_err = None;
    for n in &layout.nodes {
        if !netns::namespace_exists(&n.namespace) {
            continue;
        }
        let result = has_table(&n.namespace).and_then(|has| {
            if !has {
                return Ok(None);
            }
            let rules = table_rules(&n.namespace)?.len();
            netns::nft(&n.namespace, &["delete", "table", FAMILY, TABLE], None)?;
            Ok(Some(rules))
        });
        match result {
            Ok(Some(rules)) => {
                removed.push(format!("node {} ({}): table {FAMILY} {TABLE} with {rules} rule(s)", n.id, n.namespace))
            }
            Ok(None) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The nft script that adds a partition: the table and chains (idempotent `add`), then one
/// drop rule per direction, each commented with the guard's tag.
fn apply_script(tag: &str, node: i32, peers: Peers, direction: Direction, addrs: &[Ipv4Addr]) -> String {
    let set = addrs.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(", ");
    let mut s = format!("add table {FAMILY} {TABLE}\n");
    for (chain, hook) in [("input", "input"), ("output", "output")] {
        s.push_str(&format!(
            "add chain {FAMILY} {TABLE} {chain} {{ type filter hook {hook} priority {CHAIN_PRIORITY}; policy accept; }}\n"
        ));
    }
    let peers_word = match peers {
        Peers::OtherNodes => "other-nodes",
        Peers::Clients => "clients",
        Peers::All => "all",
    };
    if matches!(direction, Direction::Both | Direction::Inbound) {
        s.push_str(&format!(
            "add rule {FAMILY} {TABLE} input ip saddr {{ {set} }} counter drop comment \"{COMMENT_PREFIX} {tag} : node {node} inbound from {peers_word}\"\n"
        ));
    }
    if matches!(direction, Direction::Both | Direction::Outbound) {
        s.push_str(&format!(
            "add rule {FAMILY} {TABLE} output ip daddr {{ {set} }} counter drop comment \"{COMMENT_PREFIX} {tag} : node {node} outbound to {peers_word}\"\n"
        ));
    }
    s
}

fn expected_rules(direction: Direction) -> usize {
    match direction {
        Direction::Both => 2,
        Direction::Inbound | Direction::Outbound => 1,
    }
}

/// A tag unique to one guard: 12 random hex digits.
fn new_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

fn has_table(namespace: &str) -> Result<bool> {
    let out = netns::nft(namespace, &["-j", "list", "tables"], None)?;
    Ok(parse_objects(&out, namespace)?.iter().any(|o| o["table"]["family"] == FAMILY && o["table"]["name"] == TABLE))
}

/// The rules of the `inet aftershock` table in `namespace` (empty without the table).
fn table_rules(namespace: &str) -> Result<Vec<ActiveRule>> {
    if !has_table(namespace)? {
        return Ok(Vec::new());
    }
    let out = netns::nft(namespace, &["-j", "list", "table", FAMILY, TABLE], None)?;
    Ok(rules_from_json(&parse_objects(&out, namespace)?, namespace))
}

fn parse_objects(out: &str, namespace: &str) -> Result<Vec<serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_str(out).map_err(|e| Error::Io {
        context: format!("reading nft's JSON output in {namespace}"),
        source: std::io::Error::other(e),
    })?;
    Ok(v["nftables"].as_array().cloned().unwrap_or_default())
}

fn rules_from_json(objects: &[serde_json::Value], namespace: &str) -> Vec<ActiveRule> {
    objects
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["family"] == FAMILY && r["table"] == TABLE)
        .map(|r| ActiveRule {
            node: 0,
            namespace: namespace.to_string(),
            chain: r["chain"].as_str().unwrap_or_default().to_string(),
            handle: r["handle"].as_u64().unwrap_or_default(),
            comment: r["comment"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> NetnsLayout {
        NetnsLayout::plan(std::path::Path::new("/tmp/p"), "10.77.0.0/24".parse().unwrap(), &[1, 2, 3]).unwrap()
    }

    #[test]
    fn peers_resolve_to_addresses() {
        let l = layout();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(Peers::OtherNodes.addresses(&l, 2), vec![ip("10.77.0.2"), ip("10.77.0.4")]);
        assert_eq!(Peers::Clients.addresses(&l, 2), vec![ip("10.77.0.1")]);
        assert_eq!(Peers::All.addresses(&l, 1), vec![ip("10.77.0.1"), ip("10.77.0.3"), ip("10.77.0.4")]);
    }

    #[test]
    fn scripts_have_one_rule_per_direction() {
        let addrs: Vec<Ipv4Addr> = vec!["10.77.0.2".parse().unwrap(), "10.77.0.4".parse().unwrap()];
        let s = apply_script("abc123", 2, Peers::OtherNodes, Direction::Both, &addrs);
        assert!(s.starts_with("add table inet aftershock\n"), "{s}");
        assert!(
            s.contains("add chain inet aftershock input { type filter hook input priority -300; policy accept; }"),
            "{s}"
        );
        assert!(
            s.contains("add chain inet aftershock output { type filter hook output priority -300; policy accept; }"),
            "{s}"
        );
        assert!(s.contains("input ip saddr { 10.77.0.2, 10.77.0.4 } counter drop comment \"aftershock partition abc123 : node 2 inbound from other-nodes\""), "{s}");
        assert!(s.contains("output ip daddr { 10.77.0.2, 10.77.0.4 } counter drop"), "{s}");
        assert!(!s.contains("established"), "no conntrack shortcut: {s}");
        let s = apply_script("t", 1, Peers::Clients, Direction::Inbound, &addrs[..1]);
        assert_eq!(s.matches("add rule").count(), 1);
        assert!(s.contains("input ip saddr"));
        let s = apply_script("t", 1, Peers::Clients, Direction::Outbound, &addrs[..1]);
        assert_eq!(s.matches("add rule").count(), 1);
        assert!(s.contains("output ip daddr"));
    }

    #[test]
    fn rules_are_read_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "aftershock", "handle": 1}},
            {"chain": {"family": "inet", "table": "aftershock", "name": "input", "handle": 1}},
            {"rule": {"family": "inet", "table": "aftershock", "chain": "input", "handle": 3,
                      "comment": "aftershock partition abc : node 2 inbound from clients", "expr": []}},
            {"rule": {"family": "inet", "table": "other", "chain": "input", "handle": 4, "expr": []}}]}"#;
        let objs = parse_objects(json, "ns").unwrap();
        let rules = rules_from_json(&objs, "ns");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].chain, "input");
        assert_eq!(rules[0].handle, 3);
        let g = PartitionGuard {
            node: 2,
            namespace: "ns".into(),
            peers: Peers::Clients,
            direction: Direction::Inbound,
            addrs: vec![],
            tag: "abc".into(),
            active: false,
        };
        assert!(g.owns(&rules[0]));
        let other = PartitionGuard {
            node: 2,
            namespace: "ns".into(),
            peers: Peers::Clients,
            direction: Direction::Inbound,
            addrs: vec![],
            tag: "ab".into(),
            active: false,
        };
        assert!(!other.owns(&rules[0]), "tags match whole words only");
        assert_eq!(other.describe(), "node 2 cut off from the clients (inbound)");
    }

    #[test]
    fn apply_refuses_what_cannot_work() {
        let l = layout();
        let e = apply(&l, 9, Peers::All, Direction::Both).unwrap_err();
        assert!(e.to_string().contains("no node 9"), "{e}");
        let one = NetnsLayout::plan(std::path::Path::new("/tmp/p"), "10.77.0.0/24".parse().unwrap(), &[1]).unwrap();
        let e = apply(&one, 1, Peers::OtherNodes, Direction::Both).unwrap_err();
        assert!(e.to_string().contains("only node"), "{e}");
        // The planned namespaces were never created.
        let e = apply(&l, 1, Peers::Clients, Direction::Both).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn enums_read_like_scenario_files() {
        assert_eq!(serde_json::to_string(&Peers::OtherNodes).unwrap(), "\"other_nodes\"");
        assert_eq!(serde_json::from_str::<Direction>("\"inbound\"").unwrap(), Direction::Inbound);
    }
}
