//! Network namespaces for a local cluster (`cluster up --netns`): one Linux network namespace
//! per node, all on a private bridge in the host namespace, so that the chaos module can cut
//! a node off the network (see `crate::chaos::partition`) without touching the host's own
//! networking.
//!
//! For a cluster dir whose [tag](dir_tag) is `1a2b3c4d` and the subnet `10.77.0.0/24`:
//!
//! - bridge `as-1a2b3c4d` in the host namespace, with `10.77.0.1/24` (where clients come from);
//! - node N: namespace `as-1a2b3c4d-nN`, a veth pair whose host end `as-1a2b3c4d-vN` is
//!   enslaved to the bridge and whose other end is `eth0` inside the namespace with
//!   `10.77.0.(N+1)/24`; `lo` is up; there is no default route, only the subnet.
//!
//! Nothing is routed off the machine: no NAT, no forwarding, no default route in the nodes,
//! and the subnet must be a private (RFC 1918) one that no interface or route of the host
//! already uses. Every name carries the tag, so two clusters in different dirs never collide
//! and everything a cluster created can be found again from its dir alone.
//!
//! # Caveats
//! Everything here runs `ip` (iproute2) and `nft` (nftables) and needs root. Node-to-node
//! traffic is bridged; when the `br_netfilter` module is loaded, bridged frames also pass the
//! host's netfilter forward hook, so a host firewall whose forward policy is drop (Docker
//! sets one) keeps the nodes from reaching each other. `docs/netns.md` says how to allow it.

use std::fmt;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The client (PLAINTEXT) port of every node: each namespace has its own port space.
pub const BROKER_PORT: u16 = 9092;
/// The controller (KRaft) port of every node.
pub const CONTROLLER_PORT: u16 = 9093;
/// Prefix of every bridge, veth and namespace name aftershock creates.
pub const NAME_PREFIX: &str = "as-";
/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";
/// Where the lock that serializes subnet choice between aftershock processes lives.
const LOCK_DIR: &str = "/run/aftershock";
/// The automatic subnets: `10.77.N.0/24` for the first N that nothing on the host uses.
const AUTO_SUBNET_BASE: [u8; 2] = [10, 77];

