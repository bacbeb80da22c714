//! The Kubernetes backend: finds the broker pods of a Kafka cluster running in Kubernetes
//! (Strimzi's labels by default), maps them to Kafka node ids, and injects faults through the
//! API server only: pod deletion (kill, graceful stop, rolling restart), NetworkPolicies that
//! isolate a broker, and Chaos Mesh PodChaos/NetworkChaos objects. Everything it creates is
//! labelled as aftershock's and carries the run id, so `heal` can find leftovers; it never
//! touches anything outside the scenario's namespace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::backend::{ApplyEnv, ClusterProbe, FaultBackend, FaultGuard, Nodes};
use super::outcome::FaultOutcome;
use crate::error::{Error, Result};
use crate::plan::Occurrence;
use crate::scenario::fault::{Direction, FaultAction, FaultSpec, KubeSpec, NodeIdRule, Peers};

/// The label every object aftershock creates carries.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGER: &str = "aftershock";
/// The label naming the run that created an object.
pub const RUN_ID_LABEL: &str = "aftershock.io/run-id";
/// The label naming the fault that created an object.
pub const FAULT_LABEL: &str = "aftershock.io/fault";

/// A Kubernetes API call's verb and resource, for permission checks and Forbidden errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub verb: &'static str,
    pub resource: &'static str,
    /// API group; "" for the core group.
    pub group: &'static str,
}

const fn access(verb: &'static str, resource: &'static str, group: &'static str) -> Access {
    Access { verb, resource, group }
}

const POD_LIST: Access = access("list", "pods", "");
const POD_GET: Access = access("get", "pods", "");
const POD_DELETE: Access = access("delete", "pods", "");
const NETPOL_CREATE: Access = access("create", "networkpolicies", "networking.k8s.io");
const NETPOL_DELETE: Access = access("delete", "networkpolicies", "networking.k8s.io");
const NETPOL_LIST: Access = access("list", "networkpolicies", "networking.k8s.io");
const CHAOS_GROUP: &str = "chaos-mesh.org";

/// Chaos Mesh's kinds aftershock creates: (kind, plural).
const CHAOS_KINDS: [(&str, &str); 2] = [("PodChaos", "podchaos"), ("NetworkChaos", "networkchaos")];

fn chaos_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(CHAOS_GROUP, "v1alpha1", kind), plural)
}

/// Turns a 403 into [`Error::KubeForbidden`] naming what is missing; anything else keeps
/// its context.
fn api_error(e: kube::Error, what: Access, namespace: &str, context: impl Into<String>) -> Error {
    match e {
        kube::Error::Api(s) if s.code == 403 => forbidden(what, namespace, s.message),
        source => Error::Kube { context: context.into(), source: Box::new(source) },
    }
}

fn forbidden(what: Access, namespace: &str, message: String) -> Error {
    Error::KubeForbidden(Box::new(crate::error::KubeForbidden {
        verb: what.verb.into(),
        resource: what.resource.into(),
        group_note: if what.group.is_empty() { String::new() } else { format!(" (API group {})", what.group) },
        namespace: namespace.into(),
        message,
        chaos_note: if what.group == CHAOS_GROUP { " with k8s/chaos-mesh-role.yaml" } else { "" },
    }))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// A label value from any text: at most 63 of `[A-Za-z0-9._-]`, starting and ending with an
/// alphanumeric.
pub fn label_value(s: &str) -> String {
    let v: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
    let v: String = v.chars().take(63).collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// An object name (DNS-1123 subdomain, kept to 63 so it is also a valid label value).
fn object_name(run_id: &str, seq: u32, fault: &str) -> String {
    let raw = format!("aftershock-{seq}-{fault}-{run_id}").to_ascii_lowercase();
    let v: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).take(63).collect();
    v.trim_matches('-').to_string()
}

/// One broker pod, as the fault engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerPod {
    pub name: String,
    pub uid: String,
    pub node_id: i32,
    pub ready: bool,
    pub ip: Option<String>,
    /// The value of the spec's `pod_label` on this pod, if set.
    pub pod_label_value: Option<String>,
    pub deleting: bool,
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Reads a pod's Kafka node id by the spec's rule.
pub fn node_id_of(rule: &NodeIdRule, name: &str, labels: &BTreeMap<String, String>) -> Option<i32> {
    match rule {
        NodeIdRule::NameSuffix => name.rsplit_once('-').and_then(|(_, n)| n.parse().ok()),
        NodeIdRule::Label(k) => labels.get(k).and_then(|v| v.parse().ok()),
    }
}

/// A connection to the API server, bound to one namespace and one broker selector.
#[derive(Clone)]
pub struct KubeBackend {
    client: Client,
    spec: KubeSpec,
    run_id: String,
}

impl std::fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeBackend").field("namespace", &self.spec.namespace).field("run_id", &self.run_id).finish()
    }
}

