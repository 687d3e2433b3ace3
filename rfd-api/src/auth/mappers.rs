//! Mapping rules (what a login earns) and `mappers.toml`, the file that owns the
//! `preset` groups and mappers.
//!
//! ```toml
//! [[groups]]
//! name = "employees"
//! permissions = ["GetRfdsAll", "SearchRfds"]
//!
//! [[mappers]]
//! name = "employees-by-domain"
//! rule = "email_domain"
//! domain = "example.com"
//! groups = ["employees"]
//! # max_activations = 10
//! ```
//!
//! Applied at every start, idempotently: groups are created or get the file's
//! permissions; mappers are created, updated to the file's rule and maximum (keeping
//! their activation count), and presets no longer in the file are deleted. Groups are
//! never deleted by the file (users may still be members).

use std::path::Path;

use rfd_model::Store;
use rfd_model::auth::ProviderIdentity;
use serde::{Deserialize, Serialize};

use crate::permissions::{Permission, Permissions};

/// What a mapper matches and what it gives (JSON tagged by `rule`, as the reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum MappingRule {
    /// Every login.
    Default {
        /// Permissions given.
        #[serde(default)]
        permissions: Permissions,
        /// Names of groups joined.
        #[serde(default)]
        groups: Vec<String>,
    },
    /// A login with this verified address (case-insensitive).
    EmailAddress {
        /// The address.
        email: String,
        /// Permissions given.
        #[serde(default)]
        permissions: Permissions,
        /// Names of groups joined.
        #[serde(default)]
        groups: Vec<String>,
    },
    /// A login with a verified address in this domain (case-insensitive). Unlike the
    /// reference service, its permissions are applied too.
    EmailDomain {
        /// The domain, after the `@`.
        domain: String,
        /// Permissions given.
        #[serde(default)]
        permissions: Permissions,
        /// Names of groups joined.
        #[serde(default)]
        groups: Vec<String>,
    },
    /// A GitHub login with this username (case-insensitive, as GitHub's are).
    GithubUsername {
        /// The GitHub login.
        github_username: String,
        /// Permissions given.
        #[serde(default)]
        permissions: Permissions,
        /// Names of groups joined.
        #[serde(default)]
        groups: Vec<String>,
    },
}

impl MappingRule {
    /// The permissions the rule gives.
    pub fn permissions(&self) -> &Permissions {
        match self {
            Self::Default { permissions, .. }
            | Self::EmailAddress { permissions, .. }
            | Self::EmailDomain { permissions, .. }
            | Self::GithubUsername { permissions, .. } => permissions,
        }
    }

    /// The names of the groups the rule adds.
    pub fn groups(&self) -> &[String] {
        match self {
            Self::Default { groups, .. }
            | Self::EmailAddress { groups, .. }
            | Self::EmailDomain { groups, .. }
            | Self::GithubUsername { groups, .. } => groups,
        }
    }

    /// Whether a login with this identity matches.
    pub fn matches(&self, identity: &ProviderIdentity) -> bool {
        match self {
            Self::Default { .. } => true,
            Self::EmailAddress { email, .. } => identity.emails.iter().any(|e| e.eq_ignore_ascii_case(email)),
            Self::EmailDomain { domain, .. } => identity.emails.iter().any(|e| {
                e.rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain.trim_start_matches('@')))
            }),
            Self::GithubUsername { github_username, .. } => {
                identity.provider == "github"
                    && identity.display_names.iter().any(|name| name.eq_ignore_ascii_case(github_username))
            }
        }
    }
}

/// `[[groups]]` in mappers.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// The group's name.
    pub name: String,
    /// What members get.
    #[serde(default)]
    pub permissions: Permissions,
}

/// `[[mappers]]` in mappers.toml: a name, an optional maximum, and the rule's fields.
#[derive(Debug, Clone, Deserialize)]
pub struct MapperEntry {
    /// The mapper's name.
    pub name: String,
    /// At most this many users.
    pub max_activations: Option<i32>,
    /// The rule (`rule = "email_domain"`, `domain = …`, `groups = […]`, …).
    #[serde(flatten)]
    pub rule: MappingRule,
}

/// The contents of mappers.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappersFile {
    /// Groups.
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    /// Mappers.
    #[serde(default)]
    pub mappers: Vec<MapperEntry>,
}

/// Why mappers.toml could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MappersError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not valid.
    #[error("invalid mappers file {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The database refused.
    #[error("applying mappers: {0}")]
    Store(#[from] rfd_model::StoreError),
}

