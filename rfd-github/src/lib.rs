//! `rfd-github`: webhook payload types and signature verification, and the GitHub
//! operations the processor and the API need (octorust). The webhook intake and the
//! GitHub source arrive with the issues that need them; this crate holds the place in
//! the workspace so the dependency graph is fixed from the start.