/// Builds a client: an explicit kubeconfig file, else `$KUBECONFIG`/`~/.kube/config`, else
/// the in-cluster service account; `context` picks a kubeconfig context.
pub async fn client(kubeconfig: Option<&std::path::Path>, context: Option<&str>) -> Result<Client> {
    let opts = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::KubeConfig(format!("reading kubeconfig {}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| Error::KubeConfig(format!("kubeconfig {}: {e}", path.display())))?
        }
        None if context.is_some() => Config::from_kubeconfig(&opts).await.map_err(|e| {
            Error::KubeConfig(format!("context {:?} of the default kubeconfig: {e}", context.unwrap_or_default()))
        })?,
        None => Config::infer().await.map_err(|e| {
            Error::KubeConfig(format!(
                "no kubeconfig ($KUBECONFIG, ~/.kube/config) and not running in a pod ({e}); set \"kubeconfig\" in cluster.existing.kubernetes or export KUBECONFIG"
            ))
        })?,
    };
    Client::try_from(config).map_err(|e| Error::KubeConfig(format!("building the client: {e}")))
}

impl KubeBackend {
    /// Connects; `context` (from the command line) overrides the scenario's.
    pub async fn connect(spec: &KubeSpec, context: Option<&str>, run_id: &str) -> Result<KubeBackend> {
        let context = context.or(spec.context.as_deref());
        let client = client(spec.kubeconfig.as_deref(), context).await?;
        Ok(KubeBackend { client, spec: spec.clone(), run_id: run_id.to_string() })
    }

    pub fn spec(&self) -> &KubeSpec {
        &self.spec
    }

