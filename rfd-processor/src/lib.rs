//! `rfd-processor`: drains the job queue through the action pipeline and scans the
//! source repository for anything a webhook missed.

pub mod config;
pub mod events;
pub mod metrics;
pub mod pipeline;
pub mod runner;
pub mod scanner;
