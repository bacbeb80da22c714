//! The Kubernetes backend against a real kube-apiserver and etcd (built from the Go module
//! proxy) and real Kafka brokers: a local 3-node cluster whose nodes have Pods with Strimzi's
//! labels, kept by a test-side agent that plays kubelet and StatefulSet (tests/support/agent.rs).
//! aftershock runs as a subprocess with a kubeconfig for a user bound to k8s/role.yaml.
//!
//! One test walks through every step on one control plane and one Kafka cluster, because
//! starting them takes most of a minute on two cores.

#[path = "support/agent.rs"]
mod agent;
mod common;
#[path = "support/control_plane.rs"]
mod control_plane;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftershock::cluster::{LocalCluster, UpOptions};
use agent::{Agent, NAMESPACE};
use common::{aftershock, text};
use control_plane::{ADMIN, AFTERSHOCK, ControlPlane, LIMITED};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};

/// The Role documents of a manifest in k8s/.
fn roles_in(file: &str) -> Vec<Role> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Role"))
        .map(|v| serde_json::from_value(serde_json::to_value(v).unwrap()).unwrap())
        .collect()
}

use serde::Deserialize as _;

async fn bind(client: &Client, role: &Role, user: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), NAMESPACE);
    let mut role = role.clone();
    role.metadata.namespace = Some(NAMESPACE.into());
    let name = role.metadata.name.clone().unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-{user}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), NAMESPACE).create(&PostParams::default(), &binding).await.unwrap();
}

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
async fn kubernetes_backend_against_a_real_api_server() {
    let cp = ControlPlane::start().await;
    let admin = cp.client(ADMIN).await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
    Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &ns).await.unwrap();
    // aftershock gets exactly the shipped Roles; "limited" the same minus pod deletion.
    let shipped = roles_in("role.yaml");
    assert_eq!(shipped.len(), 1, "k8s/role.yaml holds one Role");
    bind(&admin, &shipped[0], AFTERSHOCK.0).await;
    bind(&admin, &roles_in("chaos-mesh-role.yaml")[0], AFTERSHOCK.0).await;
    let mut limited = shipped[0].clone();
    limited.metadata.name = Some("aftershock-limited".into());
    for rule in limited.rules.iter_mut().flatten() {
        rule.verbs.retain(|v| !(v == "delete" && rule.resources.iter().flatten().any(|r| r == "pods")));
    }
    limited.rules.iter_mut().for_each(|rules| rules.retain(|r| !r.verbs.is_empty()));
    bind(&admin, &limited, LIMITED.0).await;
    let kubeconfig = cp.kubeconfig(AFTERSHOCK);
    let limited_kubeconfig = cp.kubeconfig(LIMITED);

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
    let kill_file =
        write(work.path(), "kill", &scenario("kube-kill", &bootstrap, &kubeconfig, false, "45s", kill.clone()));
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

    // 2. Without `delete` on pods: a clear Forbidden error before any load, exit 2.
    let kill_node_1 = json!([{"name": "kill", "at": "6s", "action": "kill", "target": {"node": 1}, "duration": "40s"}]);
    let limited_file = write(
        work.path(),
        "limited",
        &scenario("kube-limited", &bootstrap, &limited_kubeconfig, false, "45s", kill_node_1),
    );
    let out = run_file(&limited_file, &work.path().join("limited-run")).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused to delete pods in namespace kafka") && stderr.contains("the verb `delete` on `pods`"),
        "{}",
        text(&out)
    );

    // 3. Kill the partition leader's pod under load: pod- and Kafka-level recovery, no loss.
    let run_dir = work.path().join("kill-run");
    let out = run_file(&kill_file, &run_dir).await;
    assert_eq!(out.status.code(), Some(0), "{}\nagent: {:#?}", text(&out), agent.events());
    common::validate_against_schema(&run_dir.join("report.json"));
    let r = report(&run_dir);
    let f = &r["faults"][0];
    println!("pod kill fault record: {f:#}");
    let node = f["target"]["nodes"][0].as_i64().unwrap() as i32;
    assert_eq!(f["target"]["pods"], json!([agent::pod_name(node)]), "{f:#}");
    assert!(f["target"]["reason"].as_str().unwrap().contains("led kube-kill/0"), "{f:#}");
    let ready = f["recovery"]["pod_ready_secs"].as_f64().unwrap_or_else(|| panic!("no pod_ready: {f:#}"));
    assert!(
        ready > 1.0,
        "a recreated broker pod cannot be Ready in {ready} s: {f:#}\nagent: {:#?}\n{}",
        agent.events(),
        text(&out)
    );
    assert!(f["recovery"]["unavailable_max_secs"].as_f64().is_some(), "{f:#}");
    assert!(f["recovery"]["isr_recovered_secs"].as_f64().is_some(), "{f:#}");
    assert_eq!(r["verification"]["lost"], 0, "{:#}", r["verification"]);
    let events = agent.events();
    assert!(events.contains(&format!("pod {} deleted at once", agent::pod_name(node))), "{events:#?}");
    assert!(events.contains(&format!("pod {} Ready", agent::pod_name(node))), "{events:#?}");
    let summary = std::fs::read_to_string(run_dir.join("summary.md")).unwrap();
    assert!(summary.contains("pod Ready"), "the summary shows pod readiness");
    agent.wait_settled(&admin, Duration::from_secs(120)).await;

    // 4. A NetworkPolicy partition: created with aftershock's labels, deleted at the end of
    //    the window; nothing enforces it here, and the report says the policy did nothing.
    let part =
        json!([{"name": "isolate", "at": "4s", "action": "partition", "target": {"node": 2}, "duration": "16s"}]);
    let part_file = write(work.path(), "netpol", &scenario("kube-netpol", &bootstrap, &kubeconfig, false, "22s", part));
    let run_dir = work.path().join("netpol-run");
    let out = run_file(&part_file, &run_dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&run_dir);
    let notes = r["faults"][0]["recovery"]["notes"].to_string();
    assert!(notes.contains("no visible effect"), "{notes}");
    let objects = agent.objects();
    let (policy, labels) =
        objects.iter().find(|(k, _)| k.starts_with("NetworkPolicy/")).expect("a NetworkPolicy was seen");
    assert_eq!(labels.get("aftershock.io/fault").map(String::as_str), Some("isolate"), "{policy}: {labels:?}");
    assert!(labels.get("aftershock.io/run-id").is_some_and(|v| v.starts_with("kube-netpol")), "{labels:?}");
    assert!(leftovers(&admin).await.is_empty(), "left behind: {:?}", leftovers(&admin).await);

    // 5. Chaos Mesh: PodChaos pod-failure for a pause, NetworkChaos for a partition.
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

    // 6. aftershock SIGKILLed in the middle of a partition: the policy stays until `heal`.
    let long = json!([{"name": "stuck", "at": "3s", "action": "partition", "target": {"node": 1}, "duration": "120s"}]);
    let long_file = write(work.path(), "stuck", &scenario("kube-stuck", &bootstrap, &kubeconfig, false, "150s", long));
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["run", long_file.to_str().unwrap(), "--quiet", "--out"])
        .arg(work.path().join("stuck-run"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = false;
    for _ in 0..300 {
        if !leftovers(&admin).await.is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "the partition's NetworkPolicy never appeared");
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(leftovers(&admin).await.len(), 1, "the policy outlives a SIGKILLed aftershock until heal");
    let out = aftershock_async(vec![
        "heal".into(),
        "--kubernetes".into(),
        NAMESPACE.into(),
        "--kubeconfig".into(),
        kubeconfig.to_str().unwrap().into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deleted NetworkPolicy kafka/aftershock-1-stuck"),
        "{}",
        text(&out)
    );
    assert!(leftovers(&admin).await.is_empty(), "heal left: {:?}", leftovers(&admin).await);

    agent.stop().await;
    let Ok(c) = Arc::try_unwrap(cluster) else { panic!("the agent still holds the cluster") };
    let c = c.into_inner().unwrap();
    tokio::task::spawn_blocking(move || c.down(false, Duration::from_secs(30))).await.unwrap().unwrap();
}
