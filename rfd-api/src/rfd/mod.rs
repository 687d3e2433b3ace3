//! RFD endpoints.

pub mod discussion;
pub mod write;
