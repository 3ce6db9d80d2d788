//! A small writer for the MaxMind DB format (version 2.0 of the published specification), used
//! to build the bundled sample database and the test databases. It is test code: the library
//! only reads databases, through the `maxminddb` crate, which is also what checks this writer.
//!
//! The file it writes has three parts:
//! 1. a binary search tree over the address bits, `node_count` nodes of two records each;
//! 2. sixteen zero bytes, then the data section holding every record once (repeated strings
//!    become pointers to their first copy);
//! 3. the metadata marker `\xAB\xCD\xEFMaxMind.com` and the metadata map.
//!
//! IPv4 networks are stored in an IPv6 tree under `::/96`, where readers look for them.
//!
//! The tree is written with identical subtrees stored once: a node whose two halves hold the same
//! record becomes that record, and nodes with the same two children become one node that several
//! parents point to. Readers only follow record values, so such a tree is valid MaxMind DB
//! (MaxMind's own databases point `::ffff:0:0/96` and `2002::/16` at their IPv4 subtree the same
//! way); for country data it needs less than half the nodes. Parents are numbered before their
//! children, so the root is node 0.

use std::collections::HashMap;
use std::net::IpAddr;

/// A value in the data section, with the MaxMind DB type it is written as.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// utf8_string (type 2).
    Str(String),
    /// double (type 3).
    Double(f64),
    /// float (type 15), as the ip-location-db databases store coordinates.
    Float(f32),
    /// uint16 (type 5).
    U16(u16),
    /// uint32 (type 6).
    U32(u32),
    /// uint64 (type 9).
    U64(u64),
    /// boolean (type 14).
    Bool(bool),
    /// map (type 7), keys in the order given.
    Map(Vec<(String, Value)>),
    /// array (type 11).
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }
}

/// One child of a tree node while the tree is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database in memory; [`Writer::to_bytes`] gives the file.
pub struct Writer {
    database_type: String,
    description: String,
    /// `ip_version` 4 or 6 in the metadata: the depth of the tree (32 or 128 bits).
    ip_version: u16,
    nodes: Vec<[Child; 2]>,
    data: Vec<u8>,
    /// Encoded record bytes -> offset, so that a record shared by many networks is stored once.
    records: HashMap<Vec<u8>, usize>,
    /// String -> offset of its first copy in the data section, for pointers.
    strings: HashMap<String, usize>,
}

impl Writer {
    /// A writer for a tree of `ip_version` 4 (IPv4 only) or 6 (IPv6, IPv4 under `::/96`).
    pub fn new(database_type: &str, description: &str, ip_version: u16) -> Writer {
        assert!(ip_version == 4 || ip_version == 6);
        Writer {
            database_type: database_type.to_string(),
            description: description.to_string(),
            ip_version,
            nodes: vec![[Child::Empty, Child::Empty]],
            data: Vec::new(),
            records: HashMap::new(),
            strings: HashMap::new(),
        }
    }

