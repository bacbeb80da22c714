//! A real Kubernetes control plane for tests: etcd and kube-apiserver, built from the Go module
//! proxy by tests/support/build-control-plane.sh (cached), with token authentication and RBAC.
//! On its own (`start`) it listens on loopback and nothing runs pods: tests/support/agent.rs
//! plays kubelet and StatefulSet for the local Kafka nodes. tests/support/kube_node.rs starts it
//! with `start_with` on the node's address, with service accounts, next to a real kubelet.

// NB: tests/kube.rs and tests/kube_node.rs each use part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Deserialize as _;

/// The users in the token file: (user, token, groups).
pub const ADMIN: (&str, &str, &str) = ("admin", "admin-token", "system:masters");
pub const AFTERSHOCK: (&str, &str, &str) = ("aftershock", "aftershock-token", "");
pub const LIMITED: (&str, &str, &str) = ("limited", "limited-token", "");

pub struct ControlPlane {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub url: String,
    etcd: Child,
    apiserver: Child,
}

/// Where and how the API server listens.
pub struct Options {
    /// The dir for its data, keys and logs (a temp dir when None).
    pub dir: Option<PathBuf>,
    /// The address it binds and advertises (the `kubernetes` Service's endpoint).
    pub address: String,
    pub service_cluster_ip_range: String,
    /// Its serving certificate and key; self-signed by the API server when None.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The ServiceAccount admission plugin: pods get their service account's token mounted.
    pub service_accounts: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dir: None,
            address: "127.0.0.1".into(),
            service_cluster_ip_range: "10.0.0.0/24".into(),
            tls: None,
            service_accounts: false,
        }
    }
}

/// The Role documents of a manifest in k8s/ (`file` relative to it).
pub fn shipped_roles(file: &str) -> Vec<Role> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Role"))
        .map(|v| serde_json::from_value(serde_json::to_value(v).unwrap()).unwrap())
        .collect()
}

/// Creates `role` in `namespace` (under its own name) and binds it to a token user.
pub async fn bind(client: &Client, namespace: &str, role: &Role, user: &str) {
    let mut role = role.clone();
    role.metadata.namespace = Some(namespace.into());
    let name = role.metadata.name.clone().unwrap();
    Api::<Role>::namespaced(client.clone(), namespace).create(&PostParams::default(), &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{name}-{user}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), namespace).create(&PostParams::default(), &binding).await.unwrap();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The cached binaries, building them first if needed (the first time takes ~10 minutes).
pub fn binaries() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/build-control-plane.sh");
    let out = Command::new("bash").arg(&script).output().expect("run build-control-plane.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "building the Kubernetes binaries failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir =
        stdout.lines().rev().find_map(|l| l.strip_prefix("control plane ready: ")).expect("the script names its dir");
    PathBuf::from(dir.trim())
}

impl ControlPlane {
    pub async fn start() -> ControlPlane {
        ControlPlane::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> ControlPlane {
        let bin = binaries();
        let (tmp, dir) = match opts.dir {
            Some(d) => {
                std::fs::create_dir_all(&d).unwrap();
                (None, d)
            }
            None => {
                let t = tempfile::tempdir().unwrap();
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let d = dir.as_path();
        let key = d.join("sa.key");
        let st = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .expect("openssl (apt-get install openssl)");
        assert!(st.success(), "openssl genrsa failed");
        let tokens = [ADMIN, AFTERSHOCK, LIMITED]
            .iter()
            .enumerate()
            .map(|(i, (user, token, groups))| format!("{token},{user},{i},\"{groups}\"\n"))
            .collect::<String>();
        std::fs::write(d.join("tokens.csv"), tokens).unwrap();

        let (client_port, peer_port, secure_port) = (free_port(), free_port(), free_port());
        let log = |name: &str| std::fs::File::create(d.join(name)).unwrap();
        let etcd = Command::new(bin.join("etcd"))
            .arg(format!("--data-dir={}", d.join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client_port}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client_port}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"))
            .arg("--unsafe-no-fsync")
            .stdout(log("etcd.log"))
            .stderr(log("etcd.err.log"))
            .spawn()
            .expect("start etcd");
        let addr = &opts.address;
        let mut apiserver = Command::new(bin.join("kube-apiserver"));
        apiserver
            .arg(format!("--etcd-servers=http://127.0.0.1:{client_port}"))
            .arg(format!("--cert-dir={}", d.join("certs").display()))
            .arg(format!("--secure-port={secure_port}"))
            .arg(format!("--bind-address={addr}"))
            .arg(format!("--advertise-address={addr}"))
            .arg(format!("--service-cluster-ip-range={}", opts.service_cluster_ip_range))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--token-auth-file={}", d.join("tokens.csv").display()))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", key.display()))
            .arg(format!("--service-account-signing-key-file={}", key.display()))
            .arg("--allow-privileged=true");
        if !opts.service_accounts {
            apiserver.arg("--disable-admission-plugins=ServiceAccount");
        }
        if let Some((cert, key)) = &opts.tls {
            apiserver.arg(format!("--tls-cert-file={}", cert.display()));
            apiserver.arg(format!("--tls-private-key-file={}", key.display()));
        }
        let apiserver = apiserver
            .stdout(log("apiserver.log"))
            .stderr(log("apiserver.err.log"))
            .spawn()
            .expect("start kube-apiserver");
        let cp = ControlPlane { url: format!("https://{addr}:{secure_port}"), dir, _tmp: tmp, etcd, apiserver };
        cp.wait_ready().await;
        cp
    }

    /// A kubeconfig file for one of the token users.
    pub fn kubeconfig(&self, user: (&str, &str, &str)) -> PathBuf {
        let path = self.dir.join(format!("{}.kubeconfig", user.0));
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\nusers:\n- name: {u}\n  user:\n    token: {t}\ncontexts:\n- name: {u}@test\n  context:\n    cluster: test\n    user: {u}\ncurrent-context: {u}@test\n",
            self.url,
            u = user.0,
            t = user.1
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }

    pub async fn client(&self, user: (&str, &str, &str)) -> Client {
        let kc = Kubeconfig::read_from(self.kubeconfig(user)).unwrap();
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(cfg).unwrap()
    }

    /// Until the API answers and RBAC's bootstrap roles exist (every user may then ask
    /// SelfSubjectAccessReviews).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(client) = tokio::time::timeout(Duration::from_secs(5), self.client(ADMIN)).await {
                let roles: Api<ClusterRole> = Api::all(client);
                if let Ok(Ok(Some(_))) =
                    tokio::time::timeout(Duration::from_secs(5), roles.get_opt("system:basic-user")).await
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "kube-apiserver not ready in 120 s; logs in {}", self.dir.display());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}
