//! The CLI's settings: `config.toml` in the platform's config directory
//! (`~/.config/rfd-cli/` on Linux, `RFD_CONFIG_DIR` to put it elsewhere), with the
//! environment (`RFD_HOST`, `RFD_TOKEN`, `RFD_FORMAT`) taking precedence.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The API's JSON, for machines.
    Json,
    /// Aligned tables, for people.
    Tab,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Tab => "tab",
        }
    }
}

/// What `config.toml` holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `default_format` is the reference CLI's name for it.
    #[serde(default, alias = "default_format", skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// The magic-link client's redirect URI and secret, for `auth login mlink`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlink_redirect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlink_secret: Option<String>,
}

/// The config file and where it lives.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub file: ConfigFile,
}

/// Where a setting came from, for `config get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    File,
    Default,
}

impl Config {
    /// `$RFD_CONFIG_DIR/config.toml`, else `<config dir>/rfd-cli/config.toml`.
    pub fn path() -> Result<PathBuf, CliError> {
        let dir = match std::env::var_os("RFD_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir().ok_or(CliError::NoConfigDir)?.join("rfd-cli"),
        };
        Ok(dir.join("config.toml"))
    }

    /// Reads the config file; a missing file is an empty config.
    pub fn load() -> Result<Self, CliError> {
        let path = Self::path()?;
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|err| CliError::ConfigParse {
                path: path.clone(),
                reason: err.message().to_string(),
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(source) => return Err(CliError::Read { path, source }),
        };
        Ok(Self { path, file })
    }

    /// Writes the file, readable by its owner only since it may hold a token.
    pub fn save(&self) -> Result<(), CliError> {
        let write_err = |source| CliError::Write { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = toml::to_string(&self.file)
            .map_err(|err| CliError::ConfigParse { path: self.path.clone(), reason: err.to_string() })?;
        write_private(&self.path, &text).map_err(write_err)
    }

    pub fn host(&self) -> (Option<String>, Source) {
        setting("RFD_HOST", self.file.host.clone())
    }

    pub fn token(&self) -> (Option<String>, Source) {
        setting("RFD_TOKEN", self.file.token.clone())
    }

    /// The output format: `RFD_FORMAT`, else the file, else JSON (as the reference CLI).
    pub fn format(&self) -> Result<(Format, Source), CliError> {
        if let Some(value) = env("RFD_FORMAT") {
            let format = <Format as clap::ValueEnum>::from_str(&value, true)
                .map_err(|_| CliError::input("RFD_FORMAT", format!("{value:?} is not json or tab")))?;
            return Ok((format, Source::Env));
        }
        Ok(match self.file.format {
            Some(format) => (format, Source::File),
            None => (Format::Json, Source::Default),
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn setting(var: &str, file: Option<String>) -> (Option<String>, Source) {
    match (env(var), file) {
        (Some(value), _) => (Some(value), Source::Env),
        (None, Some(value)) => (Some(value), Source::File),
        (None, None) => (None, Source::Default),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    // Write a sibling and rename it over the file, so an interrupted write never leaves
    // half a config behind.
    let tmp = path.with_extension("toml.tmp");
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// A host as given, checked to be an http(s) URL, without a trailing slash.
pub fn normalize_host(host: &str) -> Result<String, CliError> {
    let host = host.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(host)
        .map_err(|err| CliError::BadHost { host: host.to_string(), reason: err.to_string() })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CliError::BadHost {
            host: host.to_string(),
            reason: "expected http(s)://HOST[:PORT]".into(),
        });
    }
    Ok(host.to_string())
}

/// A token shown without giving it away: its last four characters.
pub fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 12 {
        return "set (hidden)".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("set (…{tail})")
}
