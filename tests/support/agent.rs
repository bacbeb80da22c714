//! A test-side agent that plays kubelet, StatefulSet and (a little of) Chaos Mesh for the
//! nodes of a local Kafka cluster, so that aftershock's Kubernetes backend acts on real brokers
//! through a real API server:
//! - each node has a Pod with Strimzi's labels, Ready once its broker is up;
//! - a pod deleted at once (grace 0) has its node SIGKILLed; a graceful delete SIGTERMs it and
//!   then removes the pod, as a kubelet does; either way the pod is recreated (a new uid), the
//!   node restarted, and the new pod marked Ready when its broker listens again;
//! - a PodChaos `pod-failure` freezes the pods it names (SIGSTOP, not Ready) until it is deleted;
//! - every aftershock object seen (NetworkPolicy, PodChaos, NetworkChaos) is logged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftershock::cluster::LocalCluster;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use nix::sys::signal::Signal;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub const NAMESPACE: &str = "kafka";
pub const CLUSTER: &str = "my-cluster";

pub fn pod_name(id: i32) -> String {
    format!("{CLUSTER}-dual-role-{id}")
}

/// What the agent saw and did, for assertions.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<String>,
    /// `Kind/name` of every object labelled as aftershock's, with its labels.
    pub objects: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct Agent {
    pub log: Arc<Mutex<Log>>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn chaos(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("chaos-mesh.org", "v1alpha1", kind), plural)
}

