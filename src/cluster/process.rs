//! Node processes: starting a Kafka JVM, telling whether a recorded pid is still that JVM,
//! and signalling it. Works from state alone, so a different aftershock process (or one
//! started after a crash) can manage nodes it did not spawn.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::state::{ClusterState, NodePaths, NodeState};
use crate::error::{Error, Result};

/// JVM flags as Kafka's own start scripts set them (kafka-run-class.sh), with a bounded heap.
fn jvm_args(state: &ClusterState, paths: &NodePaths, log4j: &Path) -> Vec<String> {
    let mut args = vec![
        format!("-Xmx{}", state.heap),
        format!("-Xms{}", state.heap),
        "-server".into(),
        "-XX:+UseG1GC".into(),
        "-XX:MaxGCPauseMillis=20".into(),
        "-XX:InitiatingHeapOccupancyPercent=35".into(),
        "-XX:+ExplicitGCInvokesConcurrent".into(),
        "-XX:MaxInlineLevel=15".into(),
        // GC and safepoint pauses, as kafka-server-start.sh logs them (there: gc* only), so a
        // latency spike can be matched against the JVM's own stop-the-world time. Quoted: run
        // dirs carry a UTC time with colons, which -Xlog would read as separators.
        format!(
            "-Xlog:gc*,safepoint:file=\"{}\":time,tags:filecount=4,filesize=20M",
            paths.logs.join("kafkaServer-gc.log").display()
        ),
        "-Djava.awt.headless=true".into(),
        format!("-Dkafka.logs.dir={}", paths.logs.display()),
        format!("-Dlog4j2.configurationFile={}", log4j.display()),
    ];
    // Extra JVM options, from the variable kafka-run-class.sh reads them from.
    args.extend(std::env::var("KAFKA_OPTS").unwrap_or_default().split_whitespace().map(String::from));
    args.extend(["-cp".into(), format!("{}/*", state.libs_dir.display())]);
    args
}

/// Runs `kafka.tools.StorageTool format` for one node and waits for it.
pub fn format_storage(state: &ClusterState, node: i32, paths: &NodePaths, log4j: &Path) -> Result<()> {
    let mut args = jvm_args(state, paths, log4j);
    // The storage tool needs little memory; a full broker heap would only slow it down.
    args[0] = "-Xmx256m".into();
    args[1] = "-Xms64m".into();
    // Its GC log would rotate the node's own away.
    args.retain(|a| !a.starts_with("-Xlog"));
    let out = Command::new(&state.java)
        .args(&args)
        .args(["kafka.tools.StorageTool", "format", "-t", &state.cluster_id, "-c"])
        .arg(&paths.config)
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("running the Kafka storage tool with {}", state.java.display())))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        return Err(Error::FormatFailed { node, tail: super::dist::tail_lines(&text, 15) });
    }
    Ok(())
}

/// Starts one node's JVM in its own session, with stdout and stderr appended to its log,
/// so that it survives the aftershock that started it and a terminal hang-up.
///
/// For a `--netns` cluster the JVM runs inside the node's network namespace through
/// `ip netns exec NS java ...`, which execs java in place: the child's pid is the JVM's, and
/// [`is_node_alive`] sees java's own command line.
pub fn spawn_node(state: &ClusterState, node: &NodeState, cluster_dir: &Path, log4j: &Path) -> Result<Child> {
    let paths = NodePaths::new(cluster_dir, node.id);
    // The JVM opens its GC log before log4j would create the logs directory.
    std::fs::create_dir_all(&paths.logs).map_err(Error::io(format!("creating {}", paths.logs.display())))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(Error::io(format!("opening {}", paths.log.display())))?;
    let log2 = log.try_clone().map_err(Error::io("duplicating the log handle"))?;
    let (mut cmd, how) = match state.namespace_of(node.id) {
        Some(ns) => (super::netns::command_in(ns, &state.java), format!(" in network namespace {ns}")),
        None => (Command::new(&state.java), String::new()),
    };
    cmd.args(jvm_args(state, &paths, log4j))
        .arg("kafka.Kafka")
        .arg(&paths.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .current_dir(&paths.dir);
    detach(&mut cmd);
    cmd.spawn().map_err(Error::io(format!("starting Kafka node {} with {}{how}", node.id, state.java.display())))
}

#[allow(unsafe_code)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setsid() is async-signal-safe and touches no memory of the parent, which is all
    // a pre_exec hook may do. NB: a new session (not only a process group) keeps the node alive
    // when the terminal that ran `cluster up` closes, and keeps Ctrl-C aimed at aftershock
    // from reaching the brokers: stopping them is aftershock's decision, made through state.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
}

