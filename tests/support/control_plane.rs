//! A real Kubernetes control plane for tests: etcd and kube-apiserver, built from the Go module
//! proxy by tests/support/build-control-plane.sh (cached), started on loopback with token
//! authentication and RBAC. There is no kubelet, scheduler or controller: tests/support/agent.rs
//! plays those parts for the local Kafka nodes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The users in the token file: (user, token, groups).
pub const ADMIN: (&str, &str, &str) = ("admin", "admin-token", "system:masters");
pub const AFTERSHOCK: (&str, &str, &str) = ("aftershock", "aftershock-token", "");
pub const LIMITED: (&str, &str, &str) = ("limited", "limited-token", "");

pub struct ControlPlane {
    pub dir: tempfile::TempDir,
    pub url: String,
    etcd: Child,
    apiserver: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The cached binaries, building them first if needed (the first time takes ~10 minutes).
fn binaries() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/build-control-plane.sh");
    let out = Command::new("bash").arg(&script).output().expect("run build-control-plane.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "building kube-apiserver and etcd failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir =
        stdout.lines().rev().find_map(|l| l.strip_prefix("control plane ready: ")).expect("the script names its dir");
    PathBuf::from(dir.trim())
}

impl ControlPlane {
    pub async fn start() -> ControlPlane {
        let bin = binaries();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
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
        let apiserver = Command::new(bin.join("kube-apiserver"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{client_port}"))
            .arg(format!("--cert-dir={}", d.join("certs").display()))
            .arg(format!("--secure-port={secure_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--authorization-mode=RBAC")
            .arg(format!("--token-auth-file={}", d.join("tokens.csv").display()))
            .arg(format!("--service-account-issuer=https://127.0.0.1:{secure_port}/"))
            .arg(format!("--service-account-key-file={}", key.display()))
            .arg(format!("--service-account-signing-key-file={}", key.display()))
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .stdout(log("apiserver.log"))
            .stderr(log("apiserver.err.log"))
            .spawn()
            .expect("start kube-apiserver");
        let cp = ControlPlane { url: format!("https://127.0.0.1:{secure_port}"), dir, etcd, apiserver };
        cp.wait_ready().await;
        cp
    }

    /// A kubeconfig file for one of the token users.
    pub fn kubeconfig(&self, user: (&str, &str, &str)) -> PathBuf {
        let path = self.dir.path().join(format!("{}.kubeconfig", user.0));
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
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready in 120 s; logs in {}",
                self.dir.path().display()
            );
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
