//! Loading the platform's TOML configuration, shared by `rfd-api` and `rfd-processor`.
//!
//! Each binary has its own typed struct; both read the same file. Values come from the
//! file, then from the environment (`DATABASE_URL` overrides `database_url`). A missing
//! or invalid value is reported with its key; secret values are never echoed.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read config file {path}: {reason}")]
    Unreadable {
        /// The path given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A key is missing or has an invalid value.
    #[error("invalid configuration in {path}: {reason}")]
    Invalid {
        /// The path given.
        path: String,
        /// What is wrong, naming the key.
        reason: String,
    },
}

/// Reads `path` as TOML into `T`, then applies environment overrides.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    if let Err(err) = std::fs::metadata(path) {
        return Err(ConfigError::Unreadable { path: shown, reason: err.to_string() });
    }
    Figment::new()
        .merge(Toml::file_exact(path))
        .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()))
        .extract()
        .map_err(|err| ConfigError::Invalid { path: shown, reason: describe(err) })
}

/// Figment's messages name the key; they never include the value of a string that
/// failed to parse into a secret, but may include values of other invalid fields, so
/// only the kind and the key are kept.
fn describe(err: figment::Error) -> String {
    let mut parts = Vec::new();
    for err in err {
        let key = if err.path.is_empty() { "(top level)".to_string() } else { err.path.join(".") };
        let what = match &err.kind {
            figment::error::Kind::MissingField(field) => {
                let full = if err.path.is_empty() { field.to_string() } else { format!("{key}.{field}") };
                parts.push(format!("missing required key `{full}`"));
                continue;
            }
            figment::error::Kind::InvalidType(actual, expected) => {
                format!("expected {expected}, found {}", kind_of(actual))
            }
            figment::error::Kind::InvalidValue(_, expected) => format!("invalid value, expected {expected}"),
            figment::error::Kind::UnknownField(field, _) => {
                parts.push(format!(
                    "unknown key `{}`",
                    if err.path.is_empty() { field.to_string() } else { format!("{key}.{field}") }
                ));
                continue;
            }
            figment::error::Kind::UnknownVariant(variant, expected) => {
                format!("unknown value `{variant}`, expected one of {}", expected.join(", "))
            }
            figment::error::Kind::Message(msg) => msg.clone(),
            other => other.to_string(),
        };
        parts.push(format!("key `{key}`: {what}"));
    }
    parts.join("; ")
}

fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (development).
    #[default]
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// Installs the global `tracing` subscriber. `RUST_LOG` overrides the default filter
/// (`info`, with Dropshot's per-request lines — target `slog` — at `warn`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,slog=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A stop request that can be awaited any number of times, from several places.
///
/// The signal handlers are installed once, when [`Shutdown::install`] is called at the
/// start of `main`: a signal that arrives between two phases of start-up (migrating,
/// then serving) is remembered instead of lost.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Installs the SIGINT/SIGTERM handlers. Call inside the runtime.
    pub fn install() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Resolves once a stop was requested (immediately if it already was).
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};

    #[derive(Debug, Deserialize)]
    struct Sample {
        database_url: SecretString,
        #[serde(default)]
        log_format: LogFormat,
        #[allow(dead_code)]
        port: Option<u16>,
    }

    fn write(contents: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("rfd-config-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap_or_else(|err| panic!("write temp config: {err}"));
        path
    }

    #[test]
    fn missing_key_is_named() {
        let path = write("log_format = \"json\"\n");
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let err = match load::<Sample>(&path) {
                Ok(_) => return Err("loaded without database_url".into()),
                Err(err) => err.to_string(),
            };
            assert!(err.contains("`database_url`"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file() {
        let path = write("database_url = \"postgres://file/db\"\n");
        figment::Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://env/db");
            let config = load::<Sample>(&path).map_err(|e| e.to_string())?;
            assert_eq!(config.database_url.expose_secret(), "postgres://env/db");
            assert_eq!(config.log_format, LogFormat::Pretty);
            Ok(())
        });
    }

    #[test]
    fn invalid_value_names_key_without_echoing_it() {
        let path = write("database_url = \"postgres://u:hunter2@h/db\"\nport = \"hunter3\"\n");
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let err = match load::<Sample>(&path) {
                Ok(_) => return Err("accepted a string port".into()),
                Err(err) => err.to_string(),
            };
            assert!(err.contains("`port`"), "{err}");
            assert!(!err.contains("hunter"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_reported() {
        let err = load::<Sample>(Path::new("/nonexistent/rfd.toml")).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("/nonexistent/rfd.toml")));
    }
}
