//! A real single-node Kubernetes for tests, on this machine, with nothing pulled from a
//! registry: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
//! (iptables), CoreDNS and kube-router (NetworkPolicies only), all built from the Go module
//! proxy (tests/support/build-control-plane.sh); containerd and runc from Debian, with Debian's
//! CNI reference plugins (bridge, host-local, loopback); images built locally
//! (tests/support/kube-node/build-images.sh) and imported into containerd.
//!
//! Layout: pods live on the bridge `as-cni0`, 10.244.0.0/24, whose gateway 10.244.0.1 is the
//! node's address; the API server, CoreDNS (cluster DNS, as a host process) and the kubelet's
//! node IP are there. Services are 10.96.0.0/24. Everything the node makes is under one fixed
//! dir and one cgroup (`/aftershock-node`), so that the next start can remove what a crashed
//! run left behind, and `stop` removes all of it: processes, pods' processes, mounts, network
//! namespaces, the bridge, iptables chains and ipsets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use serde::Deserialize as _;
use serde_json::Value;

use crate::control_plane::{self, ADMIN, ControlPlane, Options, free_port};

pub const NODE_NAME: &str = "aftershock-node";
pub const BRIDGE: &str = "as-cni0";
pub const NODE_IP: &str = "10.244.0.1";
pub const POD_CIDR: &str = "10.244.0.0/24";
pub const SERVICE_CIDR: &str = "10.96.0.0/24";
/// The `kubernetes` Service's ClusterIP (the first of SERVICE_CIDR).
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";
/// A network namespace on the pod network that is neither a pod nor the node: clients run there
/// meet NetworkPolicies (kube-router, like most engines, always lets the node reach its pods).
pub const CLIENT_NETNS: &str = "as-client";
pub const CLIENT_IP: &str = "10.244.0.250";
const CGROUP_ROOT: &str = "aftershock-node";
const CGROUP_CONTROLLERS: [&str; 9] =
    ["cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices", "systemd"];

/// Host settings the node changes: the kubelet sets the first six (its "kernel tunables"),
/// the node the last two. Their values before the node are kept in `saved_sysctls()` and put
/// back by `clean_up`, so that no later test runs on a host the node changed (a JVM asking for
/// more memory than there is would be OOM-killed under overcommit 1 instead of failing).
const SYSCTLS: [&str; 8] = [
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
];

/// Outside the node's dir, which `clean_up` removes.
fn saved_sysctls() -> PathBuf {
    std::env::temp_dir().join("aftershock-kube-node.sysctl")
}

/// Records the current values, unless a crashed node's record is still there.
fn save_sysctls() {
    if saved_sysctls().exists() {
        return;
    }
    let values: Vec<String> = SYSCTLS
        .iter()
        .filter_map(|k| {
            std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/")))
                .ok()
                .map(|v| format!("{k}={}", v.trim()))
        })
        .collect();
    std::fs::write(saved_sysctls(), values.join("\n") + "\n").unwrap();
}

fn restore_sysctls() {
    let Ok(saved) = std::fs::read_to_string(saved_sysctls()) else { return };
    for line in saved.lines().filter(|l| !l.is_empty()) {
        sh_quiet(&format!("sysctl -qw '{line}'"));
    }
    let _ = std::fs::remove_file(saved_sysctls());
}

