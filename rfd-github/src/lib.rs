//! `rfd-github`: webhook payload types and signature verification, and the GitHub
//! operations the processor and the API need (octorust). The GitHub source arrives with
//! the issues that need it.

pub mod webhook;
