//! `[auth.github]` and `[auth.google]`: the provider applications we log users in
//! through, and where the provider's endpoints are (GitHub's and Google's by default;
//! tests point them at local servers).

use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::OAuthProviderName;

/// One login provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthProviderConfig {
    /// The provider application's client id (GitHub OAuth App, Google web client).
    pub client_id: String,
    /// Its client secret. Never logged.
    pub client_secret: SecretString,
    /// A separate provider application for the device flow (Google issues device codes
    /// only to "TVs and Limited Input devices" clients). Defaults to `client_id`.
    pub device_client_id: Option<String>,
    /// Its secret. Defaults to `client_secret`.
    pub device_client_secret: Option<SecretString>,
    /// Our OAuth client (an `oauth_client` id) that device logins are made for; what
    /// `GET /login/oauth/{provider}/device` tells the CLI. Absent: no device login.
    pub device_client: Option<Uuid>,
    /// A public client that may exchange codes with PKCE alone (a CLI running a local
    /// redirect listener). Absent: `GET /login/oauth/{provider}/public-pkce` answers 400.
    pub public_pkce: Option<PublicPkceConfig>,
    /// Scopes asked of the provider (default GitHub `user:email`, Google
    /// `openid email profile`).
    pub scopes: Option<Vec<String>>,
    /// The provider's authorization endpoint.
    pub authorize_url: Option<String>,
    /// Its token endpoint.
    pub token_url: Option<String>,
    /// Its device authorization endpoint.
    pub device_url: Option<String>,
    /// GitHub: the REST API base (`/user`, `/user/emails`). Google: the OpenID Connect
    /// userinfo endpoint.
    pub user_url: Option<String>,
}

/// `[auth.<provider>.public_pkce]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicPkceConfig {
    /// Our OAuth client (an `oauth_client` id) that may exchange codes without a secret.
    /// Its redirect URI must be registered as for any client.
    pub client: Uuid,
    /// Where the client's local listener receives the code, e.g.
    /// `http://127.0.0.1:8765/callback`.
    pub redirect_uri: String,
    /// The port of that listener.
    pub proxy_port: u16,
}

/// A provider's endpoints, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Authorization endpoint.
    pub authorize: String,
    /// Token endpoint.
    pub token: String,
    /// Device authorization endpoint.
    pub device: String,
    /// User information (see [`OAuthProviderConfig::user_url`]).
    pub user: String,
}

impl OAuthProviderConfig {
    /// The endpoints of `provider`, configured or default.
    pub fn endpoints(&self, provider: OAuthProviderName) -> Endpoints {
        let (authorize, token, device, user) = match provider {
            OAuthProviderName::Github => (
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
                "https://github.com/login/device/code",
                "https://api.github.com",
            ),
            OAuthProviderName::Google | OAuthProviderName::Zendesk => (
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://oauth2.googleapis.com/device/code",
                "https://openidconnect.googleapis.com/v1/userinfo",
            ),
        };
        let pick = |configured: &Option<String>, default: &str| {
            configured.clone().unwrap_or_else(|| default.to_string()).trim_end_matches('/').to_string()
        };
        Endpoints {
            authorize: pick(&self.authorize_url, authorize),
            token: pick(&self.token_url, token),
            device: pick(&self.device_url, device),
            user: pick(&self.user_url, user),
        }
    }

    /// The scopes asked of `provider`.
    pub fn scopes(&self, provider: OAuthProviderName) -> Vec<String> {
        match &self.scopes {
            Some(scopes) => scopes.clone(),
            None => match provider {
                OAuthProviderName::Github => vec!["user:email".into()],
                _ => vec!["openid".into(), "email".into(), "profile".into()],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_providers_and_overrides_win() {
        let config: OAuthProviderConfig = toml::from_str(
            "client_id = \"id\"\nclient_secret = \"s\"\ntoken_url = \"http://127.0.0.1:1/t/\"\n",
        )
        .unwrap_or_else(|err| panic!("{err}"));
        let github = config.endpoints(OAuthProviderName::Github);
        assert_eq!(github.authorize, "https://github.com/login/oauth/authorize");
        assert_eq!(github.token, "http://127.0.0.1:1/t");
        assert_eq!(config.scopes(OAuthProviderName::Github), vec!["user:email"]);
        assert_eq!(config.scopes(OAuthProviderName::Google), vec!["openid", "email", "profile"]);
        assert!(!format!("{config:?}").contains("\"s\""));
        let unknown =
            toml::from_str::<OAuthProviderConfig>("client_id = \"a\"\nclient_secret = \"b\"\nx = 1\n");
        assert!(unknown.is_err());
    }

    /// The commented-out sections of config.example.toml, uncommented, are valid.
    #[test]
    fn the_documented_sections_parse() {
        #[derive(Deserialize)]
        struct Auth {
            auth: Providers,
        }
        #[derive(Deserialize)]
        struct Providers {
            github: OAuthProviderConfig,
            google: OAuthProviderConfig,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config.example.toml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{err}"));
        let start = text.find("# [auth.github]").unwrap_or_else(|| panic!("no [auth.github] example"));
        // The OAuth part ends where the next part of the file begins.
        let end = text[start..].find("\n# ---- ").map_or(text.len(), |offset| start + offset);
        let section: String = text[start..end]
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| line.starts_with('[') || line.contains(" = "))
            .map(|line| format!("{line}\n"))
            .collect();
        let parsed: Auth = toml::from_str(&section).unwrap_or_else(|err| panic!("{err}\n{section}"));
        assert_eq!(parsed.auth.github.scopes(OAuthProviderName::Github), vec!["user:email"]);
        assert!(parsed.auth.google.public_pkce.is_some_and(|p| p.proxy_port == 8765));
        assert!(parsed.auth.google.device_client_id.is_some());
    }
}