/// An IPv4 network in CIDR notation (`10.77.0.0/24`), host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// The network `network/prefix`.
    ///
    /// # Errors
    /// A message when `prefix` is above 32 or `network` has host bits set.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Ipv4Net, String> {
        if prefix > 32 {
            return Err(format!("prefix length /{prefix} is above /32"));
        }
        let net = Ipv4Net::containing(network, prefix);
        if net.network != network {
            return Err(format!("{network}/{prefix} has host bits set; the network is {net}"));
        }
        Ok(net)
    }

    /// The network of prefix length `prefix` that contains `addr` (as `ip addr` shows it).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        let prefix = prefix.min(32);
        Ipv4Net { network: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix }
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` lies in this network.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// Whether `other` lies entirely inside this network.
    pub fn includes(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// The `n`-th host address (`n` = 1 is the first), if it is neither the network nor the
    /// broadcast address.
    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        if n == 0 || u64::from(n) + 1 >= size {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.network) + n))
    }

    /// Number of host addresses (without network and broadcast).
    pub fn hosts(&self) -> u64 {
        (1u64 << (32 - u32::from(self.prefix))).saturating_sub(2)
    }

    /// Whether the network lies inside one of the RFC 1918 private ranges.
    pub fn is_private(&self) -> bool {
        PRIVATE_RANGES.iter().any(|r| r.includes(self))
    }
}

const PRIVATE_RANGES: [Ipv4Net; 3] = [
    Ipv4Net { network: Ipv4Addr::new(10, 0, 0, 0), prefix: 8 },
    Ipv4Net { network: Ipv4Addr::new(172, 16, 0, 0), prefix: 12 },
    Ipv4Net { network: Ipv4Addr::new(192, 168, 0, 0), prefix: 16 },
];

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Ipv4Net, String> {
        let (addr, prefix) =
            s.split_once('/').ok_or_else(|| format!("`{s}` is not an IPv4 network like 10.77.0.0/24"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("`{s}` is not an IPv4 network like 10.77.0.0/24"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("`{s}`: the prefix length must be a number like 24"))?;
        Ipv4Net::new(addr, prefix).map_err(|e| format!("`{s}`: {e}"))
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(s: String) -> Result<Ipv4Net, String> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

/// The network layout of a `--netns` cluster, recorded in its state so that `status`, `down`
/// and the chaos module (in any process) find every namespace, link and address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsLayout {
    /// Hash of the cluster dir that every name below carries (see [`dir_tag`]).
    pub tag: String,
    pub subnet: Ipv4Net,
    /// The bridge in the host namespace.
    pub bridge: String,
    /// The bridge's address: the host side, where clients on the host come from.
    pub bridge_addr: Ipv4Addr,
    pub nodes: Vec<NetnsNode>,
}

/// Where one node lives on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsNode {
    pub id: i32,
    /// The node's network namespace (`ip netns` name).
    pub namespace: String,
    /// The host end of the node's veth pair, enslaved to the bridge.
    pub veth: String,
    /// The node's address on `eth0` in its namespace; it listens and advertises there.
    pub addr: Ipv4Addr,
}

impl NetnsLayout {
    /// Plans (without creating anything) the layout of the cluster in `cluster_dir` with the
    /// nodes `ids` on `subnet`: node N gets the subnet's (N+1)-th address.
    ///
    /// # Errors
    /// [`Error::Usage`] when the subnet is not private or too small for the nodes.
    pub fn plan(cluster_dir: &Path, subnet: Ipv4Net, ids: &[i32]) -> Result<NetnsLayout> {
        check_subnet(subnet, ids.iter().copied().max().unwrap_or(0).max(0) as usize)?;
        let tag = dir_tag(cluster_dir);
        let bridge_addr = subnet.host(1).expect("check_subnet leaves room for the bridge");
        let nodes = ids
            .iter()
            .map(|&id| {
                let addr = u32::try_from(id)
                    .ok()
                    .and_then(|i| subnet.host(i + 1))
                    .ok_or_else(|| Error::Usage(format!("node id {id} has no address in {subnet}")))?;
                Ok(NetnsNode { id, namespace: namespace_name(&tag, id), veth: veth_name(&tag, id), addr })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NetnsLayout { bridge: bridge_name(&tag), tag, subnet, bridge_addr, nodes })
    }

    /// The node with id `id`.
    pub fn node(&self, id: i32) -> Option<&NetnsNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Creates the bridge, the namespaces and the veth pairs. On failure, removes whatever it
    /// had created.
    ///
    /// # Errors
    /// [`Error::Io`] naming the `ip` command that failed and what it printed.
    pub fn create(&self) -> Result<()> {
        let result = self.create_steps();
        if result.is_err() {
            let _ = self.teardown();
        }
        result
    }

    fn create_steps(&self) -> Result<()> {
        let prefix = self.subnet.prefix();
        let br = self.bridge.as_str();
        ip(&["link", "add", br, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}/{prefix}", self.bridge_addr), "dev", br])?;
        ip(&["link", "set", br, "up"])?;
        for n in &self.nodes {
            let ns = n.namespace.as_str();
            ip(&["netns", "add", ns])?;
            ip(&["link", "add", &n.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])?;
            ip(&["link", "set", &n.veth, "master", br])?;
            ip(&["link", "set", &n.veth, "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{}/{prefix}", n.addr), "dev", "eth0"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    /// Removes every namespace, veth and the bridge carrying this layout's tag (also ones
    /// from an earlier layout of the same dir with more nodes). Idempotent: what is already
    /// gone is skipped. Returns what it removed, e.g. `netns as-1a2b3c4d-n1`.
    ///
    /// # Caveats
    /// A namespace that still holds processes lives on (without its veth) until they exit:
    /// stop them first (`LocalCluster::down` does).
    ///
    /// # Errors
    /// [`Error::Io`] when `ip` fails to remove something that exists.
    pub fn teardown(&self) -> Result<Vec<String>> {
        remove_tagged(&self.tag)
    }

    /// What of this layout's tag exists right now (namespaces and links), e.g. to prove that
    /// nothing is left after `down`.
    ///
    /// # Errors
    /// [`Error::Io`] when the links cannot be listed.
    pub fn existing(&self) -> Result<Vec<String>> {
        tagged_objects(&self.tag).map(|o| o.into_iter().map(|o| o.to_string()).collect())
    }
}

/// The tag of a cluster dir: 8 hex digits of the FNV-1a hash of its absolute path. Stable
/// across builds and Rust versions (unlike `DefaultHasher`), so a later aftershock finds the
/// names again.
pub fn dir_tag(cluster_dir: &Path) -> String {
    let abs = std::path::absolute(cluster_dir).unwrap_or_else(|_| cluster_dir.to_path_buf());
    let mut h: u32 = 0x811c_9dc5;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The bridge of the cluster tagged `tag`: `as-<tag>` (11 characters).
pub fn bridge_name(tag: &str) -> String {
    format!("{NAME_PREFIX}{tag}")
}

/// The namespace of node `id`: `as-<tag>-n<id>`.
pub fn namespace_name(tag: &str, id: i32) -> String {
    format!("{NAME_PREFIX}{tag}-n{id}")
}

/// The host end of node `id`'s veth pair: `as-<tag>-v<id>` (at most 15 characters for ids
/// up to 99).
pub fn veth_name(tag: &str, id: i32) -> String {
    format!("{NAME_PREFIX}{tag}-v{id}")
}

/// Checks that `subnet` is private and holds the bridge and `nodes` nodes.
///
/// # Errors
/// [`Error::Usage`] saying what is wrong with it.
pub fn check_subnet(subnet: Ipv4Net, nodes: usize) -> Result<()> {
    if !subnet.is_private() {
        return Err(Error::Usage(format!(
            "--subnet {subnet} is not a private network: it must lie inside 10.0.0.0/8, 172.16.0.0/12 or \
             192.168.0.0/16, so that no address of the cluster can mean a host off this machine"
        )));
    }
    if subnet.hosts() < nodes as u64 + 1 {
        return Err(Error::Usage(format!(
            "--subnet {subnet} has {} host address(es), but the bridge and {nodes} node(s) need {}",
            subnet.hosts(),
            nodes + 1
        )));
    }
    Ok(())
}

/// Checks what `--netns` needs: root, and `ip` and `nft` on the PATH.
///
/// # Errors
/// [`Error::Usage`] naming the reason and how to fix it.
pub fn check_prerequisites() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Usage(format!(
            "--netns needs root: it creates network namespaces, veth pairs, a bridge and nftables rules, \
             which only root (CAP_NET_ADMIN and CAP_SYS_ADMIN) may do; this process runs as uid {}. \
             Run it as root (e.g. with sudo), or without --netns",
            nix::unistd::geteuid()
        )));
    }
    let missing: Vec<&str> = [("ip", "iproute2"), ("nft", "nftables")]
        .into_iter()
        .filter(|(cmd, _)| which(cmd).is_none())
        .map(|(cmd, _)| cmd)
        .collect();
    if !missing.is_empty() {
        let (list, verb) = match missing.as_slice() {
            [one] => (format!("`{one}`"), "is"),
            _ => (missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" and "), "are"),
        };
        return Err(Error::Usage(format!(
            "--netns needs `ip` (iproute2) and `nft` (nftables), but {list} {verb} not on the PATH; install them \
             (Debian/Ubuntu: `apt-get install -y iproute2 nftables`)"
        )));
    }
    Ok(())
}

/// The first executable file named `cmd` on the PATH.
pub fn which(cmd: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(cmd))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Holds the host-wide lock that serializes subnet choice and network creation between
/// aftershock processes, until dropped.
///
/// # Errors
/// [`Error::Io`] when the lock file cannot be created or locked.
pub fn setup_lock() -> Result<File> {
    host_lock("netns")
}

/// Holds the host-wide lock `/run/aftershock/NAME.lock` (an exclusive `flock`) until dropped:
/// serializes edits that several aftershock processes could make at once.
///
/// # Errors
/// [`Error::Io`] when the lock file cannot be created or locked.
pub fn host_lock(name: &str) -> Result<File> {
    std::fs::create_dir_all(LOCK_DIR).map_err(Error::io(format!("creating {LOCK_DIR}")))?;
    let path = Path::new(LOCK_DIR).join(format!("{name}.lock"));
    let f = File::create(&path).map_err(Error::io(format!("creating {}", path.display())))?;
    f.lock().map_err(Error::io(format!("locking {}", path.display())))?;
    Ok(f)
}

/// What on the host already uses networks that a cluster subnet must not overlap: every
/// IPv4 address of every interface, and every route of the main table but the default one.
/// Each entry is the network and a description like `address 10.77.0.1/24 on as-1a2b3c4d`.
///
/// # Errors
/// [`Error::Io`] when `ip` fails or prints something unexpected.
pub fn networks_in_use() -> Result<Vec<(Ipv4Net, String, String)>> {
    let mut used = Vec::new();
    let addrs: serde_json::Value = ip_json(&["-4", "addr", "show"])?;
    for link in addrs.as_array().into_iter().flatten() {
        let ifname = link["ifname"].as_str().unwrap_or("?").to_string();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let (Some(local), Some(prefix)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else { continue };
            let Ok(local) = local.parse::<Ipv4Addr>() else { continue };
            used.push((
                Ipv4Net::containing(local, prefix as u8),
                format!("address {local}/{prefix} on {ifname}"),
                ifname.clone(),
            ));
        }
    }
    let routes: serde_json::Value = ip_json(&["-4", "route", "show"])?;
    for r in routes.as_array().into_iter().flatten() {
        let Some(dst) = r["dst"].as_str() else { continue };
        if dst == "default" {
            continue;
        }
        let net = if dst.contains('/') {
            dst.split_once('/').and_then(|(a, p)| Some(Ipv4Net::containing(a.parse().ok()?, p.parse().ok()?)))
        } else {
            dst.parse().ok().map(|a| Ipv4Net::containing(a, 32))
        };
        let dev = r["dev"].as_str().unwrap_or("?").to_string();
        if let Some(net) = net {
            used.push((net, format!("route {dst} dev {dev}"), dev));
        }
    }
    Ok(used)
}

/// Why `subnet` cannot be used: whatever on the host overlaps it, except the links named
/// `own_bridge` (an earlier incarnation of the same cluster).
fn conflicts(used: &[(Ipv4Net, String, String)], subnet: Ipv4Net, own_bridge: &str) -> Vec<String> {
    let mut devs: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (net, what, dev) in used {
        // One entry per interface: its address and its route say the same thing.
        if dev == own_bridge || !net.overlaps(&subnet) || devs.contains(&dev.as_str()) {
            continue;
        }
        devs.push(dev);
        out.push(if dev.starts_with(NAME_PREFIX) {
            format!("{what} (the bridge of another aftershock --netns cluster)")
        } else {
            what.clone()
        });
    }
    out
}

/// The subnet to use: `requested` if nothing on the host overlaps it, else the first free
/// `10.77.N.0/24`. Call with the [`setup_lock`] held, so that two `up`s do not pick the same.
///
/// # Errors
/// [`Error::Usage`] when the requested subnet is invalid or in use (saying by what), or no
/// automatic subnet is free.
pub fn choose_subnet(requested: Option<Ipv4Net>, nodes: usize, own_bridge: &str) -> Result<Ipv4Net> {
    let used = networks_in_use()?;
    if let Some(subnet) = requested {
        check_subnet(subnet, nodes)?;
        let c = conflicts(&used, subnet, own_bridge);
        if !c.is_empty() {
            return Err(Error::Usage(format!(
                "--subnet {subnet} is already in use on this host: {}; pick another private subnet with --subnet \
                 (or stop the cluster using it)",
                c.join("; ")
            )));
        }
        return Ok(subnet);
    }
    (0..=255u8)
        .map(|n| Ipv4Net { network: Ipv4Addr::new(AUTO_SUBNET_BASE[0], AUTO_SUBNET_BASE[1], n, 0), prefix: 24 })
        .find(|s| conflicts(&used, *s, own_bridge).is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "every automatic subnet {}.{}.N.0/24 is in use on this host; pick a free private one with --subnet",
                AUTO_SUBNET_BASE[0], AUTO_SUBNET_BASE[1]
            ))
        })
}

/// One network object named after a cluster tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetObject {
    Namespace(String),
    Link(String),
}

impl fmt::Display for NetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetObject::Namespace(n) => write!(f, "netns {n}"),
            NetObject::Link(n) => write!(f, "link {n}"),
        }
    }
}

fn is_tagged(name: &str, tag: &str) -> bool {
    let bridge = bridge_name(tag);
    name == bridge || name.strip_prefix(&bridge).is_some_and(|rest| rest.starts_with('-'))
}

/// Every namespace and host link named after `tag`.
///
/// # Errors
/// [`Error::Io`] when the links cannot be listed.
pub fn tagged_objects(tag: &str) -> Result<Vec<NetObject>> {
    let mut out: Vec<NetObject> =
        namespaces().into_iter().filter(|n| is_tagged(n, tag)).map(NetObject::Namespace).collect();
    let links: serde_json::Value = ip_json(&["link", "show"])?;
    for l in links.as_array().into_iter().flatten() {
        // A veth whose peer is in a namespace shows as `as-...-v1@if2`; `ifname` has no suffix.
        if let Some(name) = l["ifname"].as_str().filter(|n| is_tagged(n, tag)) {
            out.push(NetObject::Link(name.to_string()));
        }
    }
    Ok(out)
}

/// Removes every namespace and link named after `tag`: veths first, then namespaces, then
/// the bridge. Returns what it removed.
fn remove_tagged(tag: &str) -> Result<Vec<String>> {
    let objects = tagged_objects(tag)?;
    let bridge = bridge_name(tag);
    let mut removed = Vec::new();
    let mut first_err = None;
    let mut note = |r: Result<()>, what: &NetObject| match r {
        Ok(()) => removed.push(what.to_string()),
        Err(e) => {
            if first_err.is_none() {
                first_err = Some(e);
            }
        }
    };
    // NB: deleting the host end of a veth deletes its peer too, so the order below never
    // leaves an `eth0` behind in a namespace that outlives its deletion (held by a process).
    for o in objects.iter().filter(|o| matches!(o, NetObject::Link(n) if *n != bridge)) {
        let NetObject::Link(n) = o else { continue };
        note(ip(&["link", "del", n]).map(drop), o);
    }
    for o in objects.iter().filter(|o| matches!(o, NetObject::Namespace(_))) {
        let NetObject::Namespace(n) = o else { continue };
        note(ip(&["netns", "del", n]).map(drop), o);
    }
    for o in objects.iter().filter(|o| matches!(o, NetObject::Link(n) if *n == bridge)) {
        note(ip(&["link", "del", &bridge]).map(drop), o);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Removes what an earlier cluster of the same dir (same `tag`) left on the network, unless
/// a process still lives in one of its namespaces.
///
/// # Errors
/// [`Error::AlreadyRunning`] naming the processes when one of the namespaces is in use;
/// [`Error::Io`] when removing fails.
pub fn reclaim(tag: &str, cluster_dir: &Path) -> Result<Vec<String>> {
    let mut pids = Vec::new();
    for o in tagged_objects(tag)? {
        if let NetObject::Namespace(ns) = o {
            pids.extend(namespace_pids(&ns));
        }
    }
    if !pids.is_empty() {
        pids.sort_unstable();
        return Err(Error::AlreadyRunning { dir: cluster_dir.to_path_buf(), pids });
    }
    remove_tagged(tag)
}

/// The names of every `ip netns` namespace.
pub fn namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
}

/// Whether the named namespace exists.
pub fn namespace_exists(namespace: &str) -> bool {
    !namespace.is_empty() && !namespace.contains('/') && Path::new(NETNS_DIR).join(namespace).exists()
}

/// The pids of the processes inside the named namespace (empty when it does not exist).
pub fn namespace_pids(namespace: &str) -> Vec<u32> {
    if !namespace_exists(namespace) {
        return Vec::new();
    }
    ip(&["netns", "pids", namespace])
        .map(|out| out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// A command that runs `program` inside `namespace` (`ip netns exec NS program`). `ip`
/// execs the program in place, so the child's pid is the program's.
pub fn command_in(namespace: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", namespace]).arg(program);
    cmd
}

/// Runs `nft ARGS` inside `namespace`, with `script` on stdin when given (for `nft -f -`),
/// and returns its stdout.
///
/// # Errors
/// [`Error::Io`] naming the command and what nft printed when it fails.
pub fn nft(namespace: &str, args: &[&str], script: Option<&str>) -> Result<String> {
    let mut cmd = command_in(namespace, "nft");
    cmd.args(args);
    let what = format!("running `ip netns exec {namespace} nft {}`", args.join(" "));
    run(cmd, script, what)
}

/// Runs `f` on a fresh thread that has entered `namespace` (the network namespace only), and
/// returns its result. Sockets `f` creates stay in that namespace after the thread ends, so
/// this is how a test binds a listener "inside" a node.
///
/// # Errors
/// [`Error::Io`] when the namespace cannot be opened or entered.
pub fn in_namespace<T: Send>(namespace: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let path = Path::new(NETNS_DIR).join(namespace);
    let fd = File::open(&path).map_err(Error::io(format!("opening network namespace {}", path.display())))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
                context: format!("entering network namespace {namespace}"),
                source: e.into(),
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Failed(format!("a thread in network namespace {namespace} panicked"))))
    })
}

/// Runs `ip ARGS` and returns its stdout.
fn ip(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run(cmd, None, format!("running `ip {}`", args.join(" ")))
}

fn ip_json(args: &[&str]) -> Result<serde_json::Value> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = ip(&full)?;
    if out.trim().is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_str(&out).map_err(|e| Error::Io {
        context: format!("reading the output of `ip {}`", full.join(" ")),
        source: std::io::Error::other(e),
    })
}

fn run(mut cmd: Command, stdin: Option<&str>, what: String) -> Result<String> {
    use std::io::Write as _;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(Error::io(what.clone()))?;
    if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(script.as_bytes()).map_err(Error::io(what.clone()))?;
    }
    let out = child.wait_with_output().map_err(Error::io(what.clone()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Io { context: what, source: std::io::Error::other(format!("{}: {err}", out.status)) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_parse_print_and_reject_nonsense() {
        assert_eq!(net("10.77.0.0/24").to_string(), "10.77.0.0/24");
        assert_eq!(net("10.77.0.0/24").network(), Ipv4Addr::new(10, 77, 0, 0));
        assert!("10.77.0.5/24".parse::<Ipv4Net>().unwrap_err().contains("host bits"));
        assert!("10.77.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.77.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("ten/8".parse::<Ipv4Net>().is_err());
        let json = serde_json::to_string(&net("192.168.4.0/22")).unwrap();
        assert_eq!(json, "\"192.168.4.0/22\"");
        assert_eq!(serde_json::from_str::<Ipv4Net>(&json).unwrap(), net("192.168.4.0/22"));
        assert!(serde_json::from_str::<Ipv4Net>("\"1.2.3.4/8\"").is_err());
    }

    #[test]
    fn subnet_arithmetic() {
        let s = net("10.77.0.0/24");
        assert_eq!(s.host(1), Some(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(s.host(254), Some(Ipv4Addr::new(10, 77, 0, 254)));
        assert_eq!(s.host(255), None, "the broadcast address");
        assert_eq!(s.host(0), None, "the network address");
        assert_eq!(s.hosts(), 254);
        assert!(s.contains(Ipv4Addr::new(10, 77, 0, 9)));
        assert!(!s.contains(Ipv4Addr::new(10, 77, 1, 9)));
        assert!(s.overlaps(&net("10.0.0.0/8")));
        assert!(net("10.0.0.0/8").overlaps(&s));
        assert!(!s.overlaps(&net("10.77.1.0/24")));
        assert_eq!(Ipv4Net::containing(Ipv4Addr::new(10, 77, 3, 1), 24), net("10.77.3.0/24"));
        assert!(s.is_private());
        assert!(net("172.20.0.0/16").is_private());
        assert!(net("192.168.1.0/24").is_private());
        assert!(!net("172.32.0.0/16").is_private());
        assert!(!net("8.8.8.0/24").is_private());
        assert!(!net("10.0.0.0/7").is_private());
    }

    #[test]
    fn subnet_checks() {
        check_subnet(net("10.77.0.0/24"), 64).unwrap();
        check_subnet(net("10.77.0.0/29"), 5).unwrap();
        let e = check_subnet(net("10.77.0.0/29"), 6).unwrap_err().to_string();
        assert!(e.contains("need 7"), "{e}");
        let e = check_subnet(net("100.64.0.0/24"), 3).unwrap_err().to_string();
        assert!(e.contains("not a private network"), "{e}");
    }

    #[test]
    fn names_derive_from_the_dir_and_fit_linux_limits() {
        let a = dir_tag(Path::new("/tmp/a/cluster"));
        let b = dir_tag(Path::new("/tmp/b/cluster"));
        assert_ne!(a, b);
        assert_eq!(a, dir_tag(Path::new("/tmp/a/cluster")), "stable");
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        // FNV-1a of a fixed string: the names must not change between builds.
        assert_eq!(
            dir_tag(Path::new("/x")),
            format!("{:08x}", {
                let mut h: u32 = 0x811c_9dc5;
                for b in b"/x" {
                    h ^= u32::from(*b);
                    h = h.wrapping_mul(0x0100_0193);
                }
                h
            })
        );
        let l =
            NetnsLayout::plan(Path::new("/tmp/a/cluster"), net("10.77.0.0/24"), &(1..=64).collect::<Vec<_>>()).unwrap();
        assert_eq!(l.bridge, format!("as-{a}"));
        assert_eq!(l.bridge_addr, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(l.nodes[0].namespace, format!("as-{a}-n1"));
        assert_eq!(l.nodes[0].veth, format!("as-{a}-v1"));
        assert_eq!(l.nodes[0].addr, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(l.nodes[2].addr, Ipv4Addr::new(10, 77, 0, 4));
        assert_eq!(l.node(64).unwrap().addr, Ipv4Addr::new(10, 77, 0, 65));
        for n in &l.nodes {
            assert!(n.veth.len() <= IFNAME_MAX, "{}", n.veth);
            assert!(is_tagged(&n.namespace, &a) && is_tagged(&n.veth, &a));
        }
        assert!(l.bridge.len() <= IFNAME_MAX);
        assert!(is_tagged(&l.bridge, &a));
        assert!(!is_tagged(&format!("as-{b}"), &a));
        assert!(!is_tagged(&format!("as-{a}0"), &a));
        assert!(!is_tagged("eth0", &a));
        // a subnet too small for the ids
        assert!(NetnsLayout::plan(Path::new("/t"), net("10.77.0.0/30"), &[1, 2]).is_err());
    }

    #[test]
    fn layout_round_trips_through_json() {
        let l = NetnsLayout::plan(Path::new("/tmp/c"), net("192.168.50.0/24"), &[1, 2, 3]).unwrap();
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["subnet"], "192.168.50.0/24");
        assert_eq!(v["bridge_addr"], "192.168.50.1");
        assert_eq!(v["nodes"][1]["addr"], "192.168.50.3");
        assert_eq!(serde_json::from_value::<NetnsLayout>(v).unwrap(), l);
    }

    #[test]
    fn conflicts_name_what_overlaps() {
        let used = vec![
            (net("10.77.0.0/24"), "address 10.77.0.1/24 on as-00000000".to_string(), "as-00000000".to_string()),
            (net("192.0.2.0/24"), "route 192.0.2.0/24 dev eth0".to_string(), "eth0".to_string()),
            (net("172.16.0.0/12"), "route 172.16.0.0/12 dev docker0".to_string(), "docker0".to_string()),
            (net("10.77.0.0/24"), "route 10.77.0.0/24 dev as-00000000".to_string(), "as-00000000".to_string()),
        ];
        let c = conflicts(&used, net("10.77.0.0/24"), "as-11111111");
        assert_eq!(c.len(), 1);
        assert!(c[0].contains("another aftershock"), "{c:?}");
        assert!(conflicts(&used, net("10.77.0.0/24"), "as-00000000").is_empty(), "its own bridge is no conflict");
        assert!(conflicts(&used, net("10.77.1.0/24"), "as-11111111").is_empty());
        assert_eq!(conflicts(&used, net("172.20.0.0/24"), "x"), vec!["route 172.16.0.0/12 dev docker0".to_string()]);
    }
}
