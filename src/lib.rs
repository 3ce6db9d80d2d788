//! geotracker
#![forbid(unsafe_code)]
pub mod geo;
