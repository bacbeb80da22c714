//! The Kubernetes backend's Chaos Mesh objects and its dry run, against a real kube-apiserver
//! and etcd (built from the Go module proxy) and real Kafka brokers: a local 3-node cluster whose
//! nodes have Pods with Strimzi's labels, kept by a test-side agent that plays kubelet and
//! StatefulSet (tests/support/agent.rs). aftershock runs as a subprocess with a kubeconfig for a
//! user bound to k8s/role.yaml and k8s/chaos-mesh-role.yaml.
//!
//! Only what cannot run on the real node of tests/kube_node.rs stays here: Chaos Mesh (its
//! controller and chaos-daemon are not built or run here, so the agent plays PodChaos
//! `pod-failure` with SIGSTOP, and NetworkChaos objects are only created and deleted). Pod
//! kills, NetworkPolicy partitions, the Forbidden error and `heal --kubernetes` are tested on
//! the real node.

#[path = "support/agent.rs"]
mod agent;
mod common;
#[path = "support/control_plane.rs"]
mod control_plane;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftershock::cluster::{LocalCluster, UpOptions};
use agent::{Agent, NAMESPACE};
use common::{aftershock, text};
use control_plane::{ADMIN, AFTERSHOCK, ControlPlane, bind, shipped_roles};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};

