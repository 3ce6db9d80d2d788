//! The JSON log of IP tables, in the original's `sample.json` format.
//!
//! Each time a router or server stops it appends its IP table as a new run, `count` being the
//! number of runs and the new run `"IP-Login-<count>"`:
//!
//! ```json
//! {"count": 2, "IP-Login-1": [{"Index": 1, "IP No.": [["127.0.0.1", 46516], ["115.97.93.214", 46516]]}], "IP-Login-2": []}
//! ```
//!
//! It is written as Python's `json.dump` wrote it (`extras/python_json.rs`), so the original's
//! logs are extended unchanged. The original's `open(..., 'w')` emptied the file before writing
//! it: a crash or a full disk in between lost every earlier run. Here the new contents go to a
//! temporary file, flushed to disk and renamed over the log; a rename is atomic, so the file
//! holds all the old runs or all the new ones. A file that is not a log is kept aside.

use crate::extras::python_json;
use serde::{ser::SerializeMap, ser::Serializer, Serialize};
use serde_json::value::RawValue;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::{collections::BTreeMap, time::SystemTime};

/// What [`append_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The new run's key, e.g. `"IP-Login-24"`.
    pub key: String,
    /// How many rows it holds.
    pub rows: usize,
    /// Where an old file that was not a log was moved before a new log was started.
    pub moved_aside: Option<PathBuf>,
}

/// Appends `rows` to the log at `path` as a new `"IP-Login-N"` run. After an error the old
/// file is as it was, and the error names the file.
///
/// The lock beside the log (`lock_beside`) is held throughout. The old file is read with
/// `read_old_log`; one that is not a log is moved aside (`move_aside`) and a new log begun.
/// The new run's number comes from `OldLog::next_count`, and the whole new log (`NewLog`,
/// encoded by `python_json::to_vec`) replaces the old one with `write_atomically`.
pub fn append_run<R: Serialize>(path: &Path, rows: &[R]) -> io::Result<Appended> {
    // [part 7: iplog::append_run]
    let failed = |doing: &str, e: io::Error| {
        io::Error::new(e.kind(), format!("cannot {doing} {}: {e}", path.display()))
    };
    // One writer at a time, threads and processes alike (two routers stopping in one folder):
    // two writers would both read the old file, and one run would be lost.
    let _writing = lock_beside(path).map_err(|e| failed("lock", e))?;
    let (old, moved_aside) = match read_old_log(path) {
        OldFile::Log(old) => (old, None),
        OldFile::None => (OldLog::default(), None),
        // Not a log, or unreadable (a folder, no permission): keep it aside and start anew.
        OldFile::NotALog => {
            let aside = move_aside(path).map_err(|e| failed("move aside", e))?;
            (OldLog::default(), Some(aside))
        }
    };
    let count = old.next_count();
    let key = format!("IP-Login-{count}");
    let new_log = NewLog {
        count,
        old_runs: &old.runs,
        key: &key,
        rows,
    };
    let bytes = python_json::to_vec(&new_log).map_err(|e| failed("encode a run for", e))?;
    write_atomically(path, &bytes).map_err(|e| failed("write", e))?;
    Ok(Appended {
        key,
        rows: rows.len(),
        moved_aside,
    })
    // [end of part 7]
}

/// Takes the lock on the file beside the log (the log itself is replaced, so it cannot carry
/// the lock), waiting for whoever holds it. It is released when the file is dropped.
fn lock_beside(path: &Path) -> io::Result<fs::File> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(path)?)?;
    lock.lock()?;
    Ok(lock)
}

/// What was at the log's path before a run was appended.
enum OldFile {
    /// A log.
    Log(OldLog),
    /// Nothing: a new log begins.
    None,
    /// A file that is not a log, or cannot be read.
    NotALog,
}

/// An entry of a log other than `count`: its key, and its value as the JSON text it was.
type Entry = (String, Box<RawValue>);

