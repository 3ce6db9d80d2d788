//! Helpers shared by the integration tests. Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod mmdb_writer;