async fn create_pod(pods: &Api<Pod>, id: i32) -> String {
    let name = pod_name(id);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {
            "strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka", "strimzi.io/name": format!("{CLUSTER}-kafka"),
            "strimzi.io/pool-name": "dual-role", "strimzi.io/broker-role": "true", "strimzi.io/controller-role": "true",
            "strimzi.io/pod-name": name,
        }},
        // Bound to a node, so that a graceful delete waits for the "kubelet" (this agent).
        "spec": {"nodeName": "local", "containers": [{"name": "kafka", "image": "apache/kafka:4.4.0"}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.expect("create pod");
    created.metadata.uid.unwrap_or_default()
}

async fn set_ready(pods: &Api<Pod>, id: i32, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": status}, {"type": "ContainersReady", "status": status}]}});
    let _ = pods.patch_status(&pod_name(id), &PatchParams::default(), &Patch::Merge(&patch)).await;
}

/// Records an event, and prints it with the wall-clock time so that a failing test's output
/// can be lined up with aftershock's own log.
fn note_at(log: &Mutex<Log>, s: String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    eprintln!("agent {}.{:03}: {s}", now.as_secs(), now.subsec_millis());
    log.lock().unwrap().events.push(s);
}

fn listening(cluster: &Mutex<LocalCluster>, id: i32) -> bool {
    let addr = cluster.lock().unwrap().state().node(id).map(|n| n.bootstrap());
    addr.and_then(|a| TcpStream::connect(a).ok()).is_some()
}

impl Agent {
    /// Creates one Ready pod per node and starts watching.
    pub async fn start(client: Client, cluster: Arc<Mutex<LocalCluster>>) -> Agent {
        let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
        let ids: Vec<i32> = cluster.lock().unwrap().state().nodes.iter().map(|n| n.id).collect();
        let mut uids = HashMap::new();
        for id in &ids {
            uids.insert(*id, create_pod(&pods, *id).await);
            set_ready(&pods, *id, true).await;
        }
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(client, cluster, ids, uids, log.clone(), stop.clone()));
        Agent { log, stop, task: Some(task) }
    }

    pub fn events(&self) -> Vec<String> {
        self.log.lock().unwrap().events.clone()
    }

    pub fn objects(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.log.lock().unwrap().objects.clone()
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

async fn run(
    client: Client,
    cluster: Arc<Mutex<LocalCluster>>,
    ids: Vec<i32>,
    mut uids: HashMap<i32, String>,
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let busy: Arc<Mutex<BTreeSet<i32>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i32, String)>();
    let mut frozen: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let note = |s: String| note_at(&log, s);
    while !stop.is_cancelled() {
        while let Ok((id, uid)) = rx.try_recv() {
            uids.insert(id, uid);
        }
        let Ok(list) = pods.list(&ListParams::default()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for id in &ids {
            if busy.lock().unwrap().contains(id) {
                continue;
            }
            let name = pod_name(*id);
            let pod = list.items.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str()));
            let graceful = match pod {
                None => false,
                // A delete with grace period 0 first stamps the pod with a deletion time and a
                // grace of 0, then removes it; a kubelet kills at once either way.
                Some(p) if p.metadata.deletion_timestamp.is_some() => {
                    p.metadata.deletion_grace_period_seconds.is_none_or(|g| g > 0)
                }
                Some(p) if p.metadata.uid.as_deref() != uids.get(id).map(String::as_str) => {
                    // Someone else recreated it; adopt it.
                    uids.insert(*id, p.metadata.uid.clone().unwrap_or_default());
                    continue;
                }
                Some(_) => continue,
            };
            busy.lock().unwrap().insert(*id);
            note(format!("pod {name} {}", if graceful { "deleted gracefully" } else { "deleted at once" }));
            let (pods, cluster, busy, tx, log, id) =
                (pods.clone(), cluster.clone(), busy.clone(), tx.clone(), log.clone(), *id);
            tokio::spawn(async move {
                let note = |s: String| note_at(&log, s);
                // The "kubelet": stop the container the way the deletion asked.
                let c = cluster.clone();
                tokio::task::spawn_blocking(move || {
                    let mut c = c.lock().unwrap();
                    let sig = if graceful { Signal::SIGTERM } else { Signal::SIGKILL };
                    let _ = c.signal_node(id, sig);
                    let deadline = std::time::Instant::now() + Duration::from_secs(30);
                    while c.is_alive(id) && std::time::Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    if c.is_alive(id) {
                        let _ = c.signal_node(id, Signal::SIGKILL);
                    }
                })
                .await
                .unwrap();
                note(format!("node {id} stopped"));
                if graceful {
                    let _ = pods.delete(&pod_name(id), &DeleteParams::default().grace_period(0)).await;
                }
                // Wait for the old object to be gone, then the "StatefulSet" recreates it.
                while pods.get_opt(&pod_name(id)).await.ok().flatten().is_some() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let uid = create_pod(&pods, id).await;
                let _ = tx.send((id, uid));
                note(format!("pod {} recreated", pod_name(id)));
                let c = cluster.clone();
                let restarted = tokio::task::spawn_blocking(move || {
                    c.lock().unwrap().restart_node(id, Duration::from_secs(120)).map_err(|e| e.to_string())?;
                    // A killed broker stays registered until its session expires: Ready means
                    // the new JVM listens.
                    let deadline = std::time::Instant::now() + Duration::from_secs(120);
                    while !listening(&c, id) {
                        if std::time::Instant::now() > deadline {
                            return Err("not listening after 120 s".to_string());
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Ok(())
                })
                .await
                .unwrap();
                match restarted {
                    Ok(()) => {
                        set_ready(&pods, id, true).await;
                        note(format!("pod {} Ready", pod_name(id)));
                    }
                    Err(e) => note(format!("node {id} did not come back: {e}")),
                }
                busy.lock().unwrap().remove(&id);
            });
        }

        // aftershock's objects, and Chaos Mesh's pod-failure.
        let lp = ListParams::default().labels("app.kubernetes.io/managed-by=aftershock");
        if let Ok(l) = Api::<NetworkPolicy>::namespaced(client.clone(), NAMESPACE).list(&lp).await {
            for p in l.items {
                let key = format!("NetworkPolicy/{}", p.metadata.name.unwrap_or_default());
                log.lock().unwrap().objects.entry(key).or_insert(p.metadata.labels.unwrap_or_default());
            }
        }
        let mut live_chaos = BTreeSet::new();
        for (kind, plural) in [("PodChaos", "podchaos"), ("NetworkChaos", "networkchaos")] {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &chaos(kind, plural));
            let Ok(l) = api.list(&lp).await else { continue };
            for o in l.items {
                let name = o.metadata.name.clone().unwrap_or_default();
                let key = format!("{kind}/{name}");
                log.lock().unwrap().objects.entry(key.clone()).or_insert(o.metadata.labels.clone().unwrap_or_default());
                if kind == "PodChaos" && o.data["spec"]["action"] == "pod-failure" {
                    live_chaos.insert(key.clone());
                    if let std::collections::btree_map::Entry::Vacant(slot) = frozen.entry(key.clone()) {
                        let names: Vec<String> = o.data["spec"]["selector"]["pods"][NAMESPACE]
                            .as_array()
                            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                            .unwrap_or_default();
                        let hit: Vec<i32> = ids.iter().copied().filter(|id| names.contains(&pod_name(*id))).collect();
                        for id in &hit {
                            let _ = cluster.lock().unwrap().signal_node(*id, Signal::SIGSTOP);
                            set_ready(&pods, *id, false).await;
                        }
                        note(format!("{key}: froze nodes {hit:?}"));
                        slot.insert(hit);
                    }
                }
            }
        }
        let ended: Vec<String> = frozen.keys().filter(|k| !live_chaos.contains(*k)).cloned().collect();
        for key in ended {
            for id in frozen.remove(&key).unwrap_or_default() {
                let _ = cluster.lock().unwrap().signal_node(id, Signal::SIGCONT);
                set_ready(&pods, id, true).await;
            }
            note(format!("{key} deleted: nodes resumed"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Never leave a node frozen.
    for ids in frozen.values() {
        for id in ids {
            let _ = cluster.lock().unwrap().signal_node(*id, Signal::SIGCONT);
        }
    }
}