/// Prints a line of the test's progress or figures, and appends it to
/// `target/tmp/kube-node.log`: a passing test's output is captured, and CI's figures should
/// outlive it.
pub fn say(line: String) {
    use std::io::Write as _;
    println!("{line}");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-node.log");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}

/// The node's fixed dir: one node per machine at a time.
pub fn node_dir() -> PathBuf {
    std::env::temp_dir().join("aftershock-kube-node")
}

pub struct KubeNode {
    pub dir: PathBuf,
    pub cp: ControlPlane,
    pub images: BTreeMap<String, String>,
    procs: Vec<(&'static str, Child)>,
    bin: PathBuf,
    stopped: bool,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(script: &str) -> String {
    run(Command::new("sh").args(["-c", script]))
}

/// The same, for cleanup: failures are expected (nothing to remove) and ignored.
fn sh_quiet(script: &str) {
    let _ = Command::new("sh").args(["-c", script]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Builds (or finds cached) the node's images; returns name -> (reference, archive).
pub fn build_images(aftershock_bin: &Path) -> BTreeMap<String, (String, PathBuf)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kube-node/build-images.sh");
    let started = Instant::now();
    let out = run(Command::new("bash")
        .arg(&script)
        .env("AFTERSHOCK_BIN", aftershock_bin)
        .env("KAFKA_VERSION", aftershock::cluster::dist::DEFAULT_KAFKA_VERSION)
        .stderr(Stdio::inherit()));
    say(format!("[kube-node] images ready in {:.1} s", started.elapsed().as_secs_f64()));
    out.lines()
        .filter_map(|l| l.strip_prefix("image "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let (name, reference, archive) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
            (name.to_string(), (reference.to_string(), PathBuf::from(archive)))
        })
        .collect()
}

/// Pids of processes whose command line mentions `needle`.
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

fn kill_all(pids: &[i32]) {
    for &p in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Every process in the node's cgroup tree (the pods' containers and sandboxes).
fn cgroup_pids() -> Vec<i32> {
    let mut out = Vec::new();
    let root = Path::new("/sys/fs/cgroup/pids").join(CGROUP_ROOT);
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    out
}

/// Removes the iptables rules and chains matching `pattern` (a grep basic regex) and every
/// `KUBE-` ipset. kube-proxy's and kube-router's chains and sets all start with KUBE-; only
/// kube-router uses ipsets here.
fn remove_kube_rules(pattern: &str) {
    sh_quiet(&format!("iptables-save | grep -v -- '{pattern}' | iptables-restore"));
    sh_quiet("for s in $(ipset list -n | grep '^KUBE-'); do ipset destroy \"$s\"; done");
}

/// Removes everything a node (this one, or one from a crashed run) made. Idempotent.
pub fn clean_up(dir: &Path) {
    let needle = dir.to_str().unwrap();
    // Node processes first, so that nothing recreates what follows; then the pods' processes.
    for _ in 0..3 {
        kill_all(&pids_mentioning(needle));
        kill_all(&cgroup_pids());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Mounts under the dir (kubelet volumes, containerd's snapshots and shm), deepest first.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(needle)).collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        sh_quiet(&format!("umount -l '{m}'"));
    }
    // CNI's network namespaces (containerd names them cni-<uuid>).
    sh_quiet("for n in $(ip netns list | awk '/^cni-/{print $1}'); do ip netns delete \"$n\"; done");
    sh_quiet(&format!("ip netns delete {CLIENT_NETNS}"));
    sh_quiet(&format!("ip link delete {BRIDGE}"));
    remove_kube_rules("KUBE-");
    for c in CGROUP_CONTROLLERS {
        sh_quiet(&format!("find /sys/fs/cgroup/{c}/{CGROUP_ROOT} -depth -type d -exec rmdir {{}} \\;"));
    }
    restore_sysctls();
    let _ = std::fs::remove_dir_all(dir);
}

/// A CA and the API server's serving certificate (for its node IP, loopback, the `kubernetes`
/// Service's ClusterIP and names), so that pods verify it with the CA in their token volume.
fn certificates(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::write(
        d.join("san.cnf"),
        format!(
            "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:127.0.0.1,IP:{NODE_IP},IP:{KUBERNETES_SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    sh(&format!(
        "cd '{d}' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=aftershock-test-ca 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null \
         && openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 2 -extfile san.cnf -extensions ext 2>/dev/null",
        d = d.display()
    ));
    (d.join("ca.crt"), d.join("apiserver.crt"), d.join("apiserver.key"))
}

impl KubeNode {
    /// Starts the node and waits until it is Ready. `aftershock_bin` goes into the aftershock image.
    pub async fn start(aftershock_bin: &Path) -> KubeNode {
        let started = Instant::now();
        let bin = control_plane::binaries();
        let images = tokio::task::block_in_place(|| build_images(aftershock_bin));
        let dir = node_dir();
        tokio::task::block_in_place(|| clean_up(&dir));
        save_sysctls();
        for sub in ["logs", "certs", "cni/net.d", "cni/ipam", "containerd", "kubelet", "volumes"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // Bridged pod traffic goes through iptables (NetworkPolicies, Services); the node routes.
        sh("sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1");
        // The bridge exists before the first pod, so that the API server and CoreDNS can bind
        // the node IP; the CNI bridge plugin takes it over as it is.
        sh(&format!(
            "ip link add {BRIDGE} type bridge && ip addr add {NODE_IP}/24 dev {BRIDGE} && ip link set {BRIDGE} up"
        ));
        for c in CGROUP_CONTROLLERS {
            let p = format!("/sys/fs/cgroup/{c}/{CGROUP_ROOT}");
            std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("creating cgroup {p}: {e}"));
        }
        // A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
        sh(&format!(
            "cat /sys/fs/cgroup/cpuset/cpuset.cpus > /sys/fs/cgroup/cpuset/{CGROUP_ROOT}/cpuset.cpus && \
             cat /sys/fs/cgroup/cpuset/cpuset.mems > /sys/fs/cgroup/cpuset/{CGROUP_ROOT}/cpuset.mems"
        ));
        let (ca, cert, key) = certificates(&dir.join("certs"));
        let cp = ControlPlane::start_with(Options {
            dir: Some(dir.join("control-plane")),
            address: NODE_IP.into(),
            service_cluster_ip_range: SERVICE_CIDR.into(),
            tls: Some((cert, key)),
            service_accounts: true,
        })
        .await;
        let references = images.iter().map(|(name, (reference, _))| (name.clone(), reference.clone())).collect();
        let mut node = KubeNode { dir, cp, images: references, procs: Vec::new(), bin, stopped: false };
        let admin_kubeconfig = node.cp.kubeconfig(ADMIN);
        node.start_containerd();
        // One import at a time takes about 12 s per image; side by side they overlap.
        std::thread::scope(|s| {
            for (reference, archive) in images.values() {
                let node = &node;
                s.spawn(move || node.import_image(reference, archive));
            }
        });
        node.start_kubelet(&admin_kubeconfig);
        node.start_controllers(&admin_kubeconfig, &ca);
        node.start_network(&admin_kubeconfig);
        node.wait_node_ready().await;
        // kube-router identifies its node at start, so it starts once the node is registered.
        node.start_policy_engine(&admin_kubeconfig);
        say(format!("[kube-node] node Ready in {:.1} s (dir {})", started.elapsed().as_secs_f64(), node.dir.display()));
        node
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.dir.join("logs").join(format!("{name}.log"))).unwrap()
    }

    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(self.log(name))
            .stderr(self.log(&format!("{name}.err")))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.procs.push((name, child));
    }

    /// Panics naming the component (and its log) that exited.
    pub fn check_alive(&mut self) {
        for (name, child) in &mut self.procs {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("{name} exited ({st}); see {}/logs/{name}.err.log", self.dir.display());
            }
        }
    }

    fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd/containerd.sock")
    }

    fn start_containerd(&mut self) {
        let d = self.dir.join("containerd");
        let pause = &self.images["pause"];
        let cni = self.dir.join("cni");
        std::fs::write(
            d.join("config.toml"),
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE, so no process may lower its OOM score: the
  # kubelet's -998 for sandboxes fails in runc ("failed to update /proc/self/oom_score_adj:
  # Permission denied") unless containerd clamps scores to its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}/net.d"
"#,
                root = d.join("root").display(),
                state = d.join("state").display(),
                sock = self.containerd_socket().display(),
                cni = cni.display(),
            ),
        )
        .unwrap();
        // One bridge, host-local addresses (pods from .10 to .200; .250 is left for a client
        // namespace on the pod network), hairpin for a pod reaching itself through a Service.
        std::fs::write(
            cni.join("net.d/10-aftershock.conflist"),
            serde_json::to_string_pretty(&serde_json::json!({
                "cniVersion": "0.4.0",
                "name": "aftershock",
                "plugins": [
                    {"type": "bridge", "bridge": BRIDGE, "isGateway": true, "ipMasq": false, "hairpinMode": true,
                     "ipam": {"type": "host-local", "dataDir": cni.join("ipam"),
                              "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP,
                                           "rangeStart": "10.244.0.10", "rangeEnd": "10.244.0.200"}]],
                              "routes": [{"dst": "0.0.0.0/0"}]}},
                    {"type": "portmap", "capabilities": {"portMappings": true}}
                ]
            }))
            .unwrap(),
        )
        .unwrap();
        let config = d.join("config.toml");
        self.spawn("containerd", Command::new("containerd").arg("--config").arg(&config));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.containerd_socket().exists() {
            self.check_alive();
            assert!(Instant::now() < deadline, "containerd did not open its socket in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctr images import` of an OCI archive whose one tag is `reference`'s.
    fn import_image(&self, reference: &str, archive: &Path) {
        let started = Instant::now();
        let (base, _) = reference.rsplit_once(':').unwrap();
        let out = run(Command::new("ctr")
            .arg("--address")
            .arg(self.containerd_socket())
            .args(["-n", "k8s.io", "images", "import", "--base-name", base])
            .arg(archive));
        let listed = run(Command::new("ctr")
            .arg("--address")
            .arg(self.containerd_socket())
            .args(["-n", "k8s.io", "images", "ls", "-q"]));
        assert!(listed.lines().any(|l| l == reference), "importing {} gave {out}; images: {listed}", archive.display());
        say(format!("[kube-node] imported {reference} in {:.1} s", started.elapsed().as_secs_f64()));
    }

    fn start_kubelet(&mut self, kubeconfig: &Path) {
        let d = self.dir.join("kubelet");
        std::fs::write(d.join("resolv.conf"), "").unwrap();
        let config = serde_json::json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "authentication": {"anonymous": {"enabled": true}, "webhook": {"enabled": false}},
            "authorization": {"mode": "AlwaysAllow"},
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": format!("/{CGROUP_ROOT}"),
            "failCgroupV1": false,
            "containerRuntimeEndpoint": format!("unix://{}", self.containerd_socket().display()),
            "failSwapOn": false,
            "clusterDNS": [NODE_IP],
            "clusterDomain": "cluster.local",
            "resolvConf": d.join("resolv.conf"),
            "serializeImagePulls": false,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "maxPods": 40,
            // Not /var/log/pods: everything the node writes stays under its dir.
            "podLogsDir": self.dir.join("logs/pods"),
        });
        std::fs::write(d.join("config.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let bin = self.bin.join("kubelet");
        self.spawn(
            "kubelet",
            Command::new(bin)
                .arg(format!("--config={}", d.join("config.json").display()))
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg(format!("--root-dir={}", d.join("root").display()))
                .arg(format!("--cert-dir={}", d.join("pki").display()))
                .arg(format!("--node-ip={NODE_IP}"))
                .arg(format!("--hostname-override={NODE_NAME}"))
                .arg("--v=1"),
        );
    }

    fn start_controllers(&mut self, kubeconfig: &Path, ca: &Path) {
        let sa_key = self.cp.dir.join("sa.key");
        let kcm = self.bin.join("kube-controller-manager");
        self.spawn(
            "kube-controller-manager",
            Command::new(kcm)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg("--leader-elect=false")
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={}", free_port()))
                .arg("--allocate-node-cidrs=true")
                .arg("--cluster-cidr=10.244.0.0/16")
                .arg("--node-cidr-mask-size=24")
                .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
                .arg(format!("--root-ca-file={}", ca.display()))
                .arg(format!("--service-account-private-key-file={}", sa_key.display()))
                .arg("--use-service-account-credentials=false")
                .arg("--controllers=*"),
        );
        let sched = self.bin.join("kube-scheduler");
        self.spawn(
            "kube-scheduler",
            Command::new(sched)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg("--leader-elect=false")
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={}", free_port())),
        );
    }

    fn start_network(&mut self, kubeconfig: &Path) {
        let proxy = self.bin.join("kube-proxy");
        self.spawn(
            "kube-proxy",
            Command::new(proxy)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg("--proxy-mode=iptables")
                .arg("--cluster-cidr=10.244.0.0/16")
                .arg(format!("--hostname-override={NODE_NAME}"))
                .arg("--conntrack-max-per-core=0")
                .arg(format!("--metrics-bind-address=127.0.0.1:{}", free_port()))
                .arg(format!("--healthz-bind-address=127.0.0.1:{}", free_port())),
        );
        let corefile = self.dir.join("Corefile");
        std::fs::write(
            &corefile,
            format!(
                ".:53 {{\n  bind {NODE_IP}\n  errors\n  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n    kubeconfig {} {u}@test\n    pods insecure\n    fallthrough in-addr.arpa ip6.arpa\n  }}\n}}\n",
                kubeconfig.display(),
                u = ADMIN.0
            ),
        )
        .unwrap();
        let coredns = self.bin.join("coredns");
        self.spawn("coredns", Command::new(coredns).arg("-conf").arg(&corefile));
    }

    /// kube-router with only its NetworkPolicy firewall on (no routing, no service proxy).
    pub fn start_policy_engine(&mut self, kubeconfig: &Path) {
        let router = self.bin.join("kube-router");
        let health = free_port();
        self.spawn(
            "kube-router",
            Command::new(router)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg("--run-firewall=true")
                .arg("--run-router=false")
                .arg("--run-service-proxy=false")
                .arg("--enable-cni=false")
                .arg(format!("--hostname-override={NODE_NAME}"))
                .arg(format!("--health-port={health}"))
                .arg("--metrics-port=0")
                .arg("--iptables-sync-period=5s")
                .arg("--cache-sync-timeout=1m")
                .arg("-v=1"),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sh("iptables -S").contains("KUBE-ROUTER-FORWARD") {
            self.check_alive();
            assert!(Instant::now() < deadline, "kube-router made no chains in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The client namespace: a veth from the bridge, CLIENT_IP, the node as its gateway.
    pub fn add_client_netns(&self) {
        sh(&format!(
            "ip netns add {CLIENT_NETNS} && ip link add as-client0 type veth peer name eth0 netns {CLIENT_NETNS} && \
             ip link set as-client0 master {BRIDGE} up && ip -n {CLIENT_NETNS} link set lo up && \
             ip -n {CLIENT_NETNS} addr add {CLIENT_IP}/24 dev eth0 && ip -n {CLIENT_NETNS} link set eth0 up && \
             ip -n {CLIENT_NETNS} route add default via {NODE_IP}"
        ));
    }

    /// Stops kube-router and removes its chains and sets: from then on nothing enforces
    /// NetworkPolicies on this node.
    pub fn stop_policy_engine(&mut self) {
        if let Some(i) = self.procs.iter().position(|(n, _)| *n == "kube-router") {
            let (_, mut child) = self.procs.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_kube_rules("KUBE-ROUTER\\|KUBE-NWPLCY\\|KUBE-POD-FW\\|KUBE-SRC\\|KUBE-DST");
    }

    async fn wait_node_ready(&mut self) {
        let client = self.cp.client(ADMIN).await;
        let nodes: Api<Node> = Api::all(client);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.check_alive();
            if let Ok(Some(n)) = nodes.get_opt(NODE_NAME).await {
                let ready = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                let cidr = n.spec.as_ref().and_then(|s| s.pod_cidr.clone());
                if ready && cidr.is_some() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {NODE_NAME} not Ready in 120 s; logs in {}/logs",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn admin(&self) -> Client {
        self.cp.client(ADMIN).await
    }

    /// Creates every object of a multi-document YAML manifest, after `edit` has had its say
    /// on each (None drops it). Objects without a namespace go into `namespace` if namespaced.
    pub async fn apply(&self, yaml: &str, namespace: &str, edit: impl Fn(&mut Value) -> bool) {
        let client = self.admin().await;
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let v = serde_yaml::Value::deserialize(doc).unwrap();
            if v.is_null() {
                continue;
            }
            let mut obj: Value = serde_json::to_value(v).unwrap();
            if !edit(&mut obj) {
                continue;
            }
            let (group, version) = match obj["apiVersion"].as_str().unwrap().split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), obj["apiVersion"].as_str().unwrap().to_string()),
            };
            let kind = obj["kind"].as_str().unwrap().to_string();
            let (ar, caps) = pinned_kind(&client, &GroupVersionKind::gvk(&group, &version, &kind)).await.unwrap();
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => Api::namespaced_with(client.clone(), namespace, &ar),
                Scope::Cluster => Api::all_with(client.clone(), &ar),
            };
            let d: DynamicObject = serde_json::from_value(obj).unwrap();
            let name = d.metadata.name.clone().unwrap_or_default();
            api.create(&PostParams::default(), &d).await.unwrap_or_else(|e| panic!("creating {kind}/{name}: {e}"));
        }
    }

    /// Waits until `count` pods matching `labels` in `namespace` are Ready.
    pub async fn wait_pods_ready(&mut self, namespace: &str, labels: &str, count: usize, timeout: Duration) {
        let pods: Api<Pod> = Api::namespaced(self.admin().await, namespace);
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive();
            let list = pods.list(&ListParams::default().labels(labels)).await.unwrap();
            let ready = list.items.iter().filter(|p| is_ready(p)).count();
            if ready >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{ready}/{count} pods {labels} Ready after {timeout:?}: {:#?}\nlogs in {}/logs",
                list.items.iter().map(|p| (p.metadata.name.clone(), p.status.clone())).collect::<Vec<_>>(),
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops every component and removes what the node made.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for (_, child) in self.procs.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.procs.clear();
        clean_up(&self.dir);
    }
}

pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Drop for KubeNode {
    fn drop(&mut self) {
        // Keep the logs of a failed test: only the processes and kernel state go.
        if std::thread::panicking() {
            let keep = std::env::temp_dir().join("aftershock-kube-node-logs");
            let _ = std::fs::remove_dir_all(&keep);
            let _ = Command::new("cp").arg("-r").arg(self.dir.join("logs")).arg(&keep).status();
            eprintln!("[kube-node] logs kept in {}", keep.display());
        }
        self.stop();
    }
}