    pub fn namespace(&self) -> &str {
        &self.spec.namespace
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.spec.namespace)
    }

    fn labels(&self, fault: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_string(), MANAGER.to_string()),
            (RUN_ID_LABEL.to_string(), label_value(&self.run_id)),
            (FAULT_LABEL.to_string(), label_value(fault)),
        ])
    }

    /// The broker pods, by node id. Pods whose id cannot be read are an error: a target that
    /// maps to no pod must not silently hit nothing.
    pub async fn brokers(&self) -> Result<Vec<BrokerPod>> {
        let ns = &self.spec.namespace;
        let list = self
            .pods()
            .list(&ListParams::default().labels(&self.spec.selector))
            .await
            .map_err(|e| api_error(e, POD_LIST, ns, format!("listing pods {} in {ns}", self.spec.selector)))?;
        let mut out = Vec::new();
        for p in list.items {
            let name = p.metadata.name.clone().unwrap_or_default();
            let labels = p.metadata.labels.clone().unwrap_or_default();
            let Some(node_id) = node_id_of(&self.spec.node_id, &name, &labels) else {
                return Err(Error::Usage(format!(
                    "pod {ns}/{name} matches {} but its Kafka node id cannot be read ({}); set `node_id` in cluster.existing.kubernetes",
                    self.spec.selector,
                    match &self.spec.node_id {
                        NodeIdRule::NameSuffix => "its name does not end in -<number>".to_string(),
                        NodeIdRule::Label(k) => format!("no numeric label {k}"),
                    }
                )));
            };
            out.push(BrokerPod {
                uid: p.metadata.uid.clone().unwrap_or_default(),
                node_id,
                ready: is_ready(&p),
                ip: p.status.as_ref().and_then(|s| s.pod_ip.clone()),
                pod_label_value: labels.get(&self.spec.pod_label).cloned(),
                deleting: p.metadata.deletion_timestamp.is_some(),
                name,
            });
        }
        out.sort_by_key(|b| b.node_id);
        Ok(out)
    }

    /// The permissions a scenario's faults need, in the order they are first used.
    pub fn needed(&self, actions: &[FaultAction]) -> Vec<Access> {
        let mut need = vec![POD_LIST, POD_GET];
        for a in actions {
            match a {
                FaultAction::Kill | FaultAction::Stop | FaultAction::Restart => need.push(POD_DELETE),
                FaultAction::Pause => {
                    need.push(access("create", "podchaos", CHAOS_GROUP));
                    need.push(access("delete", "podchaos", CHAOS_GROUP));
                }
                FaultAction::Partition { .. } if self.spec.chaos_mesh => {
                    need.push(access("create", "networkchaos", CHAOS_GROUP));
                    need.push(access("delete", "networkchaos", CHAOS_GROUP));
                }
                FaultAction::Partition { .. } => {
                    need.push(NETPOL_CREATE);
                    need.push(NETPOL_DELETE);
                }
            }
        }
        let mut seen = Vec::new();
        need.retain(|a| {
            let new = !seen.contains(a);
            seen.push(*a);
            new
        });
        need
    }

    /// Asks the API server (SelfSubjectAccessReview) whether every permission the faults need
    /// is granted, before any load starts; the first missing one is a Forbidden error.
    pub async fn preflight(&self, actions: &[FaultAction]) -> Result<()> {
        let ns = &self.spec.namespace;
        let reviews: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        for a in self.needed(actions) {
            let review: SelfSubjectAccessReview = serde_json::from_value(json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": ns, "verb": a.verb, "resource": a.resource, "group": a.group}}
            }))
            .map_err(|e| Error::Failed(format!("building an access review: {e}")))?;
            let answer = reviews.create(&PostParams::default(), &review).await.map_err(|e| Error::Kube {
                context: format!("asking the API server whether aftershock may {} {} in {ns}", a.verb, a.resource),
                source: Box::new(e),
            })?;
            let status = answer.status.unwrap_or_default();
            if !status.allowed {
                let why = status.reason.filter(|r| !r.is_empty()).unwrap_or_else(|| "not allowed by RBAC".into());
                return Err(forbidden(a, ns, format!("access review: {why}")));
            }
        }
        Ok(())
    }

    /// Maps node ids to their pods.
    pub async fn pods_of(&self, nodes: &[i32]) -> Result<Vec<BrokerPod>> {
        let all = self.brokers().await?;
        nodes
            .iter()
            .map(|id| {
                all.iter().find(|p| p.node_id == *id).cloned().ok_or_else(|| {
                    Error::Usage(format!(
                        "no pod matching {} in {} has Kafka node id {id} (pods: {})",
                        self.spec.selector,
                        self.spec.namespace,
                        all.iter().map(|p| format!("{}={}", p.name, p.node_id)).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect()
    }

    async fn delete_pod(&self, pod: &BrokerPod, grace: Option<u32>) -> Result<()> {
        let ns = &self.spec.namespace;
        let mut dp = DeleteParams::default();
        if let Some(g) = grace {
            dp = dp.grace_period(g);
        }
        // Only the pod aftershock looked at: a replacement created in between is left alone.
        dp.preconditions = Some(kube::api::Preconditions { uid: Some(pod.uid.clone()), resource_version: None });
        match self.pods().delete(&pod.name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error(e, POD_DELETE, ns, format!("deleting pod {ns}/{}", pod.name))),
        }
    }

    /// Waits until a pod named `name`, other than `old_uid` (when given), is Ready; returns when.
    pub async fn wait_ready(&self, name: &str, old_uid: Option<&str>, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        let ns = &self.spec.namespace;
        loop {
            match self.pods().get_opt(name).await {
                Ok(Some(p))
                    if is_ready(&p)
                        && p.metadata.deletion_timestamp.is_none()
                        && old_uid.is_none_or(|u| p.metadata.uid.as_deref() != Some(u)) =>
                {
                    tracing::debug!(
                        "pod {ns}/{name} Ready: uid {:?} (was {old_uid:?}), created {:?}, resourceVersion {:?}",
                        p.metadata.uid,
                        p.metadata.creation_timestamp,
                        p.metadata.resource_version
                    );
                    return Ok(Instant::now());
                }
                Ok(_) => {}
                Err(e @ kube::Error::Api(_)) => {
                    return Err(api_error(e, POD_GET, ns, format!("reading pod {ns}/{name}")));
                }
                // Connection trouble: keep trying until the deadline.
                Err(e) => tracing::debug!("reading pod {name}: {e}"),
            }
            if Instant::now() >= deadline {
                return Err(Error::Failed(format!("pod {ns}/{name} was not Ready again within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Applies a fault to the pods of `nodes`. `healthy` is awaited between the pods of a
    /// rolling restart (Kafka-level health: every partition led and in sync).
    pub async fn apply<F, Fut>(&self, seq: u32, spec: &FaultSpec, nodes: &[i32], healthy: F) -> Result<KubeFault>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let ns = self.spec.namespace.clone();
        let mut fault = KubeFault {
            client: self.client.clone(),
            namespace: ns.clone(),
            pods: Vec::new(),
            created: Vec::new(),
            done: false,
        };
        match spec.action {
            FaultAction::Kill | FaultAction::Stop => {
                let grace = (spec.action == FaultAction::Kill).then_some(0);
                for pod in self.pods_of(nodes).await? {
                    self.delete_pod(&pod, grace).await?;
                    fault.pods.push(pod);
                }
            }
            FaultAction::Restart => {
                // One pod at a time, each Ready and the cluster whole again before the next.
                for pod in self.pods_of(nodes).await? {
                    self.delete_pod(&pod, None).await?;
                    self.wait_ready(&pod.name, Some(&pod.uid), self.spec.ready_timeout).await?;
                    healthy().await?;
                    fault.pods.push(pod);
                }
                fault.done = true;
            }
            FaultAction::Pause => {
                let pods = self.pods_of(nodes).await?;
                let name = object_name(&self.run_id, seq, &spec.name);
                let obj = json!({
                    "apiVersion": "chaos-mesh.org/v1alpha1",
                    "kind": "PodChaos",
                    "metadata": {"name": name, "namespace": ns, "labels": self.labels(&spec.name)},
                    "spec": {
                        "action": "pod-failure",
                        "mode": "all",
                        "selector": {"pods": {ns.clone(): pods.iter().map(|p| p.name.clone()).collect::<Vec<_>>()}},
                        // A backstop: Chaos Mesh ends it by itself if aftershock dies.
                        "duration": format!("{}s", spec.duration.as_secs().max(1)),
                    }
                });
                fault.create_chaos("PodChaos", "podchaos", &name, obj).await?;
                fault.pods = pods;
            }
            FaultAction::Partition { peers, direction } => {
                let all = self.brokers().await?;
                let victims = self.pods_of(nodes).await?;
                let others: Vec<&BrokerPod> = all.iter().filter(|p| !nodes.contains(&p.node_id)).collect();
                let name = object_name(&self.run_id, seq, &spec.name);
                if self.spec.chaos_mesh {
                    let obj = network_chaos(
                        &ns,
                        &name,
                        self.labels(&spec.name),
                        &victims,
                        &others,
                        peers,
                        direction,
                        spec.duration,
                    );
                    fault.create_chaos("NetworkChaos", "networkchaos", &name, obj).await?;
                } else {
                    let mut values = Vec::new();
                    for v in &victims {
                        values.push(v.pod_label_value.clone().ok_or_else(|| {
                            Error::Usage(format!(
                                "pod {ns}/{} has no label {}, which the NetworkPolicy needs to select it alone; set `pod_label` in cluster.existing.kubernetes",
                                v.name, self.spec.pod_label
                            ))
                        })?);
                    }
                    let obj = network_policy(
                        &ns,
                        &name,
                        self.labels(&spec.name),
                        &self.spec.pod_label,
                        &values,
                        &others,
                        peers,
                        direction,
                    );
                    let policy: NetworkPolicy = serde_json::from_value(obj)
                        .map_err(|e| Error::Failed(format!("building the NetworkPolicy: {e}")))?;
                    Api::<NetworkPolicy>::namespaced(self.client.clone(), &ns)
                        .create(&PostParams::default(), &policy)
                        .await
                        .map_err(|e| api_error(e, NETPOL_CREATE, &ns, format!("creating NetworkPolicy {ns}/{name}")))?;
                    fault.created.push(Created::NetworkPolicy(name));
                }
                fault.pods = victims;
            }
        }
        Ok(fault)
    }
}

/// An object aftershock created for a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Created {
    NetworkPolicy(String),
    Chaos { kind: &'static str, plural: &'static str, name: String },
}

/// An applied Kubernetes fault: the pods it hit and the objects it created. `revert` deletes
/// the objects; dropping it unreverted deletes them in the background, best effort.
pub struct KubeFault {
    client: Client,
    namespace: String,
    pods: Vec<BrokerPod>,
    created: Vec<Created>,
    done: bool,
}

impl std::fmt::Debug for KubeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeFault").field("pods", &self.pods).field("created", &self.created).finish()
    }
}

impl KubeFault {
    /// The pods the fault hit (before it hit them).
    pub fn pods(&self) -> &[BrokerPod] {
        &self.pods
    }

    /// Names of the objects created, like `NetworkPolicy/aftershock-1-isolate-...`.
    pub fn objects(&self) -> Vec<String> {
        self.created
            .iter()
            .map(|c| match c {
                Created::NetworkPolicy(n) => format!("NetworkPolicy/{n}"),
                Created::Chaos { kind, name, .. } => format!("{kind}/{name}"),
            })
            .collect()
    }

    async fn create_chaos(&mut self, kind: &'static str, plural: &'static str, name: &str, obj: Value) -> Result<()> {
        let ns = self.namespace.clone();
        let ar = chaos_resource(kind, plural);
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &ns, &ar);
        let dynobj: DynamicObject =
            serde_json::from_value(obj).map_err(|e| Error::Failed(format!("building the {kind}: {e}")))?;
        match api.create(&PostParams::default(), &dynobj).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Err(Error::Usage(format!(
                    "the API server does not know {kind} ({CHAOS_GROUP}/v1alpha1): is Chaos Mesh installed? Leave out \"chaos_mesh\" to use NetworkPolicies"
                )));
            }
            Err(e) => {
                return Err(api_error(
                    e,
                    access("create", plural, CHAOS_GROUP),
                    &ns,
                    format!("creating {kind} {ns}/{name}"),
                ));
            }
        }
        self.created.push(Created::Chaos { kind, plural, name: name.to_string() });
        Ok(())
    }

    /// Deletes every object the fault created (already gone is fine).
    pub async fn revert(&mut self) -> Result<()> {
        let created = std::mem::take(&mut self.created);
        self.done = true;
        let mut first_err = None;
        for c in created {
            if let Err(e) = delete_created(&self.client, &self.namespace, &c).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

async fn delete_created(client: &Client, ns: &str, c: &Created) -> Result<()> {
    let r = match c {
        Created::NetworkPolicy(n) => Api::<NetworkPolicy>::namespaced(client.clone(), ns)
            .delete(n, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| (e, NETPOL_DELETE, n)),
        Created::Chaos { kind, plural, name } => {
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &chaos_resource(kind, plural))
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ())
                .map_err(|e| (e, access("delete", plural, CHAOS_GROUP), name))
        }
    };
    match r {
        Ok(()) => Ok(()),
        Err((e, _, _)) if is_not_found(&e) => Ok(()),
        Err((e, what, name)) => Err(api_error(e, what, ns, format!("deleting {} {ns}/{name}", what.resource))),
    }
}

impl Drop for KubeFault {
    fn drop(&mut self) {
        if self.done || self.created.is_empty() {
            return;
        }
        // Best effort: a panic or an early return must not leave a broker cut off until
        // someone runs `heal`. The runtime may be shutting down, so this can fail; heal covers it.
        let created = std::mem::take(&mut self.created);
        let (client, ns) = (self.client.clone(), self.namespace.clone());
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move {
                for c in created {
                    let _ = delete_created(&client, &ns, &c).await;
                }
            });
        }
    }
}

/// A NetworkPolicy that cuts the pods whose `pod_label` is one of `values` off from `peers`,
/// in `direction`. NetworkPolicies only allow, so the cut is "allow everything but the peers".
#[allow(clippy::too_many_arguments)]
fn network_policy(
    ns: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    pod_label: &str,
    values: &[String],
    others: &[&BrokerPod],
    peers: Peers,
    direction: Direction,
) -> Value {
    let other_names: Vec<String> = others.iter().filter_map(|p| p.pod_label_value.clone()).collect();
    let other_ips: Vec<String> = others.iter().filter_map(|p| p.ip.as_ref().map(|ip| format!("{ip}/32"))).collect();
    // Who may still talk to the isolated pods.
    let allowed: Vec<Value> = match peers {
        Peers::All => Vec::new(),
        // Everything except the other brokers: pods without the per-pod label (clients) in
        // this namespace, every other namespace, and addresses outside the cluster minus the
        // brokers' pod IPs (CNIs differ in whether ipBlock matches pod IPs).
        Peers::OtherNodes => {
            let mut v = vec![
                json!({"podSelector": {"matchExpressions": [{"key": pod_label, "operator": "DoesNotExist"}]}}),
                json!({"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [ns]}]}}),
            ];
            let mut block = json!({"ipBlock": {"cidr": "0.0.0.0/0"}});
            if !other_ips.is_empty() {
                block["ipBlock"]["except"] = json!(other_ips);
            }
            v.push(block);
            v
        }
        // Only the other brokers.
        Peers::Clients => {
            vec![
                json!({"podSelector": {"matchExpressions": [{"key": pod_label, "operator": "In", "values": other_names}]}}),
            ]
        }
    };
    let (ingress, egress) = match direction {
        Direction::Both => (true, true),
        Direction::Inbound => (true, false),
        Direction::Outbound => (false, true),
    };
    let mut types = Vec::new();
    let mut spec = json!({
        "podSelector": {"matchExpressions": [{"key": pod_label, "operator": "In", "values": values}]},
    });
    if ingress {
        types.push("Ingress");
        spec["ingress"] = if allowed.is_empty() { json!([]) } else { json!([{"from": allowed}]) };
    }
    if egress {
        types.push("Egress");
        spec["egress"] = if allowed.is_empty() { json!([]) } else { json!([{"to": allowed}]) };
    }
    spec["policyTypes"] = json!(types);
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
    })
}

/// A Chaos Mesh NetworkChaos partition of `victims` from the other brokers (`peers: nodes`) or
/// from every pod in the namespace (`all`).
#[allow(clippy::too_many_arguments)]
fn network_chaos(
    ns: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    victims: &[BrokerPod],
    others: &[&BrokerPod],
    peers: Peers,
    direction: Direction,
    window: Duration,
) -> Value {
    let target_selector = match peers {
        Peers::OtherNodes | Peers::Clients => {
            json!({"pods": {ns: others.iter().map(|p| p.name.clone()).collect::<Vec<_>>()}})
        }
        Peers::All => json!({"namespaces": [ns]}),
    };
    json!({
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "action": "partition",
            "mode": "all",
            "selector": {"pods": {ns: victims.iter().map(|p| p.name.clone()).collect::<Vec<_>>()}},
            // Chaos Mesh's direction is seen from the selected pods: `to` cuts their traffic
            // to the target, `from` the target's traffic to them.
            "direction": match direction { Direction::Both => "both", Direction::Outbound => "to", Direction::Inbound => "from" },
            "target": {"mode": "all", "selector": target_selector},
            "duration": format!("{}s", window.as_secs().max(1)),
        }
    })
}

/// Deletes every object aftershock created in `namespace` (only those of `run_id`, when
/// given): NetworkPolicies, and Chaos Mesh objects when Chaos Mesh is installed. Returns what
/// it deleted.
pub async fn heal(client: &Client, namespace: &str, run_id: Option<&str>) -> Result<Vec<String>> {
    let mut sel = format!("{MANAGED_BY}={MANAGER}");
    if let Some(r) = run_id {
        sel.push_str(&format!(",{RUN_ID_LABEL}={}", label_value(r)));
    }
    let lp = ListParams::default().labels(&sel);
    let mut removed = Vec::new();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), namespace);
    let list = policies
        .list(&lp)
        .await
        .map_err(|e| api_error(e, NETPOL_LIST, namespace, format!("listing NetworkPolicies in {namespace}")))?;
    for p in list.items {
        let name = p.metadata.name.unwrap_or_default();
        delete_created(client, namespace, &Created::NetworkPolicy(name.clone())).await?;
        removed.push(format!("deleted NetworkPolicy {namespace}/{name}"));
    }
    for (kind, plural) in CHAOS_KINDS {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &chaos_resource(kind, plural));
        let list = match api.list(&lp).await {
            Ok(l) => l,
            // Chaos Mesh is not installed: nothing of that kind can exist.
            Err(e) if is_not_found(&e) => continue,
            // The shipped Role leaves Chaos Mesh out (k8s/chaos-mesh-role.yaml adds it): an
            // account that may not list these could not have created them either.
            Err(kube::Error::Api(s)) if s.code == 403 => {
                removed.push(format!(
                    "skipped {kind}: not allowed to list them in {namespace} (runs with `chaos_mesh` need k8s/chaos-mesh-role.yaml, and so does their heal)"
                ));
                continue;
            }
            Err(e) => {
                return Err(api_error(
                    e,
                    access("list", plural, CHAOS_GROUP),
                    namespace,
                    format!("listing {kind} in {namespace}"),
                ));
            }
        };
        for o in list.items {
            let name = o.metadata.name.unwrap_or_default();
            delete_created(client, namespace, &Created::Chaos { kind, plural, name: name.clone() }).await?;
            removed.push(format!("deleted {kind} {namespace}/{name}"));
        }
    }
    Ok(removed)
}

