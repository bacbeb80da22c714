//! `cluster up --netns` and network partitions, against real Kafka nodes in real network
//! namespaces that the tests create and remove themselves. Nothing leaves the machine: the
//! traffic goes to the nodes' addresses on a private bridge.
//!
//! These tests need root (CI runs as root). Without root they fail, saying so: a silent pass
//! would hide that partitions were never tested.

mod common;
use common::{aftershock, dir_str, text};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aftershock::chaos::partition::{self, Direction, Peers};
use aftershock::cluster::netns::{self, NetnsLayout};
use aftershock::cluster::{LocalCluster, UpOptions, probe, process};
use aftershock::smoke::{SmokeOptions, TopicSpec, smoke};
use nix::sys::signal::Signal;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tests/netns.rs needs root (network namespaces, veth pairs, a bridge, nftables); it runs as uid {}. \
         Run it as root, e.g. `sudo -E cargo test --test netns` (CI runs as root)",
        nix::unistd::geteuid()
    );
    for (cmd, pkg) in [("ip", "iproute2"), ("nft", "nftables")] {
        assert!(netns::which(cmd).is_some(), "tests/netns.rs needs `{cmd}`: apt-get install -y {pkg}");
    }
}

/// Removes a network layout (namespaces, veths, bridge, and so the nft tables inside) when
/// dropped, also when a test fails half-way.
struct LayoutGuard(NetnsLayout);

impl Drop for LayoutGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.teardown() {
            eprintln!("cleaning up {}: {e}", self.0.bridge);
        }
    }
}

/// Creates the network of a cluster in `dir` (no JVMs), on an automatic or given subnet.
fn create_layout(dir: &Path, subnet: Option<netns::Ipv4Net>, nodes: i32) -> LayoutGuard {
    let _lock = netns::setup_lock().unwrap();
    let tag = netns::dir_tag(dir);
    let subnet = netns::choose_subnet(subnet, nodes as usize, &netns::bridge_name(&tag)).unwrap();
    let layout = NetnsLayout::plan(dir, subnet, &(1..=nodes).collect::<Vec<_>>()).unwrap();
    let guard = LayoutGuard(layout);
    guard.0.create().unwrap();
    guard
}