/// Chaos Mesh's two CRDs, schemaless: the API server stores the objects; nothing acts on them
/// but the agent's pod-failure stand-in.
async fn install_chaos_mesh_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (kind, plural) in [("PodChaos", "podchaos"), ("NetworkChaos", "networkchaos")] {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": format!("{plural}.chaos-mesh.org")},
            "spec": {
                "group": "chaos-mesh.org", "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": plural, "listKind": format!("{kind}List")},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        }))
        .unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    // Served once established.
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("chaos-mesh.org", "v1alpha1", "NetworkChaos"),
        "networkchaos",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &ar);
    for _ in 0..100 {
        if api.list(&ListParams::default()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the Chaos Mesh CRDs were not served within 20 s");
}

fn scenario(name: &str, bootstrap: &str, kubeconfig: &Path, chaos_mesh: bool, steady: &str, faults: Value) -> Value {
    json!({
        "name": name,
        "seed": 3,
        "cluster": {"existing": {"bootstrap": bootstrap, "kubernetes": {
            "namespace": NAMESPACE, "strimzi_cluster": agent::CLUSTER,
            "kubeconfig": kubeconfig.to_str().unwrap(), "chaos_mesh": chaos_mesh, "ready_timeout": "3m"
        }}},
        // A topic per run: the cluster is shared by every step.
        "topics": [{"name": name, "partitions": 3, "replication_factor": 3, "config": {"min.insync.replicas": 2}}],
        "producers": [{"name": "p", "topic": name, "rate": 300, "message_size": "200B", "acks": "all", "idempotence": true}],
        "consumers": [{"name": "c", "topic": name}],
        "phases": [{"name": "warmup", "duration": "3s"}, {"name": "steady", "duration": steady}],
        "faults": faults,
        "drain": "40s"
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

async fn aftershock_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || aftershock(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

/// `aftershock run FILE --quiet --out DIR`.
async fn run_file(file: &Path, out: &Path) -> std::process::Output {
    let args = ["run", file.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()];
    aftershock_async(args.iter().map(|a| a.to_string()).collect()).await
}

async fn leftovers(client: &Client) -> Vec<String> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=aftershock");
    let mut out: Vec<String> = Api::<NetworkPolicy>::namespaced(client.clone(), NAMESPACE)
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| format!("NetworkPolicy/{}", p.metadata.name.unwrap_or_default()))
        .collect();
    for (kind, plural) in [("PodChaos", "podchaos"), ("NetworkChaos", "networkchaos")] {
        let ar = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("chaos-mesh.org", "v1alpha1", kind),
            plural,
        );
        if let Ok(l) = Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &ar).list(&lp).await {
            out.extend(l.items.into_iter().map(|o| format!("{kind}/{}", o.metadata.name.unwrap_or_default())));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_mesh_objects_and_dry_run_against_a_real_api_server() {
    let cp = ControlPlane::start().await;
    let admin = cp.client(ADMIN).await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
    Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &ns).await.unwrap();
    // aftershock gets exactly the shipped Roles.
    let shipped = shipped_roles("role.yaml");
    assert_eq!(shipped.len(), 1, "k8s/role.yaml holds one Role");
    bind(&admin, NAMESPACE, &shipped[0], AFTERSHOCK.0).await;
    bind(&admin, NAMESPACE, &shipped_roles("chaos-mesh-role.yaml")[0], AFTERSHOCK.0).await;
    let kubeconfig = cp.kubeconfig(AFTERSHOCK);

    let work = tempfile::tempdir().unwrap();
    let cluster = {
        let mut up = UpOptions::new(work.path().join("cluster"));
        up.nodes = 3;
        tokio::task::spawn_blocking(move || LocalCluster::up(&up).map(|c| c.stop_on_drop(true))).await.unwrap().unwrap()
    };
    let bootstrap = cluster.bootstrap();
    let cluster = Arc::new(Mutex::new(cluster));
    let agent = Agent::start(admin.clone(), cluster.clone()).await;

    // 1. --dry-run lists the pods each fault would hit.
    let kill = json!([{"name": "kill-leader", "at": "6s", "action": "kill",
        "target": {"leader_of": {"topic": "kube-kill", "partition": 0}}, "duration": "40s"}]);
    let mut plan = kill.as_array().unwrap().clone();
    plan.push(json!({"name": "stop-2", "at": "8s", "action": "stop", "target": {"node": 2}, "duration": "10s"}));
    plan.push(json!({"name": "cut-1", "at": "30s", "action": "partition", "target": {"node": 1}, "duration": "5s"}));
    let plan_file =
        write(work.path(), "plan", &scenario("kube-kill", &bootstrap, &kubeconfig, false, "45s", json!(plan)));
    let out = aftershock_async(vec!["run".into(), plan_file.to_str().unwrap().into(), "--dry-run".into()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    for id in 1..=3 {
        assert!(stdout.contains(&format!("{} node {id}", agent::pod_name(id))), "{}", text(&out));
    }
    // The topic does not exist before the run, so the leader is decided when the fault fires.
    assert!(stdout.contains("fault kill-leader: the leader of kube-kill/0"), "{}", text(&out));
    assert!(stdout.contains("fault stop-2: my-cluster-dual-role-2 [graceful delete]"), "{}", text(&out));
    assert!(stdout.contains("fault cut-1: my-cluster-dual-role-1 [NetworkPolicy]"), "{}", text(&out));

    // 2. Chaos Mesh: PodChaos pod-failure for a pause, NetworkChaos for a partition.
    install_chaos_mesh_crds(&admin).await;
    let faults = json!([
        {"name": "fail-pod", "at": "4s", "action": "pause", "target": {"node": 3}, "duration": "8s"},
        {"name": "cut", "at": "16s", "action": "partition", "target": {"node": 1}, "peers": "nodes", "direction": "outbound", "duration": "5s"}
    ]);
    let cm_file = write(work.path(), "chaos", &scenario("kube-chaos", &bootstrap, &kubeconfig, true, "24s", faults));
    let run_dir = work.path().join("chaos-run");
    let out = run_file(&cm_file, &run_dir).await;
    assert_eq!(out.status.code(), Some(0), "{}\nagent: {:#?}", text(&out), agent.events());
    let objects = agent.objects();
    assert!(objects.keys().any(|k| k.starts_with("PodChaos/aftershock-1-fail-pod")), "{objects:?}");
    assert!(objects.keys().any(|k| k.starts_with("NetworkChaos/aftershock-2-cut")), "{objects:?}");
    assert!(leftovers(&admin).await.is_empty(), "left behind: {:?}", leftovers(&admin).await);
    let r = report(&run_dir);
    let pause = &r["faults"][0];
    println!("chaos mesh fault records: {:#}", r["faults"]);
    assert_eq!(pause["target"]["pods"], json!([agent::pod_name(3)]), "{pause:#}");
    assert!(pause["recovery"]["pod_ready_secs"].as_f64().is_some_and(|s| s >= 7.0), "{pause:#}");

    agent.stop().await;
    let Ok(c) = Arc::try_unwrap(cluster) else { panic!("the agent still holds the cluster") };
    let c = c.into_inner().unwrap();
    tokio::task::spawn_blocking(move || c.down(false, Duration::from_secs(30))).await.unwrap().unwrap();
}