/// True when `pid` is this node's JVM and has not finished exiting: its command line names
/// `config` (so the pid was not reused by an unrelated process), or it is empty because the
/// process is exiting. A killed JVM drops its memory, and with it its command line, before
/// it closes its sockets; until then a connection to its port still succeeds, so a dying
/// node counts as alive and "dead" means its ports are free.
pub fn is_node_alive(pid: u32, config: &Path) -> bool {
    let Some(stat) = stat_of(pid).filter(|s| s.running(pid)) else {
        return false;
    };
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) if raw.is_empty() => stat.exiting(),
        Ok(raw) => {
            let needle = config.as_os_str().as_encoded_bytes();
            raw.split(|b| *b == 0).any(|arg| arg == needle)
        }
        Err(_) => false,
    }
}

/// True when `pid` exists and has a thread that has not exited. A zombie thread-group
/// leader whose other threads still run (a multi-threaded JVM being killed) is running: the
/// process's files, its sockets among them, close only when its last thread exits.
pub fn is_running(pid: u32) -> bool {
    stat_of(pid).is_some_and(|s| s.running(pid))
}

/// The state letter and the kernel flags of a process, from /proc/<pid>/stat.
struct ProcStat {
    state: char,
    flags: u64,
}

impl ProcStat {
    /// See [`is_running`]: not a zombie, or a zombie leader with threads left.
    fn running(&self, pid: u32) -> bool {
        !self.zombie() || std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|d| d.count() > 1)
    }

    fn zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }

    /// PF_EXITING: the process is being torn down.
    fn exiting(&self) -> bool {
        self.flags & 0x4 != 0 || self.zombie()
    }
}

fn stat_of(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the parenthesised command name, which may itself contain spaces and
    // parentheses: state, ppid, pgrp, session, tty_nr, tpgid, flags, ...
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let flags = fields.nth(5)?.parse().ok()?;
    Some(ProcStat { state, flags })
}

/// True when `pid` is stopped by a signal (SIGSTOP): a paused broker.
pub fn is_stopped(pid: u32) -> bool {
    stat_of(pid).is_some_and(|s| s.state == 'T')
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    match kill(Pid::from_raw(pid as i32), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::Io { context: format!("sending {signal} to pid {pid}"), source: e.into() }),
    }
}

/// Every live process whose command line mentions `dir`: used to prove that no JVM of a
/// cluster outlives `down`, whatever the state file says.
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && is_running(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| raw.windows(needle.len().max(1)).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_the_process_and_its_command_line() {
        let marker = tempfile::tempdir().unwrap();
        let cfg = marker.path().join("server.properties");
        let mut sleeper = Command::new("sh").arg("-c").arg("sleep 30").arg(&cfg).spawn().unwrap();
        let spid = sleeper.id();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(is_node_alive(spid, &cfg));
        let st = stat_of(spid).unwrap();
        assert!(!st.zombie() && !st.exiting(), "state {} flags {:#x}", st.state, st.flags);
        assert!(!is_node_alive(spid, &marker.path().join("other.properties")));
        assert!(processes_mentioning(marker.path()).contains(&spid));
        signal(spid, Signal::SIGKILL).unwrap();
        // killed but not yet reaped: a zombie is not alive
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!is_running(spid));
        assert!(!is_node_alive(spid, &cfg));
        sleeper.wait().unwrap();
        assert!(stat_of(spid).is_none());
        // signalling a gone pid is fine
        signal(spid, Signal::SIGTERM).unwrap();
    }
}
