//! The parts of `cargo xtask` that tests check too: generating the SDK from a spec.

pub mod sdk;
