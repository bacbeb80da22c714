//! The cluster's on-disk state (`cluster.json` in the cluster dir): what `status`, `down`,
//! later commands and a different aftershock process need to find every node.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::netns::NetnsLayout;
use crate::error::{Error, Result};
use crate::vocab::fs::write_atomic;

/// File name of the state inside a cluster dir.
pub const STATE_FILE: &str = "cluster.json";
/// Version of the state format; bumped on incompatible changes.
pub const STATE_VERSION: u32 = 1;

/// Everything aftershock knows about a local cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterState {
    pub version: u32,
    /// KRaft cluster id shared by every node's storage.
    pub cluster_id: String,
    pub kafka_version: String,
    /// The `java` executable the nodes run on.
    pub java: PathBuf,
    /// Directory holding every jar of the classpath.
    pub libs_dir: PathBuf,
    /// JVM heap, as given to -Xmx/-Xms (e.g. `512m`).
    pub heap: String,
    /// Milliseconds since the Unix epoch when `up` created the cluster.
    pub created_unix_ms: u64,
    pub nodes: Vec<NodeState>,
    /// The network layout when the nodes run in their own network namespaces
    /// (`cluster up --netns`); absent for nodes on the host's loopback. NB: `default` keeps
    /// state files written before this field existed loadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsLayout>,
}

/// One combined broker+controller node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    pub id: i32,
    /// Address the node listens on and advertises.
    pub host: String,
    pub broker_port: u16,
    pub controller_port: u16,
    /// Pid of the node's JVM, when aftershock last started it.
    pub pid: Option<u32>,
}

impl NodeState {
    /// `host:port` of the client listener.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.broker_port)
    }
}

impl ClusterState {
    /// The comma-separated bootstrap list clients connect to.
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().map(NodeState::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// Looks a node up by its id.
    pub fn node(&self, id: i32) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The network namespace node `id` runs in, for a `--netns` cluster.
    pub fn namespace_of(&self, id: i32) -> Option<&str> {
        self.netns.as_ref()?.node(id).map(|n| n.namespace.as_str())
    }

    /// Reads the state of the cluster in `dir`.
    ///
    /// # Errors
    /// [`Error::NoCluster`] when there is no state file, [`Error::BadState`] when it cannot be parsed.
    pub fn load(dir: &Path) -> Result<ClusterState> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoCluster { dir: dir.to_path_buf(), file: STATE_FILE });
            }
            Err(e) => return Err(Error::BadState { path, reason: e.to_string() }),
        };
        let state: ClusterState =
            serde_json::from_str(&text).map_err(|e| Error::BadState { path: path.clone(), reason: e.to_string() })?;
        if state.version != STATE_VERSION {
            return Err(Error::BadState {
                path,
                reason: format!("state version {} is not the supported {}", state.version, STATE_VERSION),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically (temporary file, fsync, rename), so that a crash never
    /// leaves a half-written file that would hide running nodes from `down`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("cluster state always serializes");
        let path = dir.join(STATE_FILE);
        write_atomic(&path, text.as_bytes()).map_err(Error::io(format!("writing {}", path.display())))
    }
}

/// Where each file of a node lives inside the cluster dir.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    /// `kafka.logs.dir`: log4j's files and the GC log.
    pub logs: PathBuf,
}

impl NodePaths {
    pub fn new(cluster_dir: &Path, id: i32) -> NodePaths {
        let dir = cluster_dir.join(format!("node-{id}"));
        NodePaths {
            config: dir.join("server.properties"),
            data: dir.join("data"),
            log: dir.join("server.log"),
            logs: dir.join("logs"),
            dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterState {
        ClusterState {
            version: STATE_VERSION,
            cluster_id: "q1Sh-9_ISia_zwGINzRvyQ".into(),
            kafka_version: "4.4.0".into(),
            java: "/usr/bin/java".into(),
            libs_dir: "/cache/libs".into(),
            heap: "512m".into(),
            created_unix_ms: 1,
            nodes: vec![
                NodeState {
                    id: 1,
                    host: "127.0.0.1".into(),
                    broker_port: 40001,
                    controller_port: 40002,
                    pid: Some(10),
                },
                NodeState { id: 2, host: "127.0.0.1".into(), broker_port: 40003, controller_port: 40004, pid: None },
            ],
            netns: None,
        }
    }

    #[test]
    fn round_trips_through_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample();
        s.save(dir.path()).unwrap();
        assert_eq!(ClusterState::load(dir.path()).unwrap(), s);
        // no temporary file is left next to it
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE)]);
    }

    #[test]
    fn bootstrap_lists_every_node() {
        assert_eq!(sample().bootstrap(), "127.0.0.1:40001,127.0.0.1:40003");
        assert_eq!(sample().node(2).unwrap().broker_port, 40003);
        assert!(sample().node(3).is_none());
    }

    #[test]
    fn netns_layout_round_trips_and_old_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sample();
        // A state file from before `--netns` existed has no `netns` key.
        let old = serde_json::to_value(&s).unwrap();
        assert!(old.get("netns").is_none(), "no key when there is no layout");
        std::fs::write(dir.path().join(STATE_FILE), old.to_string()).unwrap();
        assert_eq!(ClusterState::load(dir.path()).unwrap(), s);
        assert_eq!(s.namespace_of(1), None);

        let subnet = "10.77.0.0/24".parse().unwrap();
        s.netns = Some(NetnsLayout::plan(dir.path(), subnet, &[1, 2]).unwrap());
        s.save(dir.path()).unwrap();
        let back = ClusterState::load(dir.path()).unwrap();
        assert_eq!(back, s);
        let tag = super::super::netns::dir_tag(dir.path());
        assert_eq!(back.namespace_of(2), Some(format!("as-{tag}-n2").as_str()));
        assert_eq!(back.namespace_of(3), None);
        // Unknown fields are still refused, also inside the layout.
        let mut v = serde_json::to_value(&s).unwrap();
        v["netns"]["surprise"] = 1.into();
        std::fs::write(dir.path().join(STATE_FILE), v.to_string()).unwrap();
        assert!(matches!(ClusterState::load(dir.path()).unwrap_err(), Error::BadState { .. }));
    }

    #[test]
    fn missing_state_is_no_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let err = ClusterState::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NoCluster { .. }), "{err}");
        assert!(err.to_string().contains("cluster up --dir"), "{err}");
    }

    #[test]
    fn corrupt_or_foreign_state_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        assert!(matches!(ClusterState::load(dir.path()).unwrap_err(), Error::BadState { .. }));
        let mut v = serde_json::to_value(sample()).unwrap();
        v["version"] = 99.into();
        std::fs::write(dir.path().join(STATE_FILE), v.to_string()).unwrap();
        let err = ClusterState::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("state version 99"), "{err}");
    }
}
