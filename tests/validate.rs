//! `aftershock validate` end to end: the shipped scenarios pass, every broken fixture fails with
//! exit code 2 and exactly the expected diagnostics, and the shipped scenarios match the JSON
//! Schema editors use.

use std::path::{Path, PathBuf};
use std::process::Command;

const INVALID_DIR: &str = "tests/fixtures/scenarios/invalid";

/// Runs the built binary from the crate root, so that paths print as given here.
fn validate(files: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .arg("validate")
        .args(files)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run aftershock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn shipped() -> Vec<String> {
    json_files("scenarios").iter().map(|p| format!("scenarios/{}", p.file_name().unwrap().to_string_lossy())).collect()
}

/// One expected diagnostic: the `LINE:COL: PATH:` after the file name, and words the message
/// must contain.
type Line = (&'static str, &'static [&'static str]);

/// Each invalid fixture with every diagnostic it must produce, in order.
const EXPECTED: &[(&str, &[Line])] = &[
    (
        "acks-all-below-min-isr.json",
        &[(
            "4:68: topics[0].replication_factor:",
            &["replication factor 1 is below min.insync.replicas 2", "acks=all"],
        )],
    ),
    ("array-entry.json", &[("6:14: phases[0]:", &["invalid type: array", "phase object"])]),
    (
        "bad-distributions.json",
        &[
            ("6:119: producers[0].message_size.normal.min:", &["min 2KiB is above the mean 1KiB"]),
            ("7:77: producers[1].message_size.uniform.max:", &["required field missing", "largest size"]),
            ("7:134: producers[1].keys.round_robin.count:", &["1 or more", "-3"]),
            ("8:66: producers[2].message_size.gaussian:", &["unknown kind `gaussian`", "`uniform`", "`normal`"]),
            ("8:92: producers[2].keys:", &["`zipf` needs settings", "{\"zipf\": {...}}"]),
            ("9:57: producers[3].ramp:", &["ramp needs a numeric rate", "max"]),
            ("9:110: producers[3].keys.zipf.exponent:", &["above 0", "-1"]),
        ],
    ),
    (
        "bad-duration.json",
        &[
            ("5:70: producers[0].linger:", &["`5 msecs` is not a duration", "30s"]),
            ("7:37: phases[0].duration:", &["`30` has no unit", "\"30s\""]),
            ("8:37: phases[1].duration:", &["`2 fortnights` is not a duration"]),
            ("9:35: phases[2].duration:", &["longer than 0s"]),
            ("11:12: drain:", &["`soon` is not a duration"]),
        ],
    ),
    ("bad-json.json", &[("6:5: $:", &["invalid JSON", "expected `,` or `]`"])]),
    (
        "bad-size.json",
        &[
            ("6:67: producers[0].message_size:", &["`1KiBB` is not a size", "1KiB"]),
            ("7:67: producers[1].message_size:", &["8B is out of range", "32B", "16MiB"]),
            ("8:67: producers[2].message_size:", &["32MiB is out of range"]),
            ("8:90: producers[2].batch_size:", &["batch_size 0B is out of range"]),
        ],
    ),
    ("duplicate-key.json", &[("5:60: producers[0].rate:", &["duplicate key"])]),
    (
        "fault-never-fires.json",
        &[
            (
                "13:56: faults[0].offset:",
                &[
                    "the fault would start at 505s, after its phase `steady` ends at 25s",
                    "an offset shorter than the phase (20s)",
                ],
            ),
            (
                "14:39: faults[1].at:",
                &["the fault would start at 30s, after the load stops at 25s", "expected a time before 25s"],
            ),
            (
                "15:67: faults[2].times:",
                &["occurrence 4 of 4 would start at 29s, after the load stops at 25s", "expected times at most 3"],
            ),
            // Warnings come out among the errors, so that one pass fixes the file.
            (
                "16:91: warning: faults[3].duration:",
                &["would end at 80s", "undoes the fault when the drain ends", "about 30s"],
            ),
            ("17:56: faults[4].action:", &["unknown action `explode`"]),
        ],
    ),
    (
        "duplicate-names.json",
        &[
            ("4:58: topics[1].name:", &["duplicate topic name \"t\"", "topics[0]"]),
            ("7:15: producers[1].name:", &["duplicate producer name \"p\"", "producers[0]"]),
            ("11:43: consumers[1].group:", &["group \"g\" is also used by consumers[0]"]),
            ("15:15: phases[1].name:", &["duplicate phase name \"steady\"", "phases[0]"]),
        ],
    ),
    ("empty.json", &[("1:1: $:", &["invalid JSON", "EOF"])]),
    (
        "existing-without-bootstrap.json",
        &[
            ("3:28: cluster.existing.bootstrap:", &["required field missing", "bootstrap servers"]),
            ("5:60: consumers[0].group:", &["empty group id"]),
            ("6:13: phases:", &["every phase is unmeasured"]),
        ],
    ),
    (
        "idempotence-acks.json",
        &[("5:88: producers[0].idempotence:", &["idempotence needs acks \"all\"", "acks is \"1\""])],
    ),
    (
        "many-problems.json",
        &[
            ("2:11: name:", &["\"many problems\"", "letters, digits"]),
            ("3:11: seed:", &["-1", "non-negative integer"]),
            ("4:36: cluster.local.nodes:", &["between 1 and 64", "got 0"]),
            ("6:39: topics[0].partitions:", &["1 or more", "got 0"]),
            ("12:15: producers[0].rate:", &["`fast` is not a rate"]),
            ("13:15: producers[0].acks:", &["acks must be \"all\"", "got 2"]),
            ("14:22: producers[0].compression:", &["unknown compression \"brotli\"", "zstd"]),
            ("15:36: producers[0].keys.zipf.count:", &["1 or more", "got 0"]),
            ("15:51: producers[0].keys.zipf.exponent:", &["above 0", "got 0"]),
            ("16:45: producers[0].message_size.uniform.min:", &["min 4KiB is above max 1KiB"]),
            ("19:41: consumers[0].topic:", &["\"payments\" is not declared"]),
            ("19:66: consumers[0].instances:", &["between 1 and 1024", "got 0"]),
            ("19:78: consumers[0].start:", &["unknown kind `middle`", "`earliest`", "`latest`"]),
            ("20:13: phases:", &["at least one phase"]),
            ("21:12: drain:", &["longer than 0s"]),
        ],
    ),
    (
        "missing-required.json",
        &[
            ("1:1: name:", &["required field missing", "name"]),
            ("1:1: cluster:", &["required field missing", "local", "existing"]),
            ("1:1: phases:", &["required field missing", "phases"]),
            ("3:19: producers[0].topic:", &["required field missing", "topic"]),
            ("3:19: producers[0].rate:", &["required field missing", "rate"]),
        ],
    ),
    (
        "nulls-and-empty-kinds.json",
        &[
            ("3:14: cluster:", &["exactly one key", "{\"local\": {...}}"]),
            ("4:61: topics[0].config.a:", &["invalid type: null"]),
            ("5:67: producers[0].keys:", &["exactly one key", "{\"zipf\": {...}}"]),
            ("5:87: producers[0].message_size:", &["invalid type: null"]),
            ("5:101: producers[0].acks:", &["invalid type: array"]),
            ("6:16: consumers:", &["invalid type: null"]),
            ("7:58: phases[0].measured:", &["invalid type: null"]),
        ],
    ),
    ("negative-rate.json", &[("5:54: producers[0].rate:", &["above 0", "-100"])]),
    ("not-an-object.json", &[("1:1: $:", &["invalid type: array", "scenario object"])]),
    ("rf-above-nodes.json", &[("4:68: topics[0].replication_factor:", &["replication_factor 5", "3 nodes"])]),
    (
        "secrets-and-reserved-settings.json",
        &[
            ("8:26: cluster.existing.client_config[\"sasl.password\"]:", &["is a secret", "{\"env\""]),
            ("9:9: cluster.existing.client_config[\"bootstrap.servers\"]:", &["set from `bootstrap`"]),
            (
                "10:38: cluster.existing.client_config[\"ssl.key.password\"].env:",
                &["\"1BAD\"", "environment variable name"],
            ),
            ("11:36: cluster.existing.client_config[\"sasl.username\"].file:", &["empty file path"]),
            ("17:60: producers[0].config.acks:", &["own field", "`acks`"]),
            ("17:75: producers[0].config[\"lingerr.ms\"]:", &["librdkafka has no setting `lingerr.ms`"]),
            ("17:92: producers[0].config[\"linger.ms\"]:", &["own field", "`linger`"]),
            ("17:108: producers[0].config[\"sasl.password\"]:", &["is a secret", "never as plain text"]),
            ("19:58: consumers[0].config[\"group.id\"]:", &["own field", "`group`"]),
            ("19:75: consumers[0].config[\"fetch.wait.max.ms\"]:", &["librdkafka refuses it", "fetch.wait.max.ms"]),
        ],
    ),
    (
        "unknown-field.json",
        &[
            ("3:39: cluster.local.version:", &["unknown field `version`", "`kafka_version`"]),
            ("5:46: producers[0].ratee:", &["unknown field `ratee`", "did you mean `rate`?"]),
            ("7:3: drains:", &["unknown field `drains`", "did you mean `drain`?"]),
        ],
    ),
    (
        "unknown-topic.json",
        &[("6:41: consumers[0].topic:", &["\"ordres\" is not declared in topics", "did you mean \"orders\"?"])],
    ),
    (
        "wrong-type.json",
        &[
            ("3:36: cluster.local.nodes:", &["invalid type: string \"3\"", "expected an integer"]),
            ("4:43: topics[0].partitions:", &["invalid type: string \"six\"", "expected an integer"]),
            ("4:59: topics[0].reuse:", &["invalid type: string \"yes\"", "expected a boolean"]),
            ("5:73: producers[0].instances:", &["invalid type: number `1.5`", "expected an integer"]),
            ("6:46: phases[0].duration:", &["invalid type: integer `10`", "expected a duration"]),
        ],
    ),
];

#[test]
fn shipped_scenarios_are_valid() {
    let files = shipped();
    for name in ["quickstart", "capacity-steady", "producer-options", "consumer-options", "existing-cluster-sasl"] {
        assert!(files.contains(&format!("scenarios/{name}.json")), "scenarios/{name}.json is shipped");
    }
    for f in &files {
        let (code, stdout, stderr) = validate(&[f]);
        assert_eq!((code, stderr.as_str()), (0, ""), "{f}");
        assert_eq!(stdout, format!("{f}: ok\n"));
    }
}

#[test]
fn every_invalid_fixture_fails_with_every_expected_problem() {
    for (file, expected) in EXPECTED {
        let path = format!("{INVALID_DIR}/{file}");
        let (code, stdout, stderr) = validate(&[&path]);
        assert_eq!(code, 2, "{path}: exit code; stderr:\n{stderr}");
        assert_eq!(stdout, "", "{path}: nothing on stdout");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{path}: one line per problem, got:\n{stderr}");
        for (line, (prefix, words)) in lines.iter().zip(expected.iter()) {
            let prefix = format!("{path}:{prefix} ");
            assert!(line.starts_with(&prefix), "{path}: expected a line starting with\n  {prefix}\ngot\n  {line}");
            for w in *words {
                assert!(line.contains(w), "{path}: expected {w:?} in\n  {line}");
            }
        }
    }
}

#[test]
fn every_invalid_fixture_has_expectations() {
    let files = json_files(INVALID_DIR);
    assert!(files.len() >= 10);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(EXPECTED.iter().any(|(e, _)| *e == name), "{name} has no entry in EXPECTED");
    }
}

#[test]
fn several_files_are_each_reported() {
    let bad = format!("{INVALID_DIR}/negative-rate.json");
    let (code, stdout, stderr) = validate(&["scenarios/quickstart.json", &bad, "does/not/exist.json"]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "scenarios/quickstart.json: ok\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with(&format!("{bad}:5:54: producers[0].rate: ")));
    assert!(lines[1].starts_with("does/not/exist.json:1:1: $: cannot read the file"), "{}", lines[1]);
}

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/scenario.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("the schema is not a valid JSON Schema: {e}"));
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::validator_for(&schema).unwrap()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn shipped_scenarios_match_the_schema_and_load() {
    let v = schema();
    let k8s = Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/scenario.json");
    for path in json_files("scenarios").into_iter().chain([k8s]) {
        let doc = read_json(&path);
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{}:\n{}", path.display(), errors.join("\n"));
        aftershock::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_schema_refuses_what_it_can_see() {
    let v = schema();
    for file in [
        "array-entry.json",
        "bad-distributions.json",
        "bad-duration.json",
        "bad-size.json",
        "many-problems.json",
        "missing-required.json",
        "negative-rate.json",
        "not-an-object.json",
        "nulls-and-empty-kinds.json",
        "unknown-field.json",
        "wrong-type.json",
    ] {
        let doc = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join(INVALID_DIR).join(file));
        assert!(!v.is_valid(&doc), "the schema accepts {file}");
    }
}

#[test]
fn every_invalid_fixture_is_refused_by_load() {
    for path in json_files(INVALID_DIR) {
        let e = aftershock::scenario::load(&path).expect_err(&path.display().to_string());
        assert!(!e.is_empty());
    }
}

#[test]
fn a_fault_window_that_outlasts_the_load_is_a_located_warning_and_still_ok() {
    let path = "tests/fixtures/scenarios/warning/fault-outlasts-load.json";
    let (code, stdout, stderr) = validate(&[path]);
    assert_eq!(code, 0, "warnings leave the exit code at 0; stderr:\n{stderr}");
    assert_eq!(stdout, format!("{path}: ok\n"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per warning, got:\n{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:13:119: warning: faults[0].duration: the fault window ends at 27s, 2s after the load stops at 25s"
        )),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("is undone when its window ends"), "{}", lines[0]);
    assert!(
        lines[1].starts_with(&format!("{path}:14:97: warning: faults[1].duration: the fault window would end at 80s, after the load stops at 25s and the drain (5s)")),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("undoes the fault when the drain ends"), "{}", lines[1]);
    assert!(lines[1].contains("(about 30s), so the fault is on for about 10s of its 1m"), "{}", lines[1]);
    // The library hands the same warnings to `run` and `capacity`, which print them too.
    let s = aftershock::scenario::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(path).as_path()).unwrap();
    assert_eq!(s.warnings.len(), 2);
    assert!(s.warnings.iter().all(|w| w.severity == aftershock::scenario::Severity::Warning));
}

#[test]
fn a_scenario_file_over_16_mib_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("aftershock-validate-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Sparse: 200 MB of nothing on disk, so that the test is fast and reading it whole would show.
    let big = dir.join("big.json");
    std::fs::File::create(&big).unwrap().set_len(200_000_000).unwrap();
    // Exactly at the limit is still read (and then refused for what it holds).
    let at_limit = dir.join("at-limit.json");
    std::fs::File::create(&at_limit).unwrap().set_len(aftershock::scenario::MAX_FILE_SIZE).unwrap();
    let (big_s, limit_s) = (big.display().to_string(), at_limit.display().to_string());

    let started = std::time::Instant::now();
    let (code, stdout, stderr) = validate(&[&big_s]);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "{big_s}:1:1: $: the file is 200000000 bytes (190.7 MiB), over the limit of 16MiB for a scenario file (a scenario is a few KiB of JSON): is this the right file?\n"
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "refused from its size, not read");

    let (code, _, stderr) = validate(&[&limit_s]);
    assert_eq!(code, 2);
    assert!(!stderr.contains("over the limit"), "{stderr}");
    assert!(stderr.contains("invalid JSON"), "{stderr}");

    // `run` refuses it the same way, before anything else.
    let out = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["run", "--dry-run", &big_s])
        .output()
        .expect("run aftershock");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the limit of 16MiB"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pipe_is_read_no_further_than_the_limit() {
    use std::io::Write as _;
    // `/dev/stdin` has no size up front: the reader stops one byte past the limit.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["validate", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run aftershock");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let block = vec![b' '; 1 << 20];
        // 20 MiB of spaces; the writes past what is read fail once aftershock closes the pipe.
        for _ in 0..20 {
            if stdin.write_all(&block).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "/dev/stdin:1:1: $: the file is more than 16777216 bytes (it was read up to there), over the limit of 16MiB"
        ),
        "{stderr}"
    );
}
