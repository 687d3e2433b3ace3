//! The RFD platform's data layer.
//!
//! - [`types`]: domain types in the reference API's JSON shapes;
//! - [`schema`] and [`migrations`]: the PostgreSQL schema and its embedded migrations;
//! - [`db`] and [`store`]: connection pools and async storage;
//! - [`discussion`]: reserved RFD numbers and pull request comments per revision;
//! - [`source`]: the repository RFDs are read from, behind one trait;
//! - [`document`]: RFD documents (AsciiDoc, Markdown): title, attributes, body, write-back;
//! - [`search`]: full-text search over RFD sections (PostgreSQL or Meilisearch);
//! - [`storage`]: blob storage (a local directory or Google Cloud Storage) for images and PDFs;
//! - [`config`]: configuration loading shared by the binaries;
//! - [`clients`], [`magic_link`], [`linking`]: OAuth and magic-link clients, magic-link
//!   attempts and account-link requests.
//! - [`events`]: outbound events to subscribers, delivered through the job queue.

pub mod auth;
pub mod clients;
pub mod config;
pub mod db;
pub mod discussion;
pub mod document;
pub mod error;
pub mod events;
pub mod linking;
pub mod login;
pub mod magic_link;
pub mod migrations;
pub mod processing;
pub mod queue;
pub mod rfd_read;
pub mod schema;
pub mod search;
pub mod source;
pub mod storage;
pub mod store;
pub mod trigger;
pub mod types;

pub use db::{DbPool, PoolSettings};
pub use error::StoreError;
pub use processing::JobWarning;
pub use queue::{Attempt, DeliveryOutcome, Job, JobFilter, JobKind, JobState, NewJob};
pub use store::{ReadScope, RevisionRef, Store};
pub use types::*;