/// A log's `count` and its other entries, each as the exact JSON text it was in the file (so
/// that earlier runs are written back byte for byte without being decoded), in the order of
/// their numbers, as Python wrote them: `IP-Login-1`, `IP-Login-2`, ... (A key that is not a
/// run, put in by hand, is kept too, before the runs.)
#[derive(Default)]
pub(crate) struct OldLog {
    count: u64,
    runs: Vec<Entry>,
}

impl OldLog {
    /// The number of the next run: `count + 1`, or further on if a run with that number is
    /// there already (edited by hand, say), so that no run is ever overwritten.
    fn next_count(&self) -> u64 {
        // [part 7: OldLog::next_count]
        let taken = |n: u64| {
            self.runs
                .iter()
                .any(|(key, _)| *key == format!("IP-Login-{n}"))
        };
        (self.count + 1..)
            .find(|&n| !taken(n))
            .unwrap_or(self.count + 1)
        // [end of part 7]
    }
}

/// Reads what is at the log's path.
fn read_old_log(path: &Path) -> OldFile {
    match fs::read(path) {
        Ok(bytes) => read_log(&bytes).map_or(OldFile::NotALog, OldFile::Log),
        Err(e) if e.kind() == io::ErrorKind::NotFound => OldFile::None,
        Err(_) => OldFile::NotALog,
    }
}

/// The log in `bytes`; `None` if it is not a log (an object with a whole-number `count`).
pub(crate) fn read_log(bytes: &[u8]) -> Option<OldLog> {
    let mut entries: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(bytes).ok()?;
    let count = entries.remove("count")?.get().parse().ok()?;
    let mut runs: Vec<Entry> = entries.into_iter().collect();
    runs.sort_by_key(|(key, _)| {
        key.strip_prefix("IP-Login-")
            .and_then(|n| n.parse::<u64>().ok())
    });
    Some(OldLog { count, runs })
}

/// The log to write: `count`, the old entries as they were, then the new run, its rows written
/// straight from the table as `{"Index": 1, "IP No.": row}`.
struct NewLog<'a, R> {
    count: u64,
    old_runs: &'a [Entry],
    key: &'a str,
    rows: &'a [R],
}

impl<R: Serialize> Serialize for NewLog<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a, R> {
            #[serde(rename = "Index")]
            index: usize,
            #[serde(rename = "IP No.")]
            ip: &'a R,
        }
        struct Run<'a, R>(&'a [R]);
        impl<R: Serialize> Serialize for Run<'_, R> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((1..).zip(self.0).map(|(index, ip)| Row { index, ip }))
            }
        }
        let mut map = s.serialize_map(Some(self.old_runs.len() + 2))?;
        map.serialize_entry("count", &self.count)?;
        for (key, run) in self.old_runs {
            map.serialize_entry(key, run)?;
        }
        map.serialize_entry(self.key, &Run(self.rows))?;
        map.end()
    }
}

/// Renames `path` to a free `<path>.corrupt-<seconds>[-n]` name and returns that name.
pub(crate) fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = (0..)
        .map(|n| PathBuf::from(format!("{}.corrupt-{secs}-{n}", path.display())))
        .find(|aside| !aside.exists())
        .unwrap_or_default();
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// `.<name>.lock` beside the log at `path`.
pub(crate) fn lock_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    Ok(path.with_file_name(format!(".{}.lock", name.to_string_lossy())))
}

/// Replaces the file at `path` with `bytes`: a crash at any moment leaves the old file or the
/// new one, never a mix or an empty file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // Readable by its owner only: the log holds client addresses.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        // On disk before the rename makes it the log; and the rename itself on disk (Unix).
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_with_a_count_are_logs() {
        assert!(read_log(b"{\"count\": 3}").is_some());
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"count\": -1}",
            b"{\"count\": \"3\"}",
            b"{\"cou",
        ] {
            let bad_text = String::from_utf8_lossy(bad);
            assert!(read_log(bad).is_none(), "{bad_text}");
        }
    }
}
