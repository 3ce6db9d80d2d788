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

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::{Map, Value};
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
    let (mut log, moved_aside) = match fs::read(path).map(|bytes| parse_log(&bytes)) {
        Ok(Some(log)) => (log, None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (new_log(), None),
        // Not a log, or unreadable (no permission, a folder, ...): keep it aside, start anew.
        _ => {
            let aside = move_aside(path).map_err(|e| err("move aside", e))?;
            (new_log(), Some(aside))
        }
    };

    let run = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut entry = Map::new();
            entry.insert("Index".into(), Value::from(i + 1));
            entry.insert("IP No.".into(), serde_json::to_value(row)?);
            Ok(Value::Object(entry))
        })
        .collect::<Result<Vec<Value>, serde_json::Error>>()
        .map_err(|e| err("encode", io::Error::other(e)))?;

    // count + 1, or further on if a run with that number is already there: never overwrite.
    let mut count = log.get("count").and_then(Value::as_u64).unwrap_or(0) + 1;
    while log.contains_key(&run_key(count)) {
        count += 1;
    }
    let key = run_key(count);
    log.insert("count".into(), Value::from(count));
    log.insert(key.clone(), Value::Array(run));

    let bytes = to_python_json(&Value::Object(log)).map_err(|e| err("encode", e))?;
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

fn new_log() -> Map<String, Value> {
    let mut log = Map::new();
    log.insert("count".into(), Value::from(0));
    log
}

/// The log in `bytes`, or `None` if it is not one: not JSON, not an object, or without a
/// whole-number `count`.
fn parse_log(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(log)) if log.get("count").and_then(Value::as_u64).is_some() => Some(log),
        _ => None,
    }
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
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
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
