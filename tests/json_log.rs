//! The JSON log of IP tables: the original's format, extended safely.

mod common;

use common::temp_dir;
use geotracker::append_run;
use geotracker::NatEntry;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn rows() -> Vec<NatEntry> {
    vec![
        NatEntry {
            private: "127.0.0.1:40000".parse().unwrap(),
            public: "117.222.175.180:40000".parse().unwrap(),
        },
        NatEntry {
            private: "127.0.0.1:40002".parse().unwrap(),
            public: "117.222.175.181:40002".parse().unwrap(),
        },
    ]
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_original_sample_json_is_extended_to_ip_login_24() {
    let original = fs::read_to_string("tests/fixtures/sample.json").unwrap();
    let dir = temp_dir("sample");
    let path = dir.join("sample.json");
    fs::write(&path, &original).unwrap();

    let done = append_run(&path, &rows()).unwrap();
    assert_eq!(done.key, "IP-Login-24");
    assert_eq!(done.moved_aside, None);

    // Byte for byte: the original file with count 24 and one more run at the end.
    let expected = original
        .trim_end()
        .replacen("{\"count\": 23,", "{\"count\": 24,", 1)
        .strip_suffix('}')
        .unwrap()
        .to_string()
        + ", \"IP-Login-24\": [{\"Index\": 1, \"IP No.\": [[\"127.0.0.1\", 40000], \
           [\"117.222.175.180\", 40000]]}, {\"Index\": 2, \"IP No.\": [[\"127.0.0.1\", 40002], \
           [\"117.222.175.181\", 40002]]}]}";
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn a_missing_log_is_created_and_two_runs_give_two_entries() {
    let dir = temp_dir("missing");
    let path = dir.join("new.json");
    assert_eq!(append_run(&path, &rows()).unwrap().key, "IP-Login-1");
    assert_eq!(
        append_run::<NatEntry>(&path, &[]).unwrap().key,
        "IP-Login-2"
    );
    let log = read_json(&path);
    assert_eq!(log["count"], 2);
    assert_eq!(log["IP-Login-1"].as_array().unwrap().len(), 2);
    assert_eq!(log["IP-Login-1"][1]["Index"], 2);
    assert_eq!(log["IP-Login-2"], Value::Array(vec![]));
    let keys: Vec<&String> = log.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["count", "IP-Login-1", "IP-Login-2"]);
}

#[test]
fn a_corrupt_log_is_kept_aside_and_a_new_one_started() {
    for (i, corrupt) in [
        "{\"count\": 3, \"IP-Lo",
        "[1, 2, 3]",
        "{\"no count\": 1}",
        "\u{0}\u{1}",
    ]
    .iter()
    .enumerate()
    {
        let dir = temp_dir(&format!("corrupt{i}"));
        let path = dir.join("log.json");
        fs::write(&path, corrupt).unwrap();
        let done = append_run(&path, &rows()).unwrap();
        let aside = done.moved_aside.expect("the corrupt file is moved aside");
        assert_eq!(
            fs::read_to_string(&aside).unwrap(),
            *corrupt,
            "kept byte for byte"
        );
        assert!(aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("log.json.corrupt-"));
        assert_eq!(done.key, "IP-Login-1");
        assert_eq!(read_json(&path)["count"], 1);
    }
}

#[test]
fn a_run_never_overwrites_an_existing_run() {
    // count says 1, but IP-Login-2 exists already (written by hand, say): it is kept.
    let dir = temp_dir("clash");
    let path = dir.join("log.json");
    fs::write(
        &path,
        r#"{"count": 1, "IP-Login-1": [], "IP-Login-2": ["keep me"]}"#,
    )
    .unwrap();
    assert_eq!(append_run(&path, &rows()).unwrap().key, "IP-Login-3");
    let log = read_json(&path);
    assert_eq!(log["IP-Login-2"][0], "keep me");
    assert_eq!(log["count"], 3);
}

/// Defect of the original: `open('sample.json', 'w')` emptied the file before writing it, so a
/// failure in between lost every earlier run. Here a failure leaves the old file as it was.
#[test]
fn a_failed_dump_leaves_the_previous_log_intact() {
    let dir = temp_dir("failed");
    let path = dir.join("log.json");
    append_run(&path, &rows()).unwrap();
    let before = fs::read(&path).unwrap();
    // Make the temporary file impossible to create: a folder already has its name.
    let tmp = dir.join(format!(".log.json.tmp-{}", std::process::id()));
    fs::create_dir(&tmp).unwrap();
    let err = append_run(&path, &rows()).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before, "the old log is untouched");
    fs::remove_dir(&tmp).unwrap();
    assert_eq!(append_run(&path, &rows()).unwrap().key, "IP-Login-2");
}

#[cfg(unix)]
#[test]
fn the_log_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let path = dir.join("log.json");
    append_run(&path, &rows()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// What the log will need at Ctrl-C is checked at start-up: an old file that is not a log is
/// moved aside then, not when the run is written (and a folder that cannot hold the log stops
/// the program before it serves anyone: `command_lines.rs`).
#[test]
fn a_file_that_is_not_a_log_is_moved_aside_at_start_up() {
    let dir = temp_dir("aside-at-start");
    let path = dir.join("server.json");
    fs::write(&path, "not a log").unwrap();
    let log = geotracker::LogFile::At(path.clone());
    let (server, shutdown) = common::start_server_with(|c| c.log = log);
    assert!(
        !path.exists(),
        "moved aside before the server served anyone"
    );
    let aside: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        aside
            .iter()
            .any(|n| n.to_string_lossy().starts_with("server.json.corrupt-")),
        "{aside:?}"
    );
    shutdown.request();
    assert_eq!(
        server.join().unwrap().log.unwrap().unwrap().key,
        "IP-Login-1"
    );
}
