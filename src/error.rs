//! The library's error type: one enum with the context a user needs to act on each failure.

use std::path::PathBuf;

/// A typed error from a module above this one (the report's, the plan's), kept whole as a
/// source: this module is a leaf and names none of them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Result with the library's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The two kinds of failure, which the exit code tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad usage, configuration or a missing prerequisite: exit 2, nothing was run.
    Config,
    /// The run itself failed: exit 3.
    Runtime,
}

/// Everything that can go wrong in aftershock's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `java` could not be run at all.
    #[error(
        "cannot run Java ({java}): {reason}. Kafka needs Java 17 or newer: install it \
         (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME to a JDK 17+"
    )]
    JavaMissing { java: String, reason: String },

    /// `java` runs but is older than Kafka 4.x accepts.
    #[error(
        "{java} is Java {found}, but Kafka 4.x brokers need Java 17 or newer: install a newer JDK or set JAVA_HOME to one"
    )]
    JavaTooOld { java: String, found: String },

    /// No way to get Kafka's jars: neither Maven, nor KAFKA_HOME, nor a filled cache.
    #[error(
        "no Kafka {version} jars in the cache ({cache}) and no way to fetch them: either install Maven \
         (`apt-get install maven`; aftershock then downloads the jars from Maven Central once), or set \
         KAFKA_HOME to an unpacked Apache Kafka distribution (its libs/ is used)"
    )]
    NoKafkaSource { version: String, cache: PathBuf },

    /// KAFKA_HOME is set but does not look like a Kafka distribution.
    #[error("KAFKA_HOME={home} is not an Apache Kafka distribution: {reason}")]
    BadKafkaHome { home: PathBuf, reason: String },

    /// Maven ran but could not resolve the jars.
    #[error("fetching Kafka {version} from Maven Central failed (mvn exited with {status}); last output:\n{output}")]
    FetchFailed { version: String, status: String, output: String },

    /// A directory cannot be created or written.
    #[error("directory {dir} is not writable: {source}")]
    DirNotWritable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A cluster is already running in the directory given to `up`.
    #[error(
        "a cluster is already running in {dir} (node pids {pids:?}); use `aftershock cluster status --dir {dir}` \
         to see it, or `aftershock cluster down --dir {dir}` to stop it first"
    )]
    AlreadyRunning { dir: PathBuf, pids: Vec<u32> },

    /// No cluster state in the directory given to `status`/`down`.
    #[error("no aftershock cluster in {dir} (no {file}); start one with `aftershock cluster up --dir {dir}`")]
    NoCluster { dir: PathBuf, file: &'static str },

    /// The cluster state file exists but cannot be read.
    #[error("cluster state {path} is unreadable: {reason}")]
    BadState { path: PathBuf, reason: String },

    /// Kafka's storage tool rejected a node's configuration or storage.
    #[error(
        "formatting the storage of Kafka node {node} failed; no node was started. Last lines of its output:\n{tail}"
    )]
    FormatFailed { node: i32, tail: String },

    /// A node process exited while the cluster was starting.
    #[error(
        "Kafka node {node} exited during startup ({status}); the other nodes were stopped. Last lines of {log}:\n{tail}"
    )]
    NodeFailed { node: i32, status: String, log: PathBuf, tail: String },

    /// The brokers did not all register in time.
    #[error(
        "only {registered} of {expected} brokers registered within {waited:?}; the nodes were stopped. Last lines of {log}:\n{tail}"
    )]
    StartTimeout { registered: usize, expected: usize, waited: std::time::Duration, log: PathBuf, tail: String },

    /// Bad usage or configuration that only shows once aftershock looks (an argument clap
    /// cannot check, a topic that exists with other settings, a node id the cluster lacks).
    #[error("{0}")]
    Usage(String),

    /// The run itself failed, with what happened (a cluster that did not recover in time, a
    /// pod that never got Ready, a worker that failed).
    #[error("{0}")]
    Failed(String),

    /// A Kafka client call failed.
    #[error("{context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },

    /// The Kubernetes API refused an action for lack of permission.
    #[error("{0}")]
    KubeForbidden(Box<KubeForbidden>),

    /// Connecting to Kubernetes failed (no kubeconfig, unknown context, unreachable API server).
    #[error("cannot connect to Kubernetes: {0}")]
    KubeConfig(String),

    /// Any other Kubernetes API failure, with what was being done.
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// A scenario that validates but cannot be planned (config, exit 2): a
    /// `plan::PlanError`.
    #[error(transparent)]
    Plan(BoxError),

    /// A task of the run ended abnormally (a panic).
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },

    /// Building or writing a report failed: the report's own typed error (`report::Error`,
    /// `capacity::report::WriteError`) is the source.
    #[error("{context}: {source}")]
    Report {
        context: String,
        #[source]
        source: BoxError,
    },

    /// Any other I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Which kind of failure this is; every variant is classified here, by name.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::JavaMissing { .. }
            | Error::JavaTooOld { .. }
            | Error::NoKafkaSource { .. }
            | Error::BadKafkaHome { .. }
            | Error::DirNotWritable { .. }
            | Error::AlreadyRunning { .. }
            | Error::NoCluster { .. }
            | Error::KubeForbidden(_)
            | Error::KubeConfig(_)
            | Error::Usage(_)
            | Error::Plan(_) => ErrorKind::Config,
            Error::FetchFailed { .. }
            | Error::BadState { .. }
            | Error::FormatFailed { .. }
            | Error::NodeFailed { .. }
            | Error::StartTimeout { .. }
            | Error::Failed(_)
            | Error::Kafka { .. }
            | Error::Kube { .. }
            | Error::Task { .. }
            | Error::Report { .. }
            | Error::Io { .. } => ErrorKind::Runtime,
        }
    }

    /// True for errors caused by usage, configuration or missing prerequisites (exit code 2);
    /// everything else means the run itself failed (exit code 3).
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// Wraps a Kafka client error with what was being done.
    pub fn kafka(context: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
        let context = context.into();
        move |source| Error::Kafka { context, source }
    }
}

/// What a Forbidden answer from the Kubernetes API lacked, to tell the user which Role rule to add.
#[derive(Debug, thiserror::Error)]
#[error(
    "Kubernetes refused to {verb} {resource} in namespace {namespace} (403 Forbidden: {message}). \
     aftershock's account needs the verb `{verb}` on `{resource}`{group_note} in namespace {namespace}: \
     add it to its Role (k8s/role.yaml{chaos_note} lists every verb and why)"
)]
pub struct KubeForbidden {
    pub verb: String,
    pub resource: String,
    pub group_note: String,
    pub namespace: String,
    pub message: String,
    pub chaos_note: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_exit_2_and_runtime_failures_exit_3() {
        assert_eq!(Error::Usage("topic exists with other settings".into()).kind(), ErrorKind::Config);
        assert_eq!(Error::Plan(Box::new(crate::plan::PlanError::TooManyProducers)).kind(), ErrorKind::Config);
        assert_eq!(Error::Failed("the cluster was not whole again".into()).kind(), ErrorKind::Runtime);
        let io = Error::Io { context: "x".into(), source: std::io::Error::other("y") };
        assert!(!io.is_config());
    }
}