fn tcp_connects(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

fn broker_addr(layout: &NetnsLayout, node: i32) -> SocketAddr {
    SocketAddr::from((layout.node(node).unwrap().addr, netns::BROKER_PORT))
}

/// A UDP socket bound inside node `node`'s namespace, on its address.
fn udp_in_node(layout: &NetnsLayout, node: i32) -> UdpSocket {
    let n = layout.node(node).unwrap().clone();
    let s = netns::in_namespace(&n.namespace, move || UdpSocket::bind((n.addr, 0))).unwrap().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    s
}

/// A UDP socket on the host side of the bridge (where clients come from).
fn udp_on_host(layout: &NetnsLayout) -> UdpSocket {
    let s = UdpSocket::bind((layout.bridge_addr, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    s
}

/// Whether a datagram sent from `from` reaches `to` (a few tries).
fn datagram_arrives(from: &UdpSocket, to: &UdpSocket) -> bool {
    let dest = to.local_addr().unwrap();
    let mut buf = [0u8; 64];
    for i in 0..3u8 {
        // NB: a packet dropped in the sender's own output hook fails the send (EPERM): that
        // is "not arriving" too.
        if from.send_to(&[i], dest).is_err() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        if to.recv_from(&mut buf).is_ok() {
            // drain anything else in flight
            while to.recv_from(&mut buf).is_ok() {}
            return true;
        }
    }
    false
}

/// Sends a Kafka ApiVersions v0 request on `conn` (no body; header v1 with a client id).
fn send_api_versions(conn: &mut TcpStream, correlation: i32) {
    let client = b"aftershock-netns-test";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // version 0
    body.extend_from_slice(&correlation.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.write_all(&frame).unwrap();
}

/// Reads one response and returns its correlation id, or None when nothing came in `timeout`.
fn read_response(conn: &mut TcpStream, timeout: Duration) -> Option<i32> {
    conn.set_read_timeout(Some(timeout)).unwrap();
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.read_exact(&mut body).expect("the rest of a response");
    Some(i32::from_be_bytes(body[..4].try_into().unwrap()))
}

/// (partition, leader, isr) of every partition of `topic`, as `bootstrap` (one node) sees it.
fn isr_view(bootstrap: &str, topic: &str) -> Option<Vec<(i32, i32, Vec<i32>)>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .set("socket.connection.setup.timeout.ms", "2000")
        .create()
        .ok()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(3)).ok()?;
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    let mut v: Vec<(i32, i32, Vec<i32>)> =
        t.partitions().iter().map(|p| (p.id(), p.leader(), p.isr().to_vec())).collect();
    v.sort();
    Some(v)
}

/// Polls `f` every 500 ms until it returns Some or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn net_ns_inode(path: impl AsRef<Path>) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// The acceptance path for `--netns`: a 3-node cluster in namespaces works from the
/// host on its own addresses; a node cut off from the other nodes leaves the ISR and comes
/// back after the revert; a node cut off from the clients is unreachable from the host while
/// the others work, established connections included; one-way cuts are one-way; guards remove
/// exactly their rules; `heal_all` cleans up after a "crash"; `down` (from another process)
/// leaves no namespace, link, table or JVM.
#[test]
fn netns_cluster_partitions_heal_and_leave_nothing() {
    require_root();
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let mut opts = UpOptions::new(&dir);
    opts.netns = true;
    opts.heap = "384m".into();
    let mut cluster = LocalCluster::up(&opts).expect("cluster up --netns").stop_on_drop(true);
    eprintln!("[timing] up: {:.1}s", t0.elapsed().as_secs_f64());
    let layout = cluster.netns().expect("a netns layout in the state").clone();

    // The layout: names from the dir, one namespace per node, addresses in the subnet.
    let tag = netns::dir_tag(&dir);
    assert_eq!(layout.tag, tag);
    assert_eq!(layout.bridge, format!("as-{tag}"));
    assert_eq!(layout.nodes.len(), 3);
    let bootstrap = cluster.bootstrap();
    for (entry, n) in bootstrap.split(',').zip(&layout.nodes) {
        let addr: SocketAddr = entry.parse().unwrap();
        let SocketAddr::V4(v4) = addr else { panic!("{entry}") };
        assert!(layout.subnet.contains(*v4.ip()), "{entry} not in {}", layout.subnet);
        assert_eq!((*v4.ip(), v4.port()), (n.addr, netns::BROKER_PORT));
        assert!(netns::namespace_exists(&n.namespace), "{}", n.namespace);
    }
    // The recorded pid is the JVM itself, inside the node's namespace.
    for n in &cluster.state().nodes.clone() {
        let pid = n.pid.expect("a pid");
        let argv0 = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv0 = String::from_utf8_lossy(argv0.split(|b| *b == 0).next().unwrap()).into_owned();
        assert!(argv0.ends_with("java"), "pid {pid} is {argv0}, not the JVM");
        let ns = cluster.state().namespace_of(n.id).unwrap().to_string();
        assert_eq!(
            net_ns_inode(format!("/proc/{pid}/ns/net")),
            net_ns_inode(format!("/run/netns/{ns}")),
            "node {}",
            n.id
        );
        assert!(cluster.is_alive(n.id));
    }
    let status = cluster.status();
    assert_eq!((status.alive, status.registered), (3, 3), "{status:?}");
    assert_eq!(status.netns.as_ref(), Some(&layout));

    // Produce and consume through the nodes' addresses.
    let topic = "netns-isr";
    let t = Instant::now();
    let r = smoke(
        &bootstrap,
        &SmokeOptions {
            topic: topic.into(),
            create: Some(TopicSpec { partitions: 6, replication: 3, min_insync_replicas: Some(2) }),
            messages: 2_000,
            timeout: Duration::from_secs(60),
        },
    )
    .expect("smoke");
    assert!(r.ok(), "{r:?}");
    eprintln!("[timing] smoke: {:.1}s", t.elapsed().as_secs_f64());

    // 1. Node 2 cut off from the other nodes drops out of every ISR (seen from node 1), and
    //    comes back after the revert. Clients still reach it meanwhile.
    let victim = 2;
    let observer = layout.node(1).unwrap();
    let observer_bootstrap = format!("{}:{}", observer.addr, netns::BROKER_PORT);
    let before = isr_view(&observer_bootstrap, topic).expect("metadata");
    assert!(before.iter().all(|(_, _, isr)| isr.len() == 3), "{before:?}");
    let followed: Vec<i32> = before.iter().filter(|(_, leader, _)| *leader != victim).map(|(p, _, _)| *p).collect();
    assert!(!followed.is_empty(), "node {victim} follows no partition: {before:?}");
    let t = Instant::now();
    let cut = partition::apply(&layout, victim, Peers::OtherNodes, Direction::Both).expect("partition");
    assert_eq!(cut.addresses().len(), 2);
    assert_eq!(partition::active_rules(&layout).unwrap().len(), 2);
    assert!(tcp_connects(broker_addr(&layout, victim), Duration::from_secs(2)), "clients are not cut");
    let (shrunk, took) = wait_for(Duration::from_secs(45), || {
        let v = isr_view(&observer_bootstrap, topic)?;
        let out = followed.iter().all(|p| v.iter().any(|(q, _, isr)| q == p && !isr.contains(&victim)));
        out.then_some(v)
    })
    .unwrap_or_else(|| {
        panic!("node {victim} stayed in the ISR of {followed:?}: {:?}", isr_view(&observer_bootstrap, topic))
    });
    eprintln!("[timing] ISR shrink after the cut: {:.1}s ({shrunk:?})", took.as_secs_f64());
    cut.revert().expect("revert");
    assert!(partition::active_rules(&layout).unwrap().is_empty());
    let (_, took) = wait_for(Duration::from_secs(90), || {
        let v = isr_view(&observer_bootstrap, topic)?;
        v.iter().all(|(_, _, isr)| isr.contains(&victim)).then_some(())
    })
    .unwrap_or_else(|| panic!("node {victim} did not rejoin the ISR: {:?}", isr_view(&observer_bootstrap, topic)));
    eprintln!(
        "[timing] ISR back after the revert: {:.1}s (cut to healed {:.1}s)",
        took.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );

    // 2. Node 3 cut off from the clients: the host cannot connect to it, established
    //    connections stall too, while the other nodes work; the revert restores it all.
    let t = Instant::now();
    let target = 3;
    let mut conn = TcpStream::connect_timeout(&broker_addr(&layout, target), Duration::from_secs(5)).unwrap();
    send_api_versions(&mut conn, 1);
    assert_eq!(read_response(&mut conn, Duration::from_secs(5)), Some(1), "ApiVersions before the cut");
    let cut = partition::apply(&layout, target, Peers::Clients, Direction::Both).unwrap();
    assert!(!tcp_connects(broker_addr(&layout, target), Duration::from_secs(2)), "node {target} still reachable");
    send_api_versions(&mut conn, 2);
    assert_eq!(read_response(&mut conn, Duration::from_secs(3)), None, "an established connection must stall too");
    assert!(tcp_connects(broker_addr(&layout, 1), Duration::from_secs(2)));
    assert!(tcp_connects(broker_addr(&layout, 2), Duration::from_secs(2)));
    let others = format!("{},{}", broker_addr(&layout, 1), broker_addr(&layout, 2));
    assert_eq!(
        probe::registered_brokers(&others, Duration::from_secs(10)).unwrap(),
        vec![1, 2, 3],
        "node {target} still talks to the quorum"
    );
    cut.revert().unwrap();
    assert!(tcp_connects(broker_addr(&layout, target), Duration::from_secs(5)), "node {target} reachable again");
    assert_eq!(
        read_response(&mut conn, Duration::from_secs(20)),
        Some(2),
        "the stalled request goes through after the revert"
    );
    eprintln!("[timing] client cut and revert: {:.1}s", t.elapsed().as_secs_f64());

    // 3. One-way cuts, observed with datagrams: inbound drops only what the node receives,
    //    outbound only what it sends. TCP needs both ways, so connecting fails either way.
    let node = 1;
    let in_node = udp_in_node(&layout, node);
    let on_host = udp_on_host(&layout);
    assert!(datagram_arrives(&on_host, &in_node) && datagram_arrives(&in_node, &on_host), "baseline");
    let cut = partition::apply(&layout, node, Peers::Clients, Direction::Inbound).unwrap();
    assert!(!tcp_connects(broker_addr(&layout, node), Duration::from_secs(2)), "inbound cut: connect must fail");
    assert!(!datagram_arrives(&on_host, &in_node), "inbound cut: the node must not receive");
    assert!(datagram_arrives(&in_node, &on_host), "inbound cut: the node can still send");
    cut.revert().unwrap();
    {
        let _cut = partition::apply(&layout, node, Peers::Clients, Direction::Outbound).unwrap();
        assert!(!datagram_arrives(&in_node, &on_host), "outbound cut: the node must not send");
        assert!(datagram_arrives(&on_host, &in_node), "outbound cut: the node can still receive");
        // dropped here: the guard heals on drop
    }
    assert!(partition::active_rules(&layout).unwrap().is_empty(), "drop reverts");
    assert!(datagram_arrives(&in_node, &on_host) && datagram_arrives(&on_host, &in_node));
    assert!(tcp_connects(broker_addr(&layout, node), Duration::from_secs(2)));

    // 4. Guards remove exactly their own rules; the table goes with the last one.
    let a = partition::apply(&layout, 2, Peers::Clients, Direction::Inbound).unwrap();
    let b = partition::apply(&layout, 2, Peers::OtherNodes, Direction::Outbound).unwrap();
    let rules = partition::active_rules(&layout).unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    let b_tag = b.tag().to_string();
    a.revert().unwrap();
    let rules = partition::active_rules(&layout).unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(rules[0].comment.contains(&b_tag) && rules[0].chain == "output" && rules[0].node == 2, "{rules:?}");
    b.revert().unwrap();
    assert!(partition::heal_all(&layout).unwrap().is_empty(), "the last revert removes the table");

    // 5. After a "crash" (guards never reverted), heal_all removes every table.
    std::mem::forget(partition::apply(&layout, 1, Peers::All, Direction::Both).unwrap());
    std::mem::forget(partition::apply(&layout, 3, Peers::OtherNodes, Direction::Inbound).unwrap());
    assert_eq!(partition::active_rules(&layout).unwrap().len(), 3);
    let healed = partition::heal_all(&layout).unwrap();
    assert_eq!(healed.len(), 2, "{healed:?}");
    assert!(healed[0].contains("node 1") && healed[0].contains("2 rule(s)"), "{healed:?}");
    assert!(partition::active_rules(&layout).unwrap().is_empty());
    assert!(partition::heal_all(&layout).unwrap().is_empty());

    // 6. A killed node restarts inside its namespace.
    let t = Instant::now();
    cluster.signal_node(3, Signal::SIGKILL).unwrap();
    assert!(!cluster.is_alive(3));
    cluster.restart_node(3, Duration::from_secs(90)).expect("restart in the namespace");
    let pid = cluster.state().node(3).unwrap().pid.unwrap();
    assert_eq!(
        net_ns_inode(format!("/proc/{pid}/ns/net")),
        net_ns_inode(format!("/run/netns/{}", layout.node(3).unwrap().namespace))
    );
    // NB: restart_node may return before the new JVM listens (the controller still lists the
    // killed broker until its session times out); the restarted node must answer itself.
    let own = broker_addr(&layout, 3).to_string();
    wait_for(Duration::from_secs(90), || {
        probe::registered_brokers(&own, Duration::from_secs(2)).ok().filter(|b| b.contains(&3))
    })
    .expect("the restarted node answers on its address");
    eprintln!("[timing] kill and restart of a node: {:.1}s", t.elapsed().as_secs_f64());

    // 7. `status` and `down` from other processes, as after a crash of this one.
    let st = aftershock(&["cluster", "status", "--json", "--dir", dir_str(&dir)]);
    assert!(st.status.success(), "{}", text(&st));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["bootstrap"], bootstrap);
    assert_eq!(v["netns"]["bridge"], layout.bridge);
    let t = Instant::now();
    let down = aftershock(&["cluster", "down", "--dir", dir_str(&dir)]);
    assert!(down.status.success(), "{}", text(&down));
    eprintln!("[timing] down: {:.1}s", t.elapsed().as_secs_f64());
    drop(cluster.stop_on_drop(false));
    assert!(process::processes_mentioning(&dir).is_empty(), "a JVM outlived down");
    assert_eq!(layout.existing().unwrap(), Vec::<String>::new(), "network objects left after down");
    let ns_list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ns_list.stdout).contains(&tag), "{}", text(&ns_list));
    let links = Command::new("ip").args(["link", "show"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(&tag), "{}", text(&links));
    assert!(!dir.join("cluster.json").exists());
    eprintln!("[timing] whole test: {:.1}s", t0.elapsed().as_secs_f64());
}