/// How long a rolling restart on Kubernetes waits for the cluster to be whole after a pod.
const RESTART_HEALTHY_TIMEOUT: Duration = Duration::from_secs(300);

/// A broker cut off from the controller is fenced after `broker.session.timeout.ms` (9 s by
/// default); windows at least this long tell whether a NetworkPolicy took effect.
const NETPOL_EFFECT_WINDOW: Duration = Duration::from_secs(15);

impl FaultBackend for KubeBackend {
    fn nodes(&self) -> BoxFuture<'_, Result<Nodes>> {
        Box::pin(async move {
            let pods = self.brokers().await?;
            let alive = pods.iter().filter(|p| p.ready && !p.deleting).map(|p| p.node_id).collect();
            Ok(Nodes { all: pods.iter().map(|p| p.node_id).collect(), alive })
        })
    }

    fn controller<'a>(&'a self, _alive: &'a [i32], probe: &'a dyn ClusterProbe) -> BoxFuture<'a, Result<i32>> {
        // Pods have no quorum-state files aftershock can read: ask Kafka (DescribeQuorum).
        probe.quorum_leader(Duration::from_secs(10))
    }

    fn apply<'a>(
        &'a self,
        occ: &'a Occurrence,
        nodes: &'a [i32],
        env: &'a ApplyEnv,
    ) -> BoxFuture<'a, Result<Box<dyn FaultGuard>>> {
        Box::pin(async move {
            let healthy = || super::engine::wait_healthy(env.probe.as_ref(), env.n_nodes, RESTART_HEALTHY_TIMEOUT);
            let fault = KubeBackend::apply(self, occ.seq, &occ.spec, nodes, healthy).await?;
            Ok(Box::new(KubeGuard { fault, backend: Arc::new(self.clone()) }) as Box<dyn FaultGuard>)
        })
    }

    /// A NetworkPolicy only works where the CNI enforces it; a broker cut off from the other
    /// nodes for longer than the session timeout is fenced, so a broker that stayed registered
    /// through a long enough window shows the policy did nothing.
    fn effect_notes(&self, occ: &Occurrence, out: &FaultOutcome, victim_left: bool) -> Vec<String> {
        let FaultAction::Partition { peers, .. } = occ.spec.action else { return Vec::new() };
        if self.spec.chaos_mesh || peers == Peers::Clients {
            return Vec::new();
        }
        if occ.spec.duration < NETPOL_EFFECT_WINDOW {
            vec![format!(
                "the window is shorter than {}s, too short to tell whether the NetworkPolicy took effect",
                NETPOL_EFFECT_WINDOW.as_secs()
            )]
        } else if !victim_left {
            vec![format!(
                "WARNING: the NetworkPolicy had no visible effect on Kafka: node(s) {:?} stayed registered through a {}s window. Either nothing enforces NetworkPolicies here (kindnet and flannel alone do not), or the engine applies them to new connections only: kube-router (checked) and other conntrack-based engines let established connections go on, and Kafka keeps its connections between brokers open. Such a policy cuts a running broker off only once those connections break (flush the node's conntrack entries for the pod), or use `chaos_mesh`, whose iptables rules in the pod's own network namespace also drop the packets of established connections",
                out.nodes,
                occ.spec.duration.as_secs()
            )]
        } else {
            Vec::new()
        }
    }
}

