//! aftershock against Kafka on a real single-node Kubernetes (tests/support/kube_node.rs): broker
//! pods that a real kubelet runs from a locally built image, a StatefulSet that the real
//! controller-manager keeps, NetworkPolicies that kube-router enforces with iptables and
//! ipsets, CoreDNS for the pods' names, kube-proxy for Services, and aftershock itself as the
//! shipped in-cluster Job.
//!
//! One test walks through every step on one node and one Kafka cluster: starting them takes
//! minutes on two cores. It needs root (network, cgroups, mounts), as the whole suite does.

mod common;
#[path = "support/control_plane.rs"]
mod control_plane;
#[path = "support/kube_node.rs"]
mod kube_node;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aftershock::cluster::dist::DEFAULT_KAFKA_VERSION;
use common::text;
use control_plane::{AFTERSHOCK, bind, shipped_roles};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube_node::KubeNode;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

const NS: &str = "kafka";
const BROKERS: &str = "strimzi.io/cluster=demo,strimzi.io/kind=Kafka";

fn manifest(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

fn pod_name(id: i32) -> String {
    format!("demo-dual-role-{id}")
}

/// k8s/role.yaml as shipped, for a token user (the Job's service account gets it from
/// k8s/rolebinding.yaml).
async fn bind_shipped_role(client: &Client, user: &str) {
    let mut role = shipped_roles("role.yaml").remove(0);
    role.metadata.name = Some("aftershock-user".into());
    bind(client, NS, &role, user).await;
}

/// k8s/role.yaml without pod deletion.
async fn bind_limited_role(client: &Client, user: &str) {
    let mut role = shipped_roles("role.yaml").remove(0);
    role.metadata.name = Some("aftershock-limited".into());
    for rule in role.rules.iter_mut().flatten() {
        if rule.resources.iter().flatten().any(|r| r == "pods") {
            rule.verbs.retain(|v| v != "delete");
        }
    }
    role.rules.iter_mut().for_each(|rules| rules.retain(|r| !r.verbs.is_empty()));
    bind(client, NS, &role, user).await;
}

/// Persistent volumes on the node's disk: one per broker and one for the Job's reports. The
/// reports' is the smallest, so the binder gives it to the 1Gi claim of k8s/job.yaml.
async fn create_volumes(node: &KubeNode) -> PathBuf {
    let mut yaml = String::new();
    let reports = node.dir.join("volumes/reports");
    for (name, size) in [("kafka-0", "5Gi"), ("kafka-1", "5Gi"), ("kafka-2", "5Gi"), ("reports", "1Gi")] {
        let path = node.dir.join("volumes").join(name);
        std::fs::create_dir_all(&path).unwrap();
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  hostPath: {{path: {}, type: Directory}}\n",
            path.display()
        ));
    }
    // The Job runs as 65532 (k8s/Dockerfile's USER).
    std::fs::set_permissions(&reports, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    node.apply(&yaml, NS, |_| true).await;
    reports
}

fn metadata_client(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("socket.timeout.ms", "3000")
        .create()
        .unwrap()
}

/// What one metadata response said: the brokers registered, and per partition its ISR.
struct View {
    brokers: BTreeSet<i32>,
    isrs: Vec<(String, i32, Vec<i32>)>,
}

fn view(c: &BaseConsumer) -> Option<View> {
    let md = c.fetch_metadata(None, Duration::from_secs(3)).ok()?;
    let brokers = md.brokers().iter().map(|b| b.id()).collect();
    let isrs = md
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .flat_map(|t| t.partitions().iter().map(move |p| (t.name().to_string(), p.id(), p.isr().to_vec())))
        .collect();
    Some(View { brokers, isrs })
}

