//! Finds what a local cluster runs on: a Java 17+ runtime and Kafka's jars, either from
//! `KAFKA_HOME/libs` or fetched once from Maven Central into the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The pinned Kafka version: the newest 4.x release whose classes target Java 17
/// (class file version 61, checked on the jars).
pub const DEFAULT_KAFKA_VERSION: &str = "4.4.0";

/// The Maven descriptor shipped with aftershock (see the file for why the binding is listed).
pub const KAFKA_POM: &str = include_str!("kafka-deps.pom.xml");

/// Marker written once a fetch is complete, so that a half-finished fetch is never used.
const COMPLETE_MARKER: &str = ".complete";

/// A located Kafka distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaDist {
    pub version: String,
    pub libs_dir: PathBuf,
}

/// The cache root: `$AFTERSHOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/aftershock`, else `~/.cache/aftershock`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("AFTERSHOCK_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("aftershock");
    }
    home_dir().join(".cache").join("aftershock")
}

pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The `java` to run: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH.
pub fn java_command() -> PathBuf {
    match std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join("bin").join("java"),
        None => PathBuf::from("java"),
    }
}

/// Checks that `java` runs and is version 17 or newer; returns its resolved path.
///
/// # Errors
/// [`Error::JavaMissing`] or [`Error::JavaTooOld`], each saying how to fix it.
pub fn check_java() -> Result<PathBuf> {
    let java = java_command();
    let shown = java.display().to_string();
    let out = Command::new(&java).arg("-version").output().map_err(|e| Error::JavaMissing {
        java: shown.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound { "not found".into() } else { e.to_string() },
    })?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::JavaMissing { java: shown, reason: format!("`java -version` failed: {}", text.trim()) });
    }
    match java_major(&text) {
        Some(major) if major >= 17 => Ok(resolve_in_path(&java).unwrap_or(java)),
        Some(_) | None => Err(Error::JavaTooOld {
            java: shown,
            found: version_string(&text).unwrap_or_else(|| text.lines().next().unwrap_or("").to_string()),
        }),
    }
}

fn version_string(text: &str) -> Option<String> {
    let start = text.find("version \"")? + "version \"".len();
    let rest = &text[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The major version from `java -version` output ("1.8.0_402" is 8, "17.0.15" is 17).
pub fn java_major(text: &str) -> Option<u32> {
    let v = version_string(text)?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 { parts.next()?.parse().ok() } else { Some(first) }
}

fn resolve_in_path(cmd: &Path) -> Option<PathBuf> {
    if cmd.components().count() > 1 {
        return Some(cmd.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(cmd)).find(|p| p.is_file())
}

/// Finds Kafka's jars: `KAFKA_HOME/libs` when KAFKA_HOME is set, else the cache, fetching
/// into it with Maven when it is empty.
///
/// # Errors
/// [`Error::BadKafkaHome`], [`Error::NoKafkaSource`] (naming both ways out) or [`Error::FetchFailed`].
pub fn locate_kafka(version: &str) -> Result<KafkaDist> {
    if let Some(home) = std::env::var_os("KAFKA_HOME").filter(|h| !h.is_empty()) {
        return from_kafka_home(Path::new(&home));
    }
    fetch(version)
}

/// Uses an unpacked official Kafka distribution.
pub fn from_kafka_home(home: &Path) -> Result<KafkaDist> {
    let libs = home.join("libs");
    let bad = |reason: String| Error::BadKafkaHome { home: home.to_path_buf(), reason };
    let entries = std::fs::read_dir(&libs).map_err(|e| bad(format!("cannot read {}: {e}", libs.display())))?;
    let version = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .find_map(|n| n.strip_prefix("kafka_2.13-").and_then(|r| r.strip_suffix(".jar")).map(str::to_string))
        .ok_or_else(|| bad(format!("{} holds no kafka_2.13-<version>.jar", libs.display())))?;
    Ok(KafkaDist { version, libs_dir: libs })
}

/// The cache dir of one Kafka version.
pub fn cache_dir(version: &str) -> PathBuf {
    cache_root().join(format!("kafka-{version}"))
}

/// Returns the cached jars of `version`, fetching them from Maven Central first if needed.
pub fn fetch(version: &str) -> Result<KafkaDist> {
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(Error::Usage(format!("`{version}` is not a Kafka version (expected something like 4.4.0)")));
    }
    let dir = cache_dir(version);
    let libs = dir.join("libs");
    if dir.join(COMPLETE_MARKER).is_file() && libs.is_dir() {
        return Ok(KafkaDist { version: version.to_string(), libs_dir: libs });
    }
    let mvn = std::env::var_os("MVN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("mvn"));
    if Command::new(&mvn).arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Err(Error::NoKafkaSource { version: version.to_string(), cache: dir });
    }
    std::fs::create_dir_all(&dir).map_err(|source| Error::DirNotWritable { dir: dir.clone(), source })?;
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, KAFKA_POM).map_err(|source| Error::DirNotWritable { dir: dir.clone(), source })?;
    // Fetch into a fresh directory and rename it into place, so a failed or concurrent fetch
    // never leaves a partial classpath behind.
    let staging = dir.join(format!("libs.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    tracing::info!(version, dir = %dir.display(), "fetching Kafka jars from Maven Central");
    eprintln!("fetching Kafka {version} jars from Maven Central into {} (once)...", dir.display());
    let out = Command::new(&mvn)
        .args(["-B", "-q", "-f"])
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg("-DincludeScope=runtime")
        .arg(format!("-Dkafka.version={version}"))
        .arg(format!("-DoutputDirectory={}", staging.display()))
        .output()
        .map_err(Error::io("running mvn"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        return Err(Error::FetchFailed {
            version: version.to_string(),
            status: out.status.to_string(),
            output: tail_lines(&text, 15),
        });
    }
    let _ = std::fs::remove_dir_all(&libs);
    std::fs::rename(&staging, &libs).map_err(Error::io(format!("moving jars into {}", libs.display())))?;
    std::fs::write(dir.join(COMPLETE_MARKER), version).map_err(Error::io("marking the jar cache complete"))?;
    Ok(KafkaDist { version: version.to_string(), libs_dir: libs })
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_major_versions() {
        assert_eq!(java_major("openjdk version \"17.0.15\" 2025-04-15"), Some(17));
        assert_eq!(java_major("java version \"1.8.0_402\""), Some(8));
        assert_eq!(java_major("openjdk version \"25\" 2025-09-16"), Some(25));
        assert_eq!(java_major("openjdk version \"21-ea\""), Some(21));
        assert_eq!(java_major("garbage"), None);
    }

    #[test]
    fn kafka_home_version_comes_from_the_core_jar() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("libs")).unwrap();
        assert!(matches!(from_kafka_home(home.path()), Err(Error::BadKafkaHome { .. })));
        std::fs::write(home.path().join("libs/kafka_2.13-4.1.1.jar"), b"").unwrap();
        let d = from_kafka_home(home.path()).unwrap();
        assert_eq!(d.version, "4.1.1");
        assert_eq!(d.libs_dir, home.path().join("libs"));
    }

    #[test]
    fn tail_takes_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
    }
}