/// A Kubernetes fault with the backend that watches its pods.
struct KubeGuard {
    fault: KubeFault,
    backend: Arc<KubeBackend>,
}

impl FaultGuard for KubeGuard {
    fn describe(&self, out: &mut FaultOutcome) {
        out.pods = self.fault.pods().iter().map(|p| p.name.clone()).collect();
        out.notes.extend(self.fault.objects().into_iter().map(|o| format!("created {o}")));
    }

    fn watch_ready(
        &self,
        action: FaultAction,
        cancel: CancellationToken,
    ) -> Option<BoxFuture<'static, Result<Option<Instant>>>> {
        Some(Box::pin(watch_pods_ready(self.backend.clone(), self.fault.pods().to_vec(), action, cancel)))
    }

    fn revert(mut self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move { self.fault.revert().await })
    }
}

/// Waits until each pod the fault took down is Ready again: a replacement for a deleted pod
/// (a new uid), or the same pod after a pod-failure; `None` when the run ends first.
async fn watch_pods_ready(
    k: Arc<KubeBackend>,
    pods: Vec<BrokerPod>,
    action: FaultAction,
    cancel: CancellationToken,
) -> Result<Option<Instant>> {
    let timeout = k.spec().ready_timeout;
    let wait = async {
        let mut last = Instant::now();
        for p in &pods {
            let at = match action {
                FaultAction::Pause => {
                    // Chaos Mesh's pod-failure keeps the pod; it is Ready again only after
                    // the fault is removed, so first see it not Ready.
                    wait_not_ready(&k, &p.name, timeout).await?;
                    k.wait_ready(&p.name, None, timeout).await?
                }
                _ => k.wait_ready(&p.name, Some(&p.uid), timeout).await?,
            };
            last = last.max(at);
        }
        Ok::<_, Error>(last)
    };
    tokio::select! {
        r = wait => r.map(Some),
        _ = cancel.cancelled() => Ok(None),
    }
}

