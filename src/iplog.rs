//! The JSON log of IP tables, in the original's `sample.json` format.
//!
//! Each time a router or server stops it appends its IP table as a new run:
//!
//! ```json
//! {"count": 2, "IP-Login-1": [{"Index": 1, "IP No.": [["127.0.0.1", 46516], ["115.97.93.214", 46516]]}], "IP-Login-2": []}
//! ```
//!
//! `count` is the number of runs and the new run is stored under `"IP-Login-<count>"`. The file
//! is written exactly as Python's `json.dump` writes it (`", "` and `": "` separators, non-ASCII
//! escaped), so the original's own logs are read, extended and written back unchanged.
//!
//! The original opened the file with `open(..., 'w')`, which empties it at once, and then wrote
//! the new contents: a crash or a full disk in between lost every earlier run. Here the new
//! contents go to a temporary file in the same directory, which is flushed to disk and then
//! renamed over the old one. A rename within a directory is atomic, so at every moment the file
//! holds either all of the old runs or all of the new ones.
//!
//! A file that cannot be read as a log is never overwritten: it is renamed to
//! `<name>.corrupt-<seconds since 1970>` and a new log is started, and the caller is told.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::ser::Formatter;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a router or server writes its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    /// Write no log.
    None,
    /// Write this file.
    At(PathBuf),
    /// Write the program's default file name (which may depend on its port) in this folder.
    DefaultIn(PathBuf),
}

impl LogFile {
    /// The file to write, given the default file name.
    pub fn path(&self, default_name: &str) -> Option<PathBuf> {
        match self {
            LogFile::None => None,
            LogFile::At(path) => Some(path.clone()),
            LogFile::DefaultIn(dir) => Some(dir.join(default_name)),
        }
    }
}

/// What [`append_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The key of the new run, e.g. `"IP-Login-24"`.
    pub key: String,
    /// How many rows the new run holds.
    pub rows: usize,
    /// Where an unreadable old file was moved before a new log was started.
    pub moved_aside: Option<PathBuf>,
}

/// Why the log could not be written. The old file, if any, is unchanged.
#[derive(Debug)]
pub struct LogError {
    /// The log file.
    pub path: PathBuf,
    /// What was being done.
    pub action: &'static str,
    /// The error.
    pub source: io::Error,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Appends `rows` to the log at `path` as a new `"IP-Login-N"` run; see the module doc.
pub fn append_run<E: Serialize>(path: &Path, rows: &[E]) -> Result<Appended, LogError> {
    let err = |action, source| LogError {
        path: path.to_path_buf(),
        action,
        source,
    };
    let (log, moved_aside) = match fs::read(path).map(|bytes| parse_log(&bytes)) {
        Ok(Some(log)) => (log, None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (RawLog::default(), None),
        // Not a log, or unreadable (no permission, a folder, ...): keep it aside, start anew.
        _ => {
            let aside = move_aside(path).map_err(|e| err("move aside", e))?;
            (RawLog::default(), Some(aside))
        }
    };

    // count + 1, or further on if a run with that number is already there: never overwrite.
    let mut count = log.count + 1;
    while log.runs.iter().any(|(key, _)| *key == run_key(count)) {
        count += 1;
    }
    let key = run_key(count);
    let new = NewLog {
        count,
        earlier: &log.runs,
        key: &key,
        rows,
    };
    let mut bytes = Vec::new();
    new.serialize(&mut serde_json::Serializer::with_formatter(
        &mut bytes,
        PythonFormatter,
    ))
    .map_err(|e| err("encode", io::Error::other(e)))?;
    write_atomically(path, &bytes).map_err(|e| err("write", e))?;
    Ok(Appended {
        key,
        rows: rows.len(),
        moved_aside,
    })
}

/// `"IP-Login-<n>"`.
pub fn run_key(n: u64) -> String {
    format!("IP-Login-{n}")
}

/// A log as read: its `count`, and every other entry with its JSON text exactly as it was in
/// the file, so that earlier runs are written back byte for byte and never decoded into values
/// (a log of a million rows is read and extended in a fraction of the time).
#[derive(Default)]
struct RawLog {
    count: u64,
    runs: Vec<(String, Box<RawValue>)>,
}

impl<'de> Deserialize<'de> for RawLog {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawLog, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = RawLog;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with a whole-number \"count\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLog, A::Error> {
                let mut count = None;
                let mut runs = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "count" {
                        count = Some(map.next_value::<u64>()?);
                    } else {
                        runs.push((key, map.next_value::<Box<RawValue>>()?));
                    }
                }
                let count = count.ok_or_else(|| de::Error::missing_field("count"))?;
                Ok(RawLog { count, runs })
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The log in `bytes`, or `None` if it is not one: not JSON, not an object, or without a
/// whole-number `count`.
fn parse_log(bytes: &[u8]) -> Option<RawLog> {
    serde_json::from_slice(bytes).ok()
}

/// The log to write: `count`, the earlier entries as they were, and the new run.
struct NewLog<'a, E> {
    count: u64,
    earlier: &'a [(String, Box<RawValue>)],
    key: &'a str,
    rows: &'a [E],
}

impl<E: Serialize> Serialize for NewLog<'_, E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.earlier.len() + 2))?;
        map.serialize_entry("count", &self.count)?;
        for (key, run) in self.earlier {
            map.serialize_entry(key, run)?;
        }
        map.serialize_entry(self.key, &Run(self.rows))?;
        map.end()
    }
}