impl MappersFile {
    /// Parses and checks the text of a mappers file.
    pub fn parse(text: &str, path: &str) -> Result<Self, MappersError> {
        let invalid = |reason: String| MappersError::Invalid { path: path.to_string(), reason };
        let file: Self = toml::from_str(text).map_err(|err| invalid(err.to_string()))?;
        for group in &file.groups {
            if let Some(bad) = group.permissions.iter().find(|p| matches!(p, Permission::Unsupported(_))) {
                return Err(invalid(format!("group `{}`: unknown permission {bad:?}", group.name)));
            }
        }
        for mapper in &file.mappers {
            if mapper.rule.permissions().iter().any(|p| matches!(p, Permission::Unsupported(_))) {
                return Err(invalid(format!("mapper `{}`: unknown permission", mapper.name)));
            }
            if mapper.max_activations.is_some_and(|max| max < 0) {
                return Err(invalid(format!(
                    "mapper `{}`: max_activations must not be negative",
                    mapper.name
                )));
            }
            for name in mapper.rule.groups() {
                if !file.groups.iter().any(|g| &g.name == name) {
                    tracing::warn!(mapper = %mapper.name, group = %name, "mapper names a group not in the file");
                }
            }
        }
        let mut names: Vec<&str> = file.mappers.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(invalid(format!("mapper `{}` is defined twice", pair[0])));
        }
        Ok(file)
    }

    /// Reads and checks a mappers file.
    pub fn read(path: &Path) -> Result<Self, MappersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|err| MappersError::Unreadable { path: shown.clone(), reason: err.to_string() })?;
        Self::parse(&text, &shown)
    }

    /// Makes the database's groups and preset mappers match the file.
    pub async fn apply(&self, store: &Store) -> Result<(), MappersError> {
        for group in &self.groups {
            store.upsert_group(&group.name, &group.permissions.to_json()).await?;
        }
        let mut presets = Vec::with_capacity(self.mappers.len());
        for mapper in &self.mappers {
            let rule = serde_json::to_value(&mapper.rule)
                .map_err(|err| MappersError::Invalid { path: String::new(), reason: err.to_string() })?;
            presets.push((mapper.name.clone(), rule, mapper.max_activations));
        }
        let applied = store.sync_preset_mappers(&presets).await?;
        tracing::info!(groups = self.groups.len(), mappers = applied.len(), "mappers file applied");
        Ok(())
    }
}

/// Reads `path` and applies it.
pub async fn apply_file(store: &Store, path: &Path) -> Result<(), MappersError> {
    MappersFile::read(path)?.apply(store).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(provider: &str, emails: &[&str], names: &[&str]) -> ProviderIdentity {
        ProviderIdentity {
            provider: provider.into(),
            provider_id: "x".into(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            display_names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rules_match() {
        let ada = identity("github", &["Ada@Example.com"], &["ada"]);
        let rule = |json: serde_json::Value| serde_json::from_value::<MappingRule>(json).ok();
        assert!(rule(serde_json::json!({"rule": "default"})).is_some_and(|r| r.matches(&ada)));
        assert!(
            rule(serde_json::json!({"rule": "email_domain", "domain": "example.com"}))
                .is_some_and(|r| r.matches(&ada))
        );
        assert!(
            !rule(serde_json::json!({"rule": "email_domain", "domain": "ample.com"}))
                .is_some_and(|r| r.matches(&ada))
        );
        assert!(
            rule(serde_json::json!({"rule": "email_address", "email": "ada@example.com"}))
                .is_some_and(|r| r.matches(&ada))
        );
        assert!(
            rule(serde_json::json!({"rule": "github_username", "github_username": "ADA"}))
                .is_some_and(|r| r.matches(&ada))
        );
        let google = identity("google", &["ada@example.com"], &["ada"]);
        assert!(
            !rule(serde_json::json!({"rule": "github_username", "github_username": "ada"}))
                .is_some_and(|r| r.matches(&google))
        );
        assert!(rule(serde_json::json!({"rule": "nope"})).is_none());
        assert!(rule(serde_json::json!({"rule": "email_domain"})).is_none());
    }

    #[test]
    fn the_example_file_is_valid() {
        let file = MappersFile::parse(include_str!("../../../mappers.example.toml"), "mappers.example.toml");
        assert!(file.is_ok_and(|f| f.groups.len() == 2 && f.mappers.len() == 3));
    }

    #[test]
    fn file_parses_with_flattened_rules() {
        let file = MappersFile::parse(
            r#"
            [[groups]]
            name = "staff"
            permissions = ["GetRfdsAll", { GetRfd = 5 }]

            [[mappers]]
            name = "by-domain"
            rule = "email_domain"
            domain = "example.com"
            groups = ["staff"]
            max_activations = 3
            "#,
            "mappers.toml",
        );
        let file = match file {
            Ok(file) => file,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(file.groups[0].permissions.0, vec![Permission::GetRfdsAll, Permission::GetRfd(5)]);
        assert_eq!(file.mappers[0].max_activations, Some(3));
        assert_eq!(file.mappers[0].rule.groups(), ["staff".to_string()]);
        assert!(MappersFile::parse("[[groups]]\nname = \"x\"\npermissions = [\"Nope\"]\n", "f").is_err());
        assert!(
            MappersFile::parse("[[mappers]]\nname = \"a\"\nrule = \"default\"\n[[mappers]]\nname = \"a\"\nrule = \"default\"\n", "f")
                .is_err()
        );
    }
}