async fn wait_not_ready(k: &KubeBackend, name: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let pods = k.brokers().await?;
        if pods.iter().find(|p| p.name == name).is_none_or(|p| !p.ready) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, id: i32, ip: &str) -> BrokerPod {
        BrokerPod {
            name: name.into(),
            uid: format!("uid-{id}"),
            node_id: id,
            ready: true,
            ip: Some(ip.into()),
            pod_label_value: Some(name.into()),
            deleting: false,
        }
    }

    /// A policy cutting pod `c-0` (label `pn`) from `peers`.
    fn policy(others: &[BrokerPod], peers: Peers, direction: Direction) -> Value {
        let refs: Vec<&BrokerPod> = others.iter().collect();
        network_policy("kafka", "p", BTreeMap::new(), "pn", &["c-0".into()], &refs, peers, direction)
    }

    #[test]
    fn node_ids_come_from_the_name_suffix_or_a_label() {
        let none = BTreeMap::new();
        assert_eq!(node_id_of(&NodeIdRule::NameSuffix, "my-cluster-dual-role-2", &none), Some(2));
        assert_eq!(node_id_of(&NodeIdRule::NameSuffix, "kafka", &none), None);
        let labels = BTreeMap::from([("kafka/id".to_string(), "7".to_string())]);
        assert_eq!(node_id_of(&NodeIdRule::Label("kafka/id".into()), "x", &labels), Some(7));
        assert_eq!(node_id_of(&NodeIdRule::Label("other".into()), "x-1", &labels), None);
    }

    #[test]
    fn names_and_label_values_are_valid_kubernetes_names() {
        let n = object_name("Leader-Kill-20261125T170000Z", 3, "isolate_leader");
        assert_eq!(n, "aftershock-3-isolate-leader-leader-kill-20261125t170000z");
        let long = object_name(&"x".repeat(100), 1, "f");
        assert!(long.len() <= 63 && !long.ends_with('-'));
        assert_eq!(label_value("run/1:a_"), "run-1-a");
    }

    #[test]
    fn a_full_isolation_policy_denies_both_ways() {
        let p = network_policy(
            "kafka",
            "p",
            BTreeMap::new(),
            "strimzi.io/pod-name",
            &["c-0".into()],
            &[],
            Peers::All,
            Direction::Both,
        );
        assert_eq!(p["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(p["spec"]["ingress"], json!([]));
        assert_eq!(p["spec"]["egress"], json!([]));
        assert_eq!(p["spec"]["podSelector"]["matchExpressions"][0]["values"], json!(["c-0"]));
        // It must parse as a NetworkPolicy.
        let _: NetworkPolicy = serde_json::from_value(p).unwrap();
    }

    #[test]
    fn cutting_only_the_other_brokers_allows_everything_else() {
        let others = [pod("c-1", 1, "10.0.0.2"), pod("c-2", 2, "10.0.0.3")];
        let p = policy(&others, Peers::OtherNodes, Direction::Inbound);
        assert_eq!(p["spec"]["policyTypes"], json!(["Ingress"]));
        assert!(p["spec"].get("egress").is_none());
        let from = &p["spec"]["ingress"][0]["from"];
        assert_eq!(from[0]["podSelector"]["matchExpressions"][0]["operator"], "DoesNotExist");
        assert_eq!(from[2]["ipBlock"]["except"], json!(["10.0.0.2/32", "10.0.0.3/32"]));
        let clients = policy(&others, Peers::Clients, Direction::Outbound);
        assert_eq!(
            clients["spec"]["egress"][0]["to"][0]["podSelector"]["matchExpressions"][0]["values"],
            json!(["c-1", "c-2"])
        );
        let _: NetworkPolicy = serde_json::from_value(clients).unwrap();
    }

    #[test]
    fn network_chaos_names_victims_targets_and_direction() {
        let victims = [pod("c-0", 0, "10.0.0.1")];
        let others = [pod("c-1", 1, "10.0.0.2")];
        let refs: Vec<&BrokerPod> = others.iter().collect();
        let o = network_chaos(
            "kafka",
            "n",
            BTreeMap::new(),
            &victims,
            &refs,
            Peers::OtherNodes,
            Direction::Outbound,
            Duration::from_secs(20),
        );
        assert_eq!(o["spec"]["direction"], "to");
        assert_eq!(o["spec"]["selector"]["pods"]["kafka"], json!(["c-0"]));
        assert_eq!(o["spec"]["target"]["selector"]["pods"]["kafka"], json!(["c-1"]));
        assert_eq!(o["spec"]["duration"], "20s");
    }
}
