//! `rfd-api`: the RFD platform's HTTP API.
//!
//! [`api`] is the contract (a Dropshot trait, from which the OpenAPI document is
//! generated); [`server`] implements it; [`error`] maps domain errors to HTTP.

pub mod access;
pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod caller;
pub mod clients;
pub mod config;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod linking;
pub mod magic_link;
pub mod metrics;
pub mod permissions;
pub mod rfd;
pub mod server;
pub mod source;
pub mod trigger;
pub mod webhook;
