//! A local cluster of real Apache Kafka processes in KRaft mode (each node broker and
//! controller): fetch the jars, format storage, start and supervise the JVMs, stop them.
//!
//! Everything needed to find the nodes again lives in the cluster dir (see [`state`]), so
//! `status`, `down` and the chaos module work from a different process than the one that
//! ran `up`, including after that one crashed.

pub mod dist;
pub mod netns;
pub mod probe;
pub mod process;
pub mod props;
pub mod registry;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use nix::sys::signal::Signal;
use serde::Serialize;

use crate::error::{Error, Result};
pub use netns::{Ipv4Net, NetnsLayout, NetnsNode};
pub use state::{ClusterState, NodePaths, NodeState};

/// File name of the shared log4j2 configuration in a cluster dir.
const LOG4J_FILE: &str = "log4j2.properties";

/// How `up` builds a cluster.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dir: PathBuf,
    pub nodes: usize,
    pub kafka_version: String,
    /// JVM heap per node (-Xmx and -Xms), e.g. `512m`.
    pub heap: String,
    /// Extra or replacing broker settings, applied to every node.
    pub broker_config: BTreeMap<String, String>,
    /// How long to wait for every broker to register.
    pub start_timeout: Duration,
    /// Address every node listens on (ignored with `netns`).
    pub host: String,
    /// Run each node in its own network namespace on a private bridge (see [`netns`]);
    /// needs root, `ip` and `nft`.
    pub netns: bool,
    /// The subnet of a `netns` cluster; `None` picks the first free `10.77.N.0/24`.
    pub subnet: Option<Ipv4Net>,
}

impl UpOptions {
    /// Defaults: 3 nodes, the pinned Kafka version, 512 MiB heaps, on 127.0.0.1.
    pub fn new(dir: impl Into<PathBuf>) -> UpOptions {
        UpOptions {
            dir: dir.into(),
            nodes: 3,
            kafka_version: dist::DEFAULT_KAFKA_VERSION.to_string(),
            heap: "512m".into(),
            broker_config: BTreeMap::new(),
            start_timeout: Duration::from_secs(120),
            host: "127.0.0.1".into(),
            netns: false,
            subnet: None,
        }
    }
}

/// The default cluster dir: `$AFTERSHOCK_CLUSTER_DIR`, else `$XDG_STATE_HOME/aftershock/cluster`,
/// else `~/.local/state/aftershock/cluster`, so that `up`, `status` and `down` agree
/// wherever they are run from.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AFTERSHOCK_CLUSTER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dist::home_dir().join(".local").join("state"));
    base.join("aftershock").join("cluster")
}

/// What `status` reports for the whole cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub dir: PathBuf,
    pub cluster_id: String,
    pub kafka_version: String,
    /// Comma-separated `host:port` list for clients.
    pub bootstrap: String,
    pub nodes: Vec<NodeStatus>,
    /// Number of nodes alive.
    pub alive: usize,
    /// Number of brokers the cluster metadata lists.
    pub registered: usize,
    /// Namespaces, bridge and addresses of a `--netns` cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsLayout>,
}

/// What `status` reports for one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub id: i32,
    pub pid: Option<u32>,
    pub host: String,
    pub broker_port: u16,
    pub controller_port: u16,
    pub alive: bool,
    pub registered: bool,
    pub log: PathBuf,
}

/// A handle on a local cluster: its dir, its state, and the child handles of the nodes this
/// process started (so that it reaps them).
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    state: ClusterState,
    children: HashMap<i32, Child>,
    stop_on_drop: bool,
}