    /// Stores `record` for the network `addr/prefix_len`. A later, longer prefix inside an
    /// earlier network overrides that part of it; insert larger networks first.
    pub fn insert(&mut self, addr: IpAddr, prefix_len: u8, record: &Value) {
        let (bits, len) = match (addr, self.ip_version) {
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, prefix_len),
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), prefix_len + 96),
            (IpAddr::V6(v6), 6) => (u128::from(v6), prefix_len),
            (IpAddr::V6(_), _) => panic!("an IPv6 network in an IPv4 database"),
        };
        assert!(
            len >= 1,
            "the whole address space cannot be one record here"
        );
        let offset = self.store_record(record);
        let mut node = 0;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth + 1 == len {
                self.nodes[node][bit] = Child::Data(offset);
                return;
            }
            node = match self.nodes[node][bit] {
                Child::Node(next) => next,
                // Descend into a new node; a network stored here before covers both halves.
                other => {
                    let next = self.nodes.len();
                    let fill = if let Child::Data(_) = other {
                        other
                    } else {
                        Child::Empty
                    };
                    self.nodes.push([fill, fill]);
                    self.nodes[node][bit] = Child::Node(next);
                    next
                }
            };
        }
    }

    fn store_record(&mut self, record: &Value) -> usize {
        // Encode without pointers first to find an identical record already stored.
        let mut plain = Vec::new();
        encode(record, &mut plain, None);
        if let Some(&offset) = self.records.get(&plain) {
            return offset;
        }
        let offset = self.data.len();
        let mut out = std::mem::take(&mut self.data);
        encode(record, &mut out, Some(&mut self.strings));
        self.data = out;
        self.records.insert(plain, offset);
        offset
    }

    /// How many nodes the written tree has, once identical subtrees are stored once.
    pub fn node_count(&self) -> usize {
        self.shared_tree().len()
    }

    /// The tree as it is written: every node's children canonical, each distinct node once,
    /// numbered so that a parent comes before its children (the root is node 0).
    fn shared_tree(&self) -> Vec<[Child; 2]> {
        // Post-order over the tree as built: a node is replaced by its canonical form once its
        // children have theirs. Canonical ids count up, so a child's id is below its parent's.
        let mut canonical: Vec<Option<Child>> = vec![None; self.nodes.len()];
        let mut ids: HashMap<[Child; 2], usize> = HashMap::new();
        let mut shared: Vec<[Child; 2]> = Vec::new();
        let mut stack = vec![0usize];
        while let Some(&node) = stack.last() {
            let waiting: Vec<usize> = self.nodes[node]
                .iter()
                .filter_map(|child| match child {
                    Child::Node(n) if canonical[*n].is_none() => Some(*n),
                    _ => None,
                })
                .collect();
            if !waiting.is_empty() {
                stack.extend(waiting);
                continue;
            }
            stack.pop();
            let [left, right] = self.nodes[node].map(|child| match child {
                Child::Node(n) => canonical[n].expect("children come first"),
                leaf => leaf,
            });
            canonical[node] = Some(if left == right && !matches!(left, Child::Node(_)) {
                left
            } else {
                let next = shared.len();
                let id = *ids.entry([left, right]).or_insert(next);
                if id == next {
                    shared.push([left, right]);
                }
                Child::Node(id)
            });
        }
        match canonical[0] {
            // Reverse the order: the root, created last, becomes node 0, parents precede children.
            Some(Child::Node(_)) => {
                let last = shared.len() - 1;
                let flip = |child: Child| match child {
                    Child::Node(id) => Child::Node(last - id),
                    leaf => leaf,
                };
                shared
                    .iter()
                    .rev()
                    .map(|[l, r]| [flip(*l), flip(*r)])
                    .collect()
            }
            // The whole space is one record (or none): a single node with it in both halves.
            leaf => {
                let leaf = leaf.unwrap_or(Child::Empty);
                vec![[leaf, leaf]]
            }
        }
    }

    /// The whole database file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nodes = self.shared_tree();
        let node_count = nodes.len();
        let largest = node_count + 16 + self.data.len();
        let record_size: u32 = if largest < 1 << 24 {
            24
        } else if largest < 1 << 28 {
            28
        } else {
            32
        };
        let value = |child: Child| -> u32 {
            let v = match child {
                Child::Empty => node_count,
                Child::Node(n) => n,
                Child::Data(offset) => node_count + 16 + offset,
            };
            u32::try_from(v).expect("database too large")
        };
        let mut out = Vec::with_capacity(node_count * 8 + self.data.len() + 256);
        for [left, right] in &nodes {
            let (l, r) = (value(*left), value(*right));
            match record_size {
                24 => {
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                28 => {
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.push((((l >> 24) & 0x0f) << 4) as u8 | ((r >> 24) & 0x0f) as u8);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                _ => {
                    out.extend_from_slice(&l.to_be_bytes());
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let build_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(build_epoch)),
            ("database_type", Value::str(self.database_type.clone())),
            (
                "description",
                Value::map([("en", Value::str(self.description.clone()))]),
            ),
            ("ip_version", Value::U16(self.ip_version)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(node_count as u32)),
            ("record_size", Value::U16(record_size as u16)),
        ]);
        encode(&metadata, &mut out, None);
        out
    }
}

/// Writes a control byte (and the extended type byte) for `type_num` and payload `size`.
fn control(out: &mut Vec<u8>, type_num: u8, size: usize) {
    let (first_type, extended) = if type_num > 7 {
        (0u8, Some(type_num - 7))
    } else {
        (type_num, None)
    };
    let (size_bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65536 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec())
    };
    out.push((first_type << 5) | size_bits);
    if let Some(ext) = extended {
        out.push(ext);
    }
    out.extend_from_slice(&extra);
}

/// Writes an unsigned integer of type `type_num` with as few bytes as it needs.
fn unsigned(out: &mut Vec<u8>, type_num: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, type_num, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Writes a pointer to `offset` in the data section.
fn pointer(out: &mut Vec<u8>, offset: usize) {
    if offset < 2048 {
        out.push(0x20 | ((offset >> 8) as u8 & 0x07));
        out.push(offset as u8);
    } else if offset < 2048 + (1 << 19) {
        let v = offset - 2048;
        out.push(0x28 | ((v >> 16) as u8 & 0x07));
        out.extend_from_slice(&(v as u32).to_be_bytes()[2..]);
    } else if offset < 526336 + (1 << 27) {
        let v = offset - 526336;
        out.push(0x30 | ((v >> 24) as u8 & 0x07));
        out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
    } else {
        out.push(0x38);
        out.extend_from_slice(&(offset as u32).to_be_bytes());
    }
}

/// Encodes `value` at the end of `out`. With `strings` (only when `out` is the whole data
/// section, so that `out.len()` is an offset in it), a string seen before is written as a
/// pointer to its first copy.
fn encode(value: &Value, out: &mut Vec<u8>, mut strings: Option<&mut HashMap<String, usize>>) {
    match value {
        Value::Str(s) => {
            if let Some(cache) = strings.as_deref_mut() {
                if let Some(&at) = cache.get(s) {
                    if s.len() > 3 {
                        pointer(out, at);
                        return;
                    }
                }
                cache.entry(s.clone()).or_insert(out.len());
            }
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::Float(f) => {
            control(out, 15, 4);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::U16(v) => unsigned(out, 5, u64::from(*v)),
        Value::U32(v) => unsigned(out, 6, u64::from(*v)),
        Value::U64(v) => unsigned(out, 9, *v),
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(&Value::Str(k.clone()), out, strings.as_deref_mut());
                encode(v, out, strings.as_deref_mut());
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(item, out, strings.as_deref_mut());
            }
        }
    }
}