/// Two clusters' networks side by side (different names and subnets, isolated from each
/// other), a subnet in use refused with a clear error, and nothing left after teardown. No JVM.
#[test]
fn layouts_coexist_are_isolated_and_conflicts_are_refused() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = create_layout(&da, None, 2);
    let b = create_layout(&db, None, 2);
    let (la, lb) = (&a.0, &b.0);
    assert_ne!(la.tag, lb.tag);
    assert_ne!(la.bridge, lb.bridge);
    assert!(!la.subnet.overlaps(&lb.subnet), "{} vs {}", la.subnet, lb.subnet);
    assert_eq!(la.existing().unwrap().len(), 2 + 2 + 1, "{:?}", la.existing());

    // The host reaches a listener inside a node; a node of one cluster cannot reach the other
    // cluster (separate bridges, no default route in the nodes).
    let n1 = la.node(1).unwrap().clone();
    let listener =
        netns::in_namespace(&n1.namespace, move || std::net::TcpListener::bind((n1.addr, 0))).unwrap().unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(tcp_connects(SocketAddr::from((la.node(1).unwrap().addr, port)), Duration::from_secs(2)));
    let target = SocketAddr::from((la.node(1).unwrap().addr, port));
    let from_b = netns::in_namespace(&lb.node(1).unwrap().namespace, move || {
        TcpStream::connect_timeout(&target, Duration::from_secs(1))
    })
    .unwrap();
    assert!(from_b.is_err(), "cluster b reached cluster a");
    // Within a cluster, nodes reach each other over the bridge.
    let from_a2 = netns::in_namespace(&la.node(2).unwrap().namespace, move || {
        TcpStream::connect_timeout(&target, Duration::from_secs(2))
    })
    .unwrap();
    assert!(from_a2.is_ok(), "node 2 cannot reach node 1: {from_a2:?}");

    // `up` on a subnet another cluster's bridge uses: exit 2, naming the bridge.
    let dc = tmp.path().join("c");
    let subnet = la.subnet.to_string();
    let o = aftershock(&["cluster", "up", "--netns", "--subnet", &subnet, "--nodes", "1", "--dir", dir_str(&dc)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already in use") && err.contains(&la.bridge), "{}", text(&o));
    assert!(netns::tagged_objects(&netns::dir_tag(&dc)).unwrap().is_empty(), "a refused up creates nothing");
    // A public subnet is refused before anything is created.
    let o = aftershock(&["cluster", "up", "--netns", "--subnet", "8.8.8.0/24", "--dir", dir_str(&dc)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a private network"), "{}", text(&o));

    drop(listener);
    let (a_layout, b_layout) = (la.clone(), lb.clone());
    drop(a);
    drop(b);
    assert!(a_layout.existing().unwrap().is_empty() && b_layout.existing().unwrap().is_empty());
    // Teardown is idempotent.
    assert!(a_layout.teardown().unwrap().is_empty());
}

/// `--netns` without root, or without `ip`/`nft`, is refused with exit code 2 and says why.
#[test]
fn netns_prerequisites_get_clear_errors() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");

    // Not root: run the binary as nobody (from a copy when the build dir is not readable
    // for it).
    let mut bin = PathBuf::from(env!("CARGO_BIN_EXE_aftershock"));
    let as_nobody = |bin: &Path| {
        Command::new(bin)
            .args(["cluster", "up", "--netns", "--dir", "/nonexistent/aftershock-netns-test"])
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
    };
    let o = match as_nobody(&bin) {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            use std::os::unix::fs::PermissionsExt as _;
            let copy_dir = tmp.path().join("bin");
            std::fs::create_dir(&copy_dir).unwrap();
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&copy_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let copy = copy_dir.join("aftershock");
            std::fs::copy(&bin, &copy).unwrap();
            bin = copy;
            as_nobody(&bin).unwrap()
        }
        Err(e) => panic!("running aftershock as nobody: {e}"),
    };
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--netns needs root") && err.contains("uid 65534"), "{}", text(&o));

    // No `ip` or `nft` on the PATH.
    let empty_bin = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty_bin).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["cluster", "up", "--netns", "--dir", dir_str(&dir)])
        .env("PATH", &empty_bin)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`ip` and `nft` are not on the PATH"), "{}", text(&o));
    assert!(err.contains("apt-get install -y iproute2 nftables"), "{}", text(&o));
    assert!(!dir.exists(), "nothing is created before the checks pass");

    // --subnet without --netns, and a malformed subnet: usage errors.
    let o = aftershock(&["cluster", "up", "--subnet", "10.77.0.0/24", "--dir", dir_str(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = aftershock(&["cluster", "up", "--netns", "--subnet", "10.77.0.9/24", "--dir", dir_str(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("host bits"), "{}", text(&o));
    // Too small for the nodes.
    let o =
        aftershock(&["cluster", "up", "--netns", "--subnet", "10.77.0.0/30", "--nodes", "3", "--dir", dir_str(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("need 4"), "{}", text(&o));
}