impl LocalCluster {
    /// Creates, formats and starts a cluster, then waits until every broker is registered.
    ///
    /// # Errors
    /// A clear [`Error`] for every bad case: an unwritable dir, a cluster already running
    /// there, no Java, no way to get the jars, a node that dies (with its log's last lines;
    /// the other nodes are stopped), or brokers that do not register in time.
    pub fn up(opts: &UpOptions) -> Result<LocalCluster> {
        if opts.nodes == 0 || opts.nodes > 64 {
            return Err(Error::Usage(format!("--nodes must be between 1 and 64, got {}", opts.nodes)));
        }
        if !valid_heap(&opts.heap) {
            return Err(Error::Usage(format!("--heap must look like 512m or 1g, got `{}`", opts.heap)));
        }
        if opts.netns {
            netns::check_prerequisites()?;
            if let Some(subnet) = opts.subnet {
                netns::check_subnet(subnet, opts.nodes)?;
            }
        } else if opts.subnet.is_some() {
            return Err(Error::Usage("--subnet only applies to a --netns cluster".into()));
        }
        let dir = prepare_dir(&opts.dir)?;
        refuse_running(&dir)?;
        let java = dist::check_java()?;
        let kafka = dist::locate_kafka(&opts.kafka_version)?;
        clean_previous(&dir)?;
        let dir = prepare_dir(&dir)?;

        let ids: Vec<i32> = (1..=opts.nodes as i32).collect();
        // NB: the lock keeps a second `up` from choosing the same subnet until this one's
        // bridge holds it; it is released once the network exists.
        let mut setup_lock = None;
        let (nodes, layout) = if opts.netns {
            setup_lock = Some(netns::setup_lock()?);
            let tag = netns::dir_tag(&dir);
            netns::reclaim(&tag, &dir)?;
            let subnet = netns::choose_subnet(opts.subnet, opts.nodes, &netns::bridge_name(&tag))?;
            let layout = NetnsLayout::plan(&dir, subnet, &ids)?;
            let nodes = layout
                .nodes
                .iter()
                .map(|n| NodeState {
                    id: n.id,
                    host: n.addr.to_string(),
                    broker_port: netns::BROKER_PORT,
                    controller_port: netns::CONTROLLER_PORT,
                    pid: None,
                })
                .collect();
            (nodes, Some(layout))
        } else {
            let ports = free_ports(&opts.host, opts.nodes * 2)?;
            let nodes = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| NodeState {
                    id,
                    host: opts.host.clone(),
                    broker_port: ports[2 * i],
                    controller_port: ports[2 * i + 1],
                    pid: None,
                })
                .collect();
            (nodes, None)
        };
        let state = ClusterState {
            version: state::STATE_VERSION,
            cluster_id: new_cluster_id(),
            kafka_version: kafka.version.clone(),
            java,
            libs_dir: kafka.libs_dir.clone(),
            heap: opts.heap.clone(),
            created_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            nodes,
            netns: layout,
        };
        let log4j = dir.join(LOG4J_FILE);
        std::fs::write(&log4j, props::LOG4J2_PROPERTIES).map_err(Error::io(format!("writing {}", log4j.display())))?;
        for node in &state.nodes {
            let paths = NodePaths::new(&dir, node.id);
            std::fs::create_dir_all(&paths.data).map_err(Error::io(format!("creating {}", paths.data.display())))?;
            let p = props::node_properties(node, &state.nodes, &paths.data, &opts.broker_config);
            std::fs::write(&paths.config, props::render(&p))
                .map_err(Error::io(format!("writing {}", paths.config.display())))?;
        }
        // NB: the state (with the network layout) is on disk before any namespace exists, so
        // that `down` finds everything even when this process dies half-way.
        state.save(&dir)?;
        // From here on, dropping the handle on an error path kills the nodes and removes the
        // network.
        registry::remember(&dir);
        let mut cluster = LocalCluster { dir, state, children: HashMap::new(), stop_on_drop: true };
        if let Some(layout) = &cluster.state.netns {
            layout.create()?;
        }
        drop(setup_lock);

        // Formatting is one short JVM per node; run them side by side.
        let (state, dir) = (&cluster.state, &cluster.dir);
        std::thread::scope(|s| {
            let handles: Vec<_> = state
                .nodes
                .iter()
                .map(|n| {
                    let log4j = &log4j;
                    s.spawn(move || process::format_storage(state, n.id, &NodePaths::new(dir, n.id), log4j))
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|_| Err(Error::Failed("format thread panicked".into()))))
        })?;

