//! JSON written byte for byte as Python's `json.dump` writes it: `", "` between items, `": "`
//! after keys, and every non-ASCII character escaped as `\uXXXX`. So a log the original wrote
//! is extended with runs that look as if the original had written them, and tests compare
//! bytes, not values.

use serde::Serialize;
use std::io::{self, Write};

/// `value` as Python's `json.dumps` writes it.
pub(crate) fn to_vec(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        PythonFormatter,
    ))?;
    Ok(out)
}

/// serde_json's output with Python's separators (`", "`, `": "`) and only ASCII characters.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"" } else { b", " })
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"" } else { b", " })
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        // ASCII runs are written whole; any other character as one or two \uXXXX escapes.
        let mut ascii_from = 0;
        for (at, c) in s.char_indices().filter(|(_, c)| !c.is_ascii()) {
            w.write_all(&s.as_bytes()[ascii_from..at])?;
            for unit in c.encode_utf16(&mut [0; 2]) {
                write!(w, "\\u{unit:04x}")?;
            }
            ascii_from = at + c.len_utf8();
        }
        w.write_all(&s.as_bytes()[ascii_from..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_json(value: &impl Serialize) -> String {
        String::from_utf8(to_vec(value).unwrap()).unwrap()
    }

    #[test]
    fn python_separators_and_ascii_escapes() {
        let v: serde_json::Value = serde_json::from_str(r#"{"count":1,"a":[1,2,"é😀"]}"#).unwrap();
        assert_eq!(
            python_json(&v),
            r#"{"count": 1, "a": [1, 2, "\u00e9\ud83d\ude00"]}"#
        );
    }

    #[test]
    fn python_would_write_the_original_sample_json_with_the_same_bytes() {
        let original = include_str!("../../tests/fixtures/sample.json");
        let value: serde_json::Value = serde_json::from_str(original).unwrap();
        assert_eq!(python_json(&value), original.trim_end());
    }
}
