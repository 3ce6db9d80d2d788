//! geo
pub mod countries;
