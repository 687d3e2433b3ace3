//! The one error type of the storage layer, classified so callers can answer precisely
//! (not found → 404, conflict → 409, unavailable → 503) without inspecting SQL errors.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row the caller named does not exist.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for (`rfd`, `revision`, …).
        entity: &'static str,
    },
    /// A write would break a unique (or exclusion) constraint.
    #[error("conflicts with an existing row (constraint {constraint})")]
    Conflict {
        /// The name of the constraint, e.g. `rfd_number_unique`.
        constraint: String,
    },
    /// A write referenced a row that does not exist, or broke a check constraint.
    #[error("invalid reference or value (constraint {constraint})")]
    Invalid {
        /// The name of the constraint.
        constraint: String,
    },
    /// No connection could be had, or it broke: the caller should retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Migrations could not be applied.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Query(DieselError),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound { entity: "row" },
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("unknown").to_string();
                match kind {
                    DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ExclusionViolation => {
                        Self::Conflict { constraint }
                    }
                    DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::CheckViolation
                    | DatabaseErrorKind::NotNullViolation => Self::Invalid { constraint },
                    DatabaseErrorKind::ClosedConnection => Self::Unavailable(info.message().to_string()),
                    // diesel-async reports a dropped socket as an unknown database error;
                    // the message is the only place the difference shows.
                    _ if is_connection_message(info.message()) => {
                        Self::Unavailable(info.message().to_string())
                    }
                    _ => Self::Query(DieselError::DatabaseError(kind, info)),
                }
            }
            other => Self::Query(other),
        }
    }
}

fn is_connection_message(message: &str) -> bool {
    const MARKERS: [&str; 6] = [
        "connection closed",
        "terminating connection",
        "connection reset",
        "broken pipe",
        "error communicating with the server",
        "the database system is shutting down",
    ];
    let lower = message.to_ascii_lowercase();
    MARKERS.iter().any(|marker| lower.contains(marker))
}

impl From<diesel_async::pooled_connection::bb8::RunError> for StoreError {
    fn from(err: diesel_async::pooled_connection::bb8::RunError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_messages_are_transient() {
        assert!(is_connection_message("Connection closed by peer"));
        assert!(is_connection_message("FATAL: terminating connection due to administrator command"));
        assert!(!is_connection_message("syntax error at or near"));
    }
}