async fn wait_brokers(bootstrap: &str, count: usize, timeout: Duration) {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c = metadata_client(&bootstrap);
        let deadline = Instant::now() + timeout;
        loop {
            if view(&c).is_some_and(|v| v.brokers.len() == count) {
                return;
            }
            assert!(Instant::now() < deadline, "{count} brokers not registered at {bootstrap} in {timeout:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();
}

fn scenario(name: &str, bootstrap: &str, kubeconfig: &Path, steady: &str, faults: Value) -> Value {
    json!({
        "name": name,
        "seed": 5,
        "cluster": {"existing": {"bootstrap": bootstrap, "kubernetes": {
            "namespace": NS, "strimzi_cluster": "demo",
            // A StatefulSet labels each pod with its name here; Strimzi's StrimziPodSet would
            // set strimzi.io/pod-name.
            "pod_label": "statefulset.kubernetes.io/pod-name",
            "kubeconfig": kubeconfig.to_str().unwrap(), "ready_timeout": "4m"
        }}},
        "topics": [{"name": name, "partitions": 3, "replication_factor": 3, "config": {"min.insync.replicas": 2}}],
        "producers": [{"name": "p", "topic": name, "rate": 300, "message_size": "200B", "acks": "all", "idempotence": true}],
        "consumers": [{"name": "c", "topic": name}],
        "phases": [{"name": "warmup", "duration": "5s"}, {"name": "steady", "duration": steady}],
        "faults": faults,
        "drain": "60s"
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(format!("{name}.json"));
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

async fn run_file(file: &Path, out: &Path) -> std::process::Output {
    let args: Vec<String> = ["run", file.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]
        .iter()
        .map(|a| a.to_string())
        .collect();
    tokio::task::spawn_blocking(move || common::aftershock(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

/// The same from the node's client namespace, where clients meet NetworkPolicies.
async fn run_file_as_client(file: &Path, out: &Path) -> std::process::Output {
    let (file, out) = (file.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("ip")
            .args(["netns", "exec", kube_node::CLIENT_NETNS, env!("CARGO_BIN_EXE_aftershock"), "run"])
            .arg(&file)
            .args(["--quiet", "--out"])
            .arg(&out)
            .env(
                "AFTERSHOCK_STATE_DIR",
                std::env::temp_dir().join(format!("aftershock-test-state-{}", std::process::id())),
            )
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn pod_uid(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get_opt(name).await.unwrap().and_then(|p| p.metadata.uid)
}

async fn aftershock_policies(client: &Client) -> Vec<String> {
    Api::<NetworkPolicy>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=aftershock"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// The pid of the Kafka JVM of a pod (its environment names the pod).
fn java_pid(pod: &str) -> Option<i32> {
    let needle = format!("POD_NAME={pod}");
    std::fs::read_dir("/proc").ok()?.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "java")
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|e| e.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
    })
}

/// Whether a new TCP connection from `pod`'s network namespace to `addr` gets through.
fn connects_from(pod: &str, addr: &str) -> bool {
    let pid = java_pid(pod).unwrap_or_else(|| panic!("no JVM of pod {pod}"));
    let (ip, port) = addr.split_once(':').unwrap();
    std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "timeout", "3", "bash", "-c", &format!("echo > /dev/tcp/{ip}/{port}")])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

async fn pod_ip(pods: &Api<Pod>, name: &str) -> String {
    pods.get(name).await.unwrap().status.and_then(|s| s.pod_ip).unwrap()
}

/// What the test saw around a NetworkPolicy partition of `victim`.
#[derive(Debug, Default)]
struct Seen {
    /// From the policy's creation to kube-router's rules for it (None: none came in 15 s).
    rules_after: Option<Duration>,
    /// From the cut taking effect (the rules in place, and with `flush` the victim's conntrack
    /// entries deleted) to the first metadata response that showed the victim
    /// fenced (not registered), and out of every ISR. Responses may come from any broker, the
    /// cut-off one included (the node itself can always reach its pods), so one that shows
    /// the victim gone can only come from the brokers that fenced it.
    unregistered: Option<Duration>,
    out_of_isr: Option<Duration>,
    /// While the policy existed: whether a new connection from another broker's pod to the
    /// victim's controller port got through, and one to a third broker (the control).
    new_connection_to_victim: Option<bool>,
    new_connection_elsewhere: Option<bool>,
}

/// Runs `run` while watching a partition of broker `victim` (pod IP `victim_ip`). With
/// `flush`, the victim's conntrack entries are deleted as soon as the policy exists, so that
/// kube-router's rules apply to the connections Kafka already had open.
async fn watch_partition<F: std::future::Future<Output = std::process::Output>>(
    client: &Client,
    bootstrap: &str,
    victim: i32,
    victim_ip: &str,
    flush: bool,
    run: F,
) -> (std::process::Output, Seen) {
    let done = Arc::new(AtomicBool::new(false));
    let policy_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let poller = {
        let (done, policy_at, bootstrap) = (done.clone(), policy_at.clone(), bootstrap.to_string());
        tokio::task::spawn_blocking(move || {
            let mut seen = Seen::default();
            while !done.load(Ordering::Relaxed) {
                let since = *policy_at.lock().unwrap();
                // A new client each time, as aftershock's own observer does: through the
                // bootstrap Service each lands on a broker kube-proxy picks, where one
                // long-lived client would keep asking the same broker.
                if let Some(since) = since
                    && let Some(v) = view(&metadata_client(&bootstrap))
                {
                    if seen.unregistered.is_none() && !v.brokers.contains(&victim) && !v.brokers.is_empty() {
                        seen.unregistered = Some(since.elapsed());
                    }
                    if seen.out_of_isr.is_none()
                        && !v.isrs.is_empty()
                        && v.isrs.iter().all(|(_, _, isr)| !isr.contains(&victim))
                    {
                        seen.out_of_isr = Some(since.elapsed());
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            seen
        })
    };
    let watcher = {
        let (client, done, policy_at, victim_ip) =
            (client.clone(), done.clone(), policy_at.clone(), victim_ip.to_string());
        let (from, third) = (pod_name((victim + 1) % 3), pod_name((victim + 2) % 3));
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        tokio::spawn(async move {
            let mut probes = (None, None);
            let mut rules_after = None;
            while !done.load(Ordering::Relaxed) {
                let since = *policy_at.lock().unwrap();
                match since {
                    None => {
                        let Some(name) = aftershock_policies(&client).await.into_iter().next() else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        // kube-router's rules for a policy name it in a comment. Flushing
                        // before they exist would let Kafka reconnect through the gap.
                        let created = Instant::now();
                        let needle = format!("nw policy {name}");
                        while created.elapsed() < Duration::from_secs(15) {
                            let rules = std::process::Command::new("iptables-save").output().unwrap().stdout;
                            if String::from_utf8_lossy(&rules).contains(&needle) {
                                rules_after = Some(created.elapsed());
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        if flush {
                            for dir in ["-s", "-d"] {
                                let _ = std::process::Command::new("conntrack")
                                    .args(["-D", dir, &victim_ip])
                                    .stdout(std::process::Stdio::null())
                                    .stderr(std::process::Stdio::null())
                                    .status();
                            }
                        }
                        *policy_at.lock().unwrap() = Some(Instant::now());
                    }
                    // kube-router syncs within a few seconds of a policy's creation.
                    Some(t) if probes.0.is_none() && t.elapsed() > Duration::from_secs(1) => {
                        let third_ip = pod_ip(&pods, &third).await;
                        let (f, v, t) = (from.clone(), victim_ip.clone(), third_ip);
                        probes = tokio::task::spawn_blocking(move || {
                            (
                                Some(connects_from(&f, &format!("{v}:9090"))),
                                Some(connects_from(&f, &format!("{t}:9090"))),
                            )
                        })
                        .await
                        .unwrap();
                    }
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (probes, rules_after)
        })
    };
    let out = run.await;
    done.store(true, Ordering::Relaxed);
    let ((to_victim, elsewhere), rules_after) = watcher.await.unwrap();
    let mut seen = poller.await.unwrap();
    seen.new_connection_to_victim = to_victim;
    seen.new_connection_elsewhere = elsewhere;
    seen.rules_after = rules_after;
    (out, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_on_a_real_kubernetes_node() {
    assert!(nix::unistd::geteuid().is_root(), "the real-node test needs root (network, cgroups, mounts)");
    let started = Instant::now();
    let now = std::process::Command::new("date").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    kube_node::say(format!("[kube-node] test started {}", String::from_utf8_lossy(&now).trim()));
    let overcommit = || std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
    let overcommit_before = overcommit();
    let mut node = KubeNode::start(Path::new(env!("CARGO_BIN_EXE_aftershock"))).await;
    let admin = node.admin().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &ns).await.unwrap();
    let reports_volume = create_volumes(&node).await;
    let kafka_yaml = manifest("tests/support/kube-node/kafka.yaml").replace("KAFKA_VERSION", DEFAULT_KAFKA_VERSION);
    node.apply(&kafka_yaml, NS, |_| true).await;
    node.wait_pods_ready(NS, BROKERS, 3, Duration::from_secs(300)).await;
    let services: Api<Service> = Api::namespaced(admin.clone(), NS);
    let cluster_ip = services.get("demo-kafka-bootstrap").await.unwrap().spec.unwrap().cluster_ip.unwrap();
    // The node reaches the bootstrap Service through kube-proxy's rules, then each broker at
    // the pod IP its external listener advertises.
    let bootstrap = format!("{cluster_ip}:9094");
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;
    kube_node::say(format!(
        "[kube-node] Kafka up, 3 brokers registered, {:.1} s after start",
        started.elapsed().as_secs_f64()
    ));

    bind_shipped_role(&admin, AFTERSHOCK.0).await;
    let kubeconfig = node.cp.kubeconfig(AFTERSHOCK);
    let work = tempfile::tempdir().unwrap();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NS);
    let step = |what: &str| kube_node::say(format!("[kube-node] {:.1} s: {what}", started.elapsed().as_secs_f64()));

    step("policy, connections kept");
    // 1. A NetworkPolicy partition of one broker from the others, as kube-router enforces
    //    it: new connections to the broker are refused, but its pod chain accepts ESTABLISHED
    //    traffic first, so the connections Kafka already has carry on and Kafka sees nothing.
    //    The report says so.
    let victim = 2;
    let victim_ip = pod_ip(&pods, &pod_name(victim)).await;
    let cut = |name: &str| json!([{"name": name, "at": "6s", "action": "partition", "target": {"node": victim}, "peers": "nodes", "duration": "17s"}]);
    let file = write(
        work.path(),
        "cut-established",
        &scenario("node-cut-established", &bootstrap, &kubeconfig, "22s", cut("isolate")),
    );
    let run_dir = work.path().join("cut-established-run");
    let (out, seen) = watch_partition(&admin, &bootstrap, victim, &victim_ip, false, run_file(&file, &run_dir)).await;
    node.check_alive();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    kube_node::say(format!("[kube-node] policy, connections kept: {seen:?}"));
    assert!(seen.rules_after.is_some(), "kube-router made rules for the policy: {seen:?}");
    assert_eq!(seen.new_connection_to_victim, Some(false), "kube-router refuses new connections to the cut-off pod");
    assert_eq!(seen.new_connection_elsewhere, Some(true), "and only to it");
    assert_eq!(seen.unregistered, None, "established connections kept the broker registered");
    let notes = report(&run_dir)["faults"][0]["recovery"]["notes"].to_string();
    assert!(notes.contains("no visible effect") && notes.contains("new connections only"), "{notes}");
    assert!(aftershock_policies(&admin).await.is_empty(), "the policy outlived its window");

    step("enforced partition");
    // 2. The same partition with the broker's conntrack entries flushed as the policy lands:
    //    every packet meets the policy, the broker is fenced within the session timeout (9 s)
    //    and leaves every ISR, acks=all goes on through the other two, nothing is lost.
    let file = write(work.path(), "cut", &scenario("node-cut", &bootstrap, &kubeconfig, "22s", cut("isolate")));
    let run_dir = work.path().join("cut-run");
    let (out, seen) = watch_partition(&admin, &bootstrap, victim, &victim_ip, true, run_file(&file, &run_dir)).await;
    node.check_alive();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&run_dir);
    let f = &r["faults"][0];
    kube_node::say(format!("enforced partition on the real node: {f:#}\n[kube-node] enforced partition: {seen:?}"));
    let notes = f["recovery"]["notes"].to_string();
    assert!(!notes.contains("no visible effect"), "{notes}");
    let unregistered = seen.unregistered.expect("Kafka never showed the cut-off broker unregistered");
    let out_of_isr = seen.out_of_isr.expect("Kafka never showed the cut-off broker out of the ISRs");
    kube_node::say(format!(
        "[kube-node] enforced partition: rules {:?} after the policy, broker {victim} fenced {:.1} s and out of every ISR {:.1} s after the cut; unavailable (max) {} s",
        seen.rules_after,
        unregistered.as_secs_f64(),
        out_of_isr.as_secs_f64(),
        f["recovery"]["unavailable_max_secs"]
    ));
    assert!(unregistered < Duration::from_secs(15), "fenced after {unregistered:?}");
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    assert!(r["verification"]["acked"].as_u64().unwrap() > 0, "{:#}", r["verification"]);
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;

    step("client cut");
    // 3. Cut from the clients only (run from a namespace on the pod network: the node itself
    //    may always reach its pods). Kafka keeps the broker, its peers still connect, and the
    //    partitions it leads take no acks while the cut lasts.
    node.add_client_netns();
    let client_cut = json!([{"name": "no-clients", "at": "6s", "action": "partition", "target": {"node": victim},
        "peers": "clients", "duration": "17s"}]);
    let file =
        write(work.path(), "client-cut", &scenario("node-client-cut", &bootstrap, &kubeconfig, "22s", client_cut));
    let run_dir = work.path().join("client-cut-run");
    let (out, seen) =
        watch_partition(&admin, &bootstrap, victim, &victim_ip, true, run_file_as_client(&file, &run_dir)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&run_dir);
    let f = &r["faults"][0];
    kube_node::say(format!("client cut on the real node: {f:#}\n[kube-node] client cut: {seen:?}"));
    assert_eq!(seen.unregistered, None, "a broker cut from clients only stays registered: {seen:?}");
    assert_eq!(seen.new_connection_to_victim, Some(true), "its peers still reach it");
    let unavailable = f["recovery"]["unavailable_max_secs"].as_f64().unwrap_or(f64::INFINITY);
    assert!(unavailable > 10.0, "the partitions it leads take no acks while clients are cut: {f:#}");
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;

    step("one-way cut");
    // 4. A one-way cut (inbound from the other brokers): new connections to the broker are
    //    refused, but on a stateful engine a connection the broker sends on first after the
    //    flush counts as its own, so the peers' replies pass: every connection between brokers
    //    carries traffic both ways, and Kafka sees nothing. The report says so.
    let one_way = json!([{"name": "inbound", "at": "6s", "action": "partition", "target": {"node": victim},
        "peers": "nodes", "direction": "inbound", "duration": "17s"}]);
    let file = write(work.path(), "one-way", &scenario("node-one-way", &bootstrap, &kubeconfig, "22s", one_way));
    let run_dir = work.path().join("one-way-run");
    let (out, seen) = watch_partition(&admin, &bootstrap, victim, &victim_ip, true, run_file(&file, &run_dir)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&run_dir);
    let f = &r["faults"][0];
    kube_node::say(format!("one-way cut on the real node: {f:#}\n[kube-node] one-way cut: {seen:?}"));
    assert_eq!(seen.new_connection_to_victim, Some(false), "new connections in are refused: {seen:?}");
    assert_eq!(seen.unregistered, None, "{seen:?}");
    let notes = f["recovery"]["notes"].to_string();
    assert!(notes.contains("no visible effect"), "{notes}");
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;

    step("no engine");
    // The same with nothing enforcing policies: new connections get through as well.
    node.stop_policy_engine();
    let short = json!([{"name": "unenforced", "at": "6s", "action": "partition", "target": {"node": victim}, "peers": "nodes", "duration": "16s"}]);
    let file = write(work.path(), "unenforced", &scenario("node-unenforced", &bootstrap, &kubeconfig, "22s", short));
    let run_dir = work.path().join("unenforced-run");
    let (out, seen) = watch_partition(&admin, &bootstrap, victim, &victim_ip, true, run_file(&file, &run_dir)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    kube_node::say(format!("[kube-node] policy, no engine: {seen:?}"));
    assert_eq!(seen.rules_after, None, "{seen:?}");
    assert_eq!(seen.new_connection_to_victim, Some(true), "nothing refuses connections without an engine");
    assert_eq!(seen.unregistered, None, "{seen:?}");
    let notes = report(&run_dir)["faults"][0]["recovery"]["notes"].to_string();
    assert!(notes.contains("no visible effect"), "{notes}");
    let admin_kubeconfig = node.cp.kubeconfig(control_plane::ADMIN);
    node.start_policy_engine(&admin_kubeconfig);

    step("stop and roll");
    // 5. A graceful stop (the pod's own grace period: Kafka's controlled shutdown) and then a
    //    rolling restart through the API, each pod Ready and every partition in sync before
    //    the next.
    let faults = json!([
        {"name": "stop-0", "at": "6s", "action": "stop", "target": {"node": 0}, "duration": "20s"},
        {"name": "roll", "at": "30s", "action": "restart"}
    ]);
    let file = write(work.path(), "roll", &scenario("node-roll", &bootstrap, &kubeconfig, "75s", faults));
    let uids = pod_uids(&pods).await;
    let run_dir = work.path().join("roll-run");
    let out = run_file(&file, &run_dir).await;
    node.check_alive();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&run_dir);
    println!("stop and rolling restart on the real node: {:#}", r["faults"]);
    let stop = &r["faults"][0];
    assert_eq!(stop["target"]["pods"], json!([pod_name(0)]), "{stop:#}");
    assert!(stop["recovery"]["pod_ready_secs"].as_f64().is_some_and(|s| s > 2.0), "{stop:#}");
    let roll = &r["faults"][1];
    assert_eq!(roll["target"]["pods"], json!([pod_name(0), pod_name(1), pod_name(2)]), "{roll:#}");
    let now = pod_uids(&pods).await;
    for id in 0..3 {
        assert_ne!(now[id], uids[id], "pod {} was recreated", pod_name(id as i32));
    }
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    kube_node::say(format!(
        "[kube-node] graceful stop: pod Ready {} s, unavailable (max) {} s; rolling restart: {} s in all",
        stop["recovery"]["pod_ready_secs"],
        stop["recovery"]["unavailable_max_secs"],
        roll["end_secs"].as_f64().unwrap() - roll["start_secs"].as_f64().unwrap()
    ));

    step("forbidden");
    // 6. Without `delete` on pods, on the real node too: Forbidden before any load, exit 2.
    bind_limited_role(&admin, control_plane::LIMITED.0).await;
    let kill_0 = json!([{"name": "kill", "at": "6s", "action": "kill", "target": {"node": 0}, "duration": "20s"}]);
    let file = write(
        work.path(),
        "limited",
        &scenario("node-limited", &bootstrap, &node.cp.kubeconfig(control_plane::LIMITED), "30s", kill_0),
    );
    let out = run_file(&file, &work.path().join("limited-run")).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the verb `delete` on `pods`"), "{}", text(&out));

    step("stuck and heal");
    // 7. aftershock SIGKILLed during a partition: the policy stays until `heal --kubernetes`.
    let long = json!([{"name": "stuck", "at": "3s", "action": "partition", "target": {"node": 1}, "duration": "120s"}]);
    let file = write(work.path(), "stuck", &scenario("node-stuck", &bootstrap, &kubeconfig, "150s", long));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(work.path().join("stuck-run"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while aftershock_policies(&admin).await.is_empty() {
        assert!(Instant::now() < deadline, "the partition's NetworkPolicy never appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(aftershock_policies(&admin).await.len(), 1, "the policy outlives a SIGKILLed aftershock");
    let victim_pod = pod_name(1);
    let victim_ip = pod_ip(&pods, &victim_pod).await;
    let peer = pod_name(0);
    assert!(
        !tokio::task::block_in_place(|| connects_from(&peer, &format!("{victim_ip}:9090"))),
        "enforced while stuck"
    );
    let heal = ["heal", "--kubernetes", NS, "--kubeconfig", kubeconfig.to_str().unwrap()];
    let out = tokio::task::block_in_place(|| common::aftershock(&heal));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deleted NetworkPolicy kafka/aftershock-1-stuck"),
        "{}",
        text(&out)
    );
    assert!(aftershock_policies(&admin).await.is_empty(), "heal left a policy");
    // kube-router drops the rules when the policy goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tokio::task::block_in_place(|| connects_from(&peer, &format!("{victim_ip}:9090"))) {
        assert!(Instant::now() < deadline, "{victim_pod} still cut off 30 s after heal");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;

    step("in-cluster job");
    // 8. aftershock in the cluster: the shipped manifests as shipped, but for the image. Its
    //    scenario kills the pod leading aftershock/0 under load: the StatefulSet controller
    //    recreates it, the kubelet starts it, the readiness probe makes it Ready.
    run_shipped_job(&mut node, &admin, &reports_volume).await;
    wait_brokers(&bootstrap, 3, Duration::from_secs(120)).await;

    node.stop();
    // Nothing left behind: the host's settings, chains and links are as before.
    assert_eq!(overcommit(), overcommit_before, "the kubelet's vm.overcommit_memory was put back");
    let rules = String::from_utf8(std::process::Command::new("iptables-save").output().unwrap().stdout).unwrap();
    assert!(!rules.contains("KUBE-"), "kube-proxy's and kube-router's chains are gone");
    let bridge = std::process::Command::new("ip").args(["link", "show", kube_node::BRIDGE]).output().unwrap();
    assert!(!bridge.status.success(), "the bridge is gone");
    assert!(!kube_node::node_dir().exists(), "the node's dir is gone");
    kube_node::say(format!("[kube-node] whole test {:.1} s", started.elapsed().as_secs_f64()));
}

async fn pod_uids(pods: &Api<Pod>) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for id in 0..3 {
        out.push(pod_uid(pods, &pod_name(id)).await);
    }
    out
}

/// Applies k8s/serviceaccount.yaml, role.yaml, rolebinding.yaml and job.yaml with the
/// ConfigMap that k8s/kustomization.yaml generates from k8s/scenario.json, the image set to the
/// locally built one; waits for the Job and reads its report from the volume.
async fn run_shipped_job(node: &mut KubeNode, admin: &Client, reports_volume: &Path) {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NS);
    let uids = pod_uids(&pods).await;
    let scenario = manifest("k8s/scenario.json");
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aftershock-scenario"}, "data": {"scenario.json": scenario}});
    node.apply(&serde_json::to_string(&config_map).unwrap(), NS, |_| true).await;
    for file in ["k8s/serviceaccount.yaml", "k8s/role.yaml", "k8s/rolebinding.yaml"] {
        node.apply(&manifest(file), NS, |_| true).await;
    }
    let image = node.images["aftershock"].clone();
    node.apply(&manifest("k8s/job.yaml"), NS, |o| {
        if o["kind"] == "Job" {
            o["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        }
        true
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(admin.clone(), NS);
    let deadline = Instant::now() + Duration::from_secs(420);
    let status = loop {
        node.check_alive();
        let st = jobs.get("aftershock").await.unwrap().status.unwrap_or_default();
        if st.succeeded.unwrap_or(0) > 0 || st.failed.unwrap_or(0) > 0 {
            break st;
        }
        assert!(Instant::now() < deadline, "the Job did not finish in 7 minutes: {st:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let report_path = reports_volume.join("run/report.json");
    assert_eq!(
        status.succeeded,
        Some(1),
        "the Job failed: {status:?}; report: {:?}",
        std::fs::read_to_string(&report_path).ok()
    );
    common::validate_against_schema(&report_path);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let f = &r["faults"][0];
    println!("in-cluster Job fault record: {f:#}");
    let victim = f["target"]["nodes"][0].as_i64().unwrap() as i32;
    assert_eq!(f["target"]["pods"], json!([pod_name(victim)]), "{f:#}");
    let new_uid = pod_uid(&pods, &pod_name(victim)).await;
    assert!(new_uid.is_some() && new_uid != uids[victim as usize], "the StatefulSet recreated the pod: {new_uid:?}");
    let ready = f["recovery"]["pod_ready_secs"].as_f64().unwrap_or_else(|| panic!("no pod_ready: {f:#}"));
    let unavailable = f["recovery"]["unavailable_max_secs"].as_f64().unwrap_or_else(|| panic!("{f:#}"));
    let isr = f["recovery"]["isr_recovered_secs"].as_f64().unwrap_or_else(|| panic!("{f:#}"));
    kube_node::say(format!(
        "[kube-node] leader-pod kill (the in-cluster Job): pod Ready {ready:.1} s, unavailable (max) {unavailable:.2} s, ISR recovered {isr:.1} s"
    ));
    assert!(ready > 2.0, "a recreated JVM broker is not Ready in {ready} s");
    assert!(unavailable > 0.0, "killing a partition leader makes it unavailable for a while: {f:#}");
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    assert!(r["verification"]["acked"].as_u64().unwrap() > 0, "{:#}", r["verification"]);
    assert!(reports_volume.join("junit.xml").is_file(), "the Job's JUnit file is on the volume");
}