/// A run: `[{"Index": 1, "IP No.": row}, ...]`, written straight from the rows.
struct Run<'a, E>(&'a [E]);

impl<E: Serialize> Serialize for Run<'_, E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (i, row) in self.0.iter().enumerate() {
            seq.serialize_element(&RunRow {
                index: i + 1,
                ip: row,
            })?;
        }
        seq.end()
    }
}

/// One row of a run, with the original's key names.
#[derive(Serialize)]
struct RunRow<'a, E> {
    #[serde(rename = "Index")]
    index: usize,
    #[serde(rename = "IP No.")]
    ip: &'a E,
}

/// Renames `path` to a free `<path>.corrupt-<secs>[-n]` name and returns it.
fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{secs}"));
    let mut aside = PathBuf::from(&name);
    let mut n = 1;
    while aside.exists() {
        let mut numbered = name.clone();
        numbered.push(format!("-{n}"));
        aside = PathBuf::from(numbered);
        n += 1;
    }
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// Replaces the file at `path` with `bytes` so that a crash at any moment leaves either the
/// old file or the new one, never a mix or an empty file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the log path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(bytes)?;
        // The data must be on disk before the rename makes it the log.
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a new file readable and writable by its owner only: the log holds client addresses.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Flushes the directory entry of the rename to disk (Unix; elsewhere the rename is enough).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// `value` as Python's `json.dumps` writes it: `", "` between items, `": "` after keys, and
/// every non-ASCII character escaped as `\uXXXX`.
pub fn to_python_json(value: &Value) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    Ok(out)
}

/// A `serde_json` formatter with Python's default separators and ASCII-only output.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // ASCII runs are written whole; each other character as one or two \\uXXXX escapes.
        let mut ascii_from = 0;
        for (at, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[ascii_from..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            ascii_from = at + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[ascii_from..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_separators_and_ascii_escapes() {
        let v: Value = serde_json::from_str(r#"{"count":1,"a":[1,2,"é😀"]}"#).unwrap();
        assert_eq!(
            String::from_utf8(to_python_json(&v).unwrap()).unwrap(),
            r#"{"count": 1, "a": [1, 2, "\u00e9\ud83d\ude00"]}"#
        );
    }

    #[test]
    fn only_objects_with_a_count_are_logs() {
        assert!(parse_log(b"{\"count\": 3}").is_some());
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"count\": -1}",
            b"{\"count\": \"3\"}",
            b"{\"cou",
        ] {
            assert!(
                parse_log(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