        for id in &ids {
            if let Err(e) = cluster.spawn(*id) {
                cluster.kill_all_now();
                return Err(e);
            }
        }
        if let Err(e) = cluster.wait_registered(&ids, opts.start_timeout) {
            cluster.kill_all_now();
            return Err(e);
        }
        cluster.stop_on_drop = false;
        Ok(cluster)
    }

    /// Opens the cluster whose state is in `dir` (started by this or another process).
    pub fn open(dir: &Path) -> Result<LocalCluster> {
        let dir = std::path::absolute(dir).map_err(Error::io(format!("resolving {}", dir.display())))?;
        let state = ClusterState::load(&dir)?;
        Ok(LocalCluster { dir, state, children: HashMap::new(), stop_on_drop: false })
    }

    /// Makes dropping this handle SIGKILL every node: for clusters that must not outlive
    /// their owner (a scenario's `local` cluster, a test).
    pub fn stop_on_drop(mut self, yes: bool) -> LocalCluster {
        self.stop_on_drop = yes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// The network layout of a `--netns` cluster (namespaces, bridge, addresses).
    pub fn netns(&self) -> Option<&NetnsLayout> {
        self.state.netns.as_ref()
    }

    /// Comma-separated `host:port` list for clients.
    pub fn bootstrap(&self) -> String {
        self.state.bootstrap()
    }

    /// Whether node `id`'s JVM is running.
    pub fn is_alive(&mut self, id: i32) -> bool {
        self.reap();
        match self.state.node(id) {
            Some(n) => n.pid.is_some_and(|pid| process::is_node_alive(pid, &NodePaths::new(&self.dir, id).config)),
            None => false,
        }
    }

    /// Pid, ports, liveness and registration of every node.
    pub fn status(&mut self) -> ClusterStatus {
        self.reap();
        let alive: Vec<bool> = self.state.nodes.iter().map(|n| self.pid_alive(n)).collect();
        let registered = if alive.iter().any(|a| *a) {
            probe::registered_brokers(&self.bootstrap(), Duration::from_secs(5)).unwrap_or_default()
        } else {
            Vec::new()
        };
        let nodes: Vec<NodeStatus> = self
            .state
            .nodes
            .iter()
            .zip(&alive)
            .map(|(n, alive)| NodeStatus {
                id: n.id,
                pid: n.pid,
                host: n.host.clone(),
                broker_port: n.broker_port,
                controller_port: n.controller_port,
                alive: *alive,
                registered: registered.contains(&n.id),
                log: NodePaths::new(&self.dir, n.id).log,
            })
            .collect();
        ClusterStatus {
            dir: self.dir.clone(),
            cluster_id: self.state.cluster_id.clone(),
            kafka_version: self.state.kafka_version.clone(),
            bootstrap: self.bootstrap(),
            alive: alive.iter().filter(|a| **a).count(),
            registered: nodes.iter().filter(|n| n.registered).count(),
            nodes,
            netns: self.state.netns.clone(),
        }
    }

    /// Sends `sig` to node `id` (SIGKILL, SIGTERM, SIGSTOP, SIGCONT...). A node that is not
    /// running is left alone.
    pub fn signal_node(&mut self, id: i32, sig: Signal) -> Result<()> {
        let node = self.node(id)?.clone();
        if let Some(pid) = node.pid.filter(|_| self.pid_alive(&node)) {
            process::signal(pid, sig)?;
        }
        if matches!(sig, Signal::SIGKILL) {
            self.wait_dead(&[id], Duration::from_secs(10));
        }
        Ok(())
    }

    /// Starts node `id` again after it died or was stopped, and waits until it is registered.
    pub fn restart_node(&mut self, id: i32, timeout: Duration) -> Result<()> {
        let node = self.node(id)?.clone();
        if self.pid_alive(&node) {
            return Err(Error::Failed(format!("node {id} is still running (pid {:?})", node.pid)));
        }
        self.spawn(id)?;
        self.wait_registered(&[id], timeout)
    }

    /// Stops every node (SIGTERM, then SIGKILL after `timeout`), waits until none is left,
    /// and removes the cluster's files unless `keep`.
    pub fn down(mut self, keep: bool, timeout: Duration) -> Result<DownReport> {
        self.stop_on_drop = false;
        let ids: Vec<i32> = self.state.nodes.iter().map(|n| n.id).collect();
        let mut report = DownReport::default();
        for n in self.state.nodes.clone() {
            if let Some(pid) = n.pid.filter(|_| self.pid_alive(&n)) {
                process::signal(pid, Signal::SIGTERM)?;
                report.terminated.push(n.id);
            }
        }
        let left = self.wait_dead(&ids, timeout);
        for id in left {
            let n = self.node(id)?.clone();
            if let Some(pid) = n.pid {
                process::signal(pid, Signal::SIGKILL)?;
                report.killed.push(id);
            }
        }
        let left = self.wait_dead(&ids, Duration::from_secs(15));
        // Belt and braces: anything else still naming a node's files (a stray storage tool, a
        // node started by hand from these configs) goes too, and so does anything still
        // running inside the cluster's namespaces.
        let strays = self.stray_pids();
        for &pid in &strays {
            process::signal(pid, Signal::SIGKILL)?;
        }
        report.strays = strays;
        if !left.is_empty() {
            return Err(Error::Io {
                context: format!("stopping the cluster in {}", self.dir.display()),
                source: std::io::Error::other(format!("nodes {left:?} did not exit even after SIGKILL")),
            });
        }
        if let Some(layout) = &self.state.netns {
            // A SIGKILLed stray takes a moment to leave its namespace; teardown works anyway
            // (the namespace then lingers unnamed until it exits, without a veth).
            wait_gone(&report.strays, Duration::from_secs(5));
            report.network = layout.teardown()?;
        }
        for n in &mut self.state.nodes {
            n.pid = None;
        }
        if keep {
            self.state.save(&self.dir)?;
        } else {
            remove_cluster_files(&self.dir, &self.state)?;
        }
        Ok(report)
    }

    fn node(&self, id: i32) -> Result<&NodeState> {
        self.state.node(id).ok_or_else(|| Error::Usage(format!("the cluster has no node {id}")))
    }

    fn pid_alive(&self, n: &NodeState) -> bool {
        n.pid.is_some_and(|pid| process::is_node_alive(pid, &NodePaths::new(&self.dir, n.id).config))
    }

    fn stray_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .state
            .nodes
            .iter()
            .flat_map(|n| process::processes_mentioning(&NodePaths::new(&self.dir, n.id).config))
            .collect();
        if let Some(layout) = &self.state.netns {
            let me = std::process::id();
            pids.extend(layout.nodes.iter().flat_map(|n| netns::namespace_pids(&n.namespace)).filter(|p| *p != me));
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Removes the network of a `--netns` cluster, logging (not failing) on errors: the
    /// clean-up of failed starts and of dropped handles.
    fn teardown_network_best_effort(&self) {
        if let Some(layout) = &self.state.netns
            && let Err(e) = layout.teardown()
        {
            tracing::warn!("removing the network of the cluster in {}: {e}", self.dir.display());
        }
    }

    fn spawn(&mut self, id: i32) -> Result<()> {
        let node = self.node(id)?.clone();
        let child = process::spawn_node(&self.state, &node, &self.dir, &self.dir.join(LOG4J_FILE))?;
        let pid = child.id();
        self.children.insert(id, child);
        if let Some(n) = self.state.nodes.iter_mut().find(|n| n.id == id) {
            n.pid = Some(pid);
        }
        self.state.save(&self.dir)
    }

    /// Collects the exit status of children that ended, so none lingers as a zombie.
    fn reap(&mut self) -> Vec<(i32, std::process::ExitStatus)> {
        let mut ended = Vec::new();
        self.children.retain(|id, child| match child.try_wait() {
            Ok(Some(status)) => {
                ended.push((*id, status));
                false
            }
            _ => true,
        });
        ended
    }

    /// Waits until the nodes `ids` are dead or `timeout` passes; returns those still alive.
    fn wait_dead(&mut self, ids: &[i32], timeout: Duration) -> Vec<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            self.reap();
            let alive: Vec<i32> =
                ids.iter().copied().filter(|id| self.state.node(*id).is_some_and(|n| self.pid_alive(n))).collect();
            if alive.is_empty() || Instant::now() >= deadline {
                return alive;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every broker in `ids` is registered, failing early with the node's log
    /// when one of them exits.
    pub fn wait_registered(&mut self, ids: &[i32], timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut registered = Vec::new();
        loop {
            for (id, status) in self.reap() {
                if ids.contains(&id) {
                    let log = NodePaths::new(&self.dir, id).log;
                    return Err(Error::NodeFailed { node: id, status: status.to_string(), tail: log_tail(&log), log });
                }
            }
            for &id in ids {
                let n = self.node(id)?;
                if !self.pid_alive(n) && !self.children.contains_key(&id) {
                    let log = NodePaths::new(&self.dir, id).log;
                    return Err(Error::NodeFailed {
                        node: id,
                        status: "not running".into(),
                        tail: log_tail(&log),
                        log,
                    });
                }
            }
            if let Ok(brokers) = probe::registered_brokers(&self.bootstrap(), Duration::from_secs(2)) {
                registered = brokers;
                if ids.iter().all(|id| registered.contains(id)) {
                    return Ok(());
                }
            }
            if start.elapsed() >= timeout {
                let missing = ids.iter().copied().find(|id| !registered.contains(id)).unwrap_or(ids[0]);
                let log = NodePaths::new(&self.dir, missing).log;
                return Err(Error::StartTimeout {
                    registered: ids.iter().filter(|id| registered.contains(id)).count(),
                    expected: ids.len(),
                    waited: start.elapsed(),
                    tail: log_tail(&log),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// SIGKILLs every node at once and reaps it: the clean-up after a failed start.
    fn kill_all_now(&mut self) {
        for n in self.state.nodes.clone() {
            if let Some(pid) = n.pid.filter(|_| self.pid_alive(&n)) {
                let _ = process::signal(pid, Signal::SIGKILL);
            }
        }
        let ids: Vec<i32> = self.state.nodes.iter().map(|n| n.id).collect();
        self.wait_dead(&ids, Duration::from_secs(10));
        for n in &mut self.state.nodes {
            n.pid = None;
        }
        let _ = self.state.save(&self.dir);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.kill_all_now();
            self.teardown_network_best_effort();
        }
    }
}

/// What `down` did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DownReport {
    /// Nodes sent SIGTERM.
    pub terminated: Vec<i32>,
    /// Nodes that ignored SIGTERM past the timeout and got SIGKILL.
    pub killed: Vec<i32>,
    /// Other processes naming the cluster's files (or inside its namespaces) that were killed.
    pub strays: Vec<u32>,
    /// Network objects of a `--netns` cluster that were removed (`netns as-…-n1`, `link as-…`).
    pub network: Vec<String>,
}

/// Waits until none of `pids` is running, at most `timeout`.
fn wait_gone(pids: &[u32], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while pids.iter().any(|p| process::is_running(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines of a node log, or why it could not be read.
fn log_tail(log: &Path) -> String {
    match std::fs::read(log) {
        Ok(bytes) => dist::tail_lines(&String::from_utf8_lossy(&bytes), 25),
        Err(e) => format!("(cannot read {}: {e})", log.display()),
    }
}

fn valid_heap(heap: &str) -> bool {
    let digits = heap.trim_end_matches(|c: char| "kKmMgG".contains(c));
    !digits.is_empty() && digits.len() + 1 >= heap.len() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Creates the cluster dir and proves it is writable.
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    let not_writable = |source| Error::DirNotWritable { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(not_writable)?;
    let _ = std::fs::remove_file(&probe);
    std::path::absolute(dir).map_err(not_writable)
}

/// Refuses to start a second cluster where one is running, by state and by process scan.
fn refuse_running(dir: &Path) -> Result<()> {
    let mut pids = Vec::new();
    match ClusterState::load(dir) {
        Ok(state) => {
            for n in &state.nodes {
                let cfg = NodePaths::new(dir, n.id).config;
                if let Some(pid) = n.pid.filter(|pid| process::is_node_alive(*pid, &cfg)) {
                    pids.push(pid);
                }
                pids.extend(process::processes_mentioning(&cfg));
            }
        }
        Err(Error::NoCluster { .. }) => {}
        Err(e) => return Err(e),
    }
    pids.sort_unstable();
    pids.dedup();
    if pids.is_empty() { Ok(()) } else { Err(Error::AlreadyRunning { dir: dir.to_path_buf(), pids }) }
}

/// Removes what an earlier, stopped cluster left in `dir`, its network included.
fn clean_previous(dir: &Path) -> Result<()> {
    if let Ok(state) = ClusterState::load(dir) {
        if let Some(layout) = &state.netns {
            layout.teardown()?;
        }
        remove_cluster_files(dir, &state)?;
    }
    Ok(())
}

/// Removes exactly the files a cluster created (never the whole dir, which a user may share
/// with other files), then the dir itself if that left it empty.
fn remove_cluster_files(dir: &Path, state: &ClusterState) -> Result<()> {
    for n in &state.nodes {
        let nd = NodePaths::new(dir, n.id).dir;
        if nd.exists() {
            std::fs::remove_dir_all(&nd).map_err(Error::io(format!("removing {}", nd.display())))?;
        }
    }
    for f in [LOG4J_FILE, state::STATE_FILE] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(Error::io(format!("removing {}", p.display())))?;
        }
    }
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

/// Picks `n` distinct free TCP ports on `host` by binding them all at once, so that two
/// clusters (or two runs of the test suite) never collide on fixed ports.
fn free_ports(host: &str, n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((host, 0)))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io(format!("finding free ports on {host}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io("reading a bound port"))
}

/// A new KRaft cluster id in Kafka's format: 16 random bytes, URL-safe base64 without
/// padding. Like Kafka's `Uuid.randomUuid`, ids starting with '-' are avoided because they
/// read as command-line flags.
pub fn new_cluster_id() -> String {
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        for _ in 0..200 {
            let id = new_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'));
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
        }
        assert_ne!(new_cluster_id(), new_cluster_id());
    }

    #[test]
    fn ports_are_distinct() {
        let ports = free_ports("127.0.0.1", 12).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 12);
    }

    #[test]
    fn heap_sizes() {
        assert!(valid_heap("512m"));
        assert!(valid_heap("1g"));
        assert!(valid_heap("1024"));
        assert!(!valid_heap("lots"));
        assert!(!valid_heap("1gg"));
        assert!(!valid_heap(""));
    }

    #[test]
    fn unwritable_dirs_are_reported() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = prepare_dir(&f.path().join("sub")).unwrap_err();
        assert!(matches!(err, Error::DirNotWritable { .. }), "{err}");
        assert!(err.is_config());
    }

    #[test]
    fn removal_keeps_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let st = ClusterState {
            version: state::STATE_VERSION,
            cluster_id: new_cluster_id(),
            kafka_version: "4.4.0".into(),
            java: "java".into(),
            libs_dir: "/x".into(),
            heap: "512m".into(),
            created_unix_ms: 0,
            nodes: vec![NodeState { id: 1, host: "127.0.0.1".into(), broker_port: 1, controller_port: 2, pid: None }],
            netns: None,
        };
        st.save(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("node-1/data")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        remove_cluster_files(dir.path(), &st).unwrap();
        assert!(!dir.path().join("node-1").exists());
        assert!(!dir.path().join(state::STATE_FILE).exists());
        assert!(dir.path().join("notes.txt").exists());
    }
}
