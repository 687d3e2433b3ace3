//! Every command: build the request, call the generated client, print the answer.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cli::*;
use crate::config::{self, Config, Format, Source};
use crate::error::CliError;
use crate::names;
use crate::output::{self, Shape};

/// Columns of the lists, chosen to be read by people (`--format json` has every field).
const RFD_COLUMNS: &[&str] = &["rfd_number", "title", "state", "visibility", "latest_major_change_at"];
const REVISION_COLUMNS: &[&str] = &["id", "commit_sha", "committed_at", "major_change"];
const SEARCH_COLUMNS: &[&str] = &["rfd_number", "hierarchy", "content"];
const JOB_COLUMNS: &[&str] = &["id", "rfd", "branch", "sha", "state", "attempts", "created_at"];
const USER_COLUMNS: &[&str] =
    &["info.id", "info.display_name", "info.permissions", "info.groups", "info.created_at"];
const GROUP_COLUMNS: &[&str] = &["id", "name", "permissions", "created_at"];
const MAPPER_COLUMNS: &[&str] = &["id", "name", "rule", "activations", "max_activations", "source"];
const TOKEN_COLUMNS: &[&str] = &["id", "permission_boundary", "created_at", "expires_at"];
const CLIENT_COLUMNS: &[&str] = &["id", "redirect_uris", "secrets", "created_at"];

/// What every command needs.
pub struct Context {
    pub config: Config,
    pub format: Format,
}

impl Context {
    /// The generated client for the configured host, with the token when there is one.
    pub fn client(&self) -> Result<rfd_sdk::Client, CliError> {
        let (host, _) = self.config.host();
        let host = config::normalize_host(&host.ok_or(CliError::NoHost)?)?;
        let (token, _) = self.config.token();
        Ok(rfd_sdk::Client::new_with_client(&host, http_client(token.as_deref())?))
    }

    fn print<T: Serialize>(&self, value: T, shape: Shape) -> Result<(), CliError> {
        let value = serde_json::to_value(value).map_err(|err| CliError::Response(err.to_string()))?;
        output::print(self.format, &value, shape);
        Ok(())
    }
}

/// An HTTP client with timeouts, sending the token on every request when given.
pub fn http_client(token: Option<&str>) -> Result<reqwest::Client, CliError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| CliError::input("token", "contains characters a header cannot carry"))?;
        // Keeps it out of any debug output of the request.
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .user_agent(concat!("rfd-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| CliError::Network(err.to_string()))
}

/// Sends a request built by the generated client and returns its typed answer.
macro_rules! call {
    ($request:expr) => {
        match $request.send().await {
            Ok(response) => response.into_inner(),
            Err(err) => return Err(CliError::from_sdk(err).await),
        }
    };
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load()?;
    let format = match cli.format {
        Some(format) => format,
        None => config.format()?.0,
    };
    let mut ctx = Context { config, format };
    match cli.command {
        Command::Config(command) => config_command(&mut ctx, command),
        Command::Auth(AuthCommand::Login(args)) => crate::auth::login(&mut ctx, args).await,
        Command::Mapper(command) => mapper(&ctx, command).await,
        Command::Sys(SysCommand::Mapper(command)) => mapper(&ctx, command).await,
        Command::Sys(SysCommand::User(command)) => user(&ctx, command).await,
        Command::Sys(SysCommand::Group(command)) => group(&ctx, command).await,
        Command::Sys(SysCommand::Oauth(command)) => oauth(&ctx, command).await,
        Command::Sys(SysCommand::Mlink(command)) => mlink(&ctx, command).await,
        Command::Job(command) => job(&ctx, command).await,
        Command::Revision(command) => revision(&ctx, command).await,
        Command::Edit(command) => edit(&ctx, command).await,
        command => rfd(&ctx, command).await,
    }
}

fn config_command(ctx: &mut Context, command: ConfigCommand) -> Result<(), CliError> {
    let file = &mut ctx.config.file;
    match command {
        ConfigCommand::Set(set) => {
            match set {
                ConfigSet::Host { url } => file.host = Some(config::normalize_host(&url)?),
                ConfigSet::Format { value } => file.format = Some(value),
                ConfigSet::MlinkRedirect { uri } => file.mlink_redirect = Some(uri),
                ConfigSet::MlinkSecret { secret } => file.mlink_secret = Some(secret),
            }
            ctx.config.save()
        }
        ConfigCommand::Get { key } => {
            let shown = match key {
                ConfigKey::Host => ctx.config.host().0,
                ConfigKey::Format => Some(ctx.config.format()?.0.name().to_string()),
                ConfigKey::Token => {
                    let (token, source) = ctx.config.token();
                    token.map(|token| match source {
                        Source::Env => format!("{} from RFD_TOKEN", config::mask(&token)),
                        _ => config::mask(&token),
                    })
                }
                ConfigKey::MlinkRedirect => ctx.config.file.mlink_redirect.clone(),
                ConfigKey::MlinkSecret => ctx.config.file.mlink_secret.as_deref().map(config::mask),
            };
            match shown {
                Some(value) => {
                    println!("{value}");
                    Ok(())
                }
                None => Err(CliError::input(format!("{key:?}").to_lowercase(), "not set")),
            }
        }
    }
}

/// Reads a JSON request body from a file (`/dev/stdin` reads standard input).
fn read_json(path: &Path) -> Result<Value, CliError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|err| CliError::input(path.display().to_string(), err))
}

fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read { path: path.to_path_buf(), source })
}

/// A JSON body as the generated type, so a malformed one is refused before it is sent.
fn typed<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, CliError> {
    serde_json::from_value(value).map_err(|err| CliError::input(what, err))
}

/// A permission given on the command line: JSON (`{"GetRfd": 12}`) or a bare name.
fn permission(text: &str) -> Result<Value, CliError> {
    let text = text.trim();
    if text.starts_with('{') || text.starts_with('"') {
        serde_json::from_str(text).map_err(|err| CliError::input(format!("permission {text}"), err))
    } else {
        Ok(Value::String(text.to_string()))
    }
}

fn permissions(texts: &[String]) -> Result<Vec<Value>, CliError> {
    texts.iter().map(|text| permission(text)).collect()
}

// Some operations answer no body (unit) in the spec; printing it shows "done" (or
// `null`), and the same call keeps working when an operation starts to answer a body.
#[allow(clippy::unit_arg)]
async fn rfd(ctx: &Context, command: Command) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        Command::List => ctx.print(call!(client.list_rfds()), Shape::Rows(RFD_COLUMNS)),
        Command::View { number } => ctx.print(call!(client.view_rfd().number(number)), Shape::Document),
        Command::Meta { number } => ctx.print(call!(client.view_rfd_meta().number(number)), Shape::Record),
        Command::Attr { number, attr } => {
            ctx.print(call!(client.view_rfd_attr().number(number).attr(attr.name())), Shape::Record)
        }
        Command::Pdf { number } => ctx.print(call!(client.view_rfd_pdf().number(number)), Shape::Document),
        Command::Discussion { number } => {
            ctx.print(call!(client.view_rfd_discussion().number(number)), Shape::Record)
        }
        Command::Search(args) => {
            let mut request = client.search_rfds().q(args.query);
            if let Some(limit) = args.limit {
                request = request.limit(limit);
            }
            if let Some(offset) = args.offset {
                request = request.offset(offset);
            }
            if let Some(tag) = args.highlight_pre_tag {
                request = request.highlight_pre_tag(tag);
            }
            if let Some(tag) = args.highlight_post_tag {
                request = request.highlight_post_tag(tag);
            }
            let results = serde_json::to_value(call!(request)).unwrap_or_default();
            match ctx.format {
                Format::Json => ctx.print(results, Shape::Record),
                Format::Tab => {
                    ctx.print(results.get("hits").cloned().unwrap_or_default(), Shape::Rows(SEARCH_COLUMNS))
                }
            }
        }
        Command::Reserve { title, content } => {
            let content = content.map(|path| read_text(&path)).transpose()?;
            let body: names::ReserveRfdBody = typed("reserve", json!({"title": title, "content": content}))?;
            ctx.print(call!(client.reserve_rfd().body(body)), Shape::Record)
        }
        _ => Err(CliError::input("command", "not an RFD command")),
    }
}

// Some operations answer no body (unit) in the spec; printing it shows "done" (or
// `null`), and the same call keeps working when an operation starts to answer a body.
#[allow(clippy::unit_arg)]
async fn revision(ctx: &Context, command: RevisionCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        RevisionCommand::List { number, page } => {
            let mut request = client.list_rfd_revisions().number(number);
            if let Some(limit) = page.limit {
                request = request.limit(limit);
            }
            if let Some(offset) = page.offset {
                request = request.offset(offset);
            }
            ctx.print(call!(request), Shape::Rows(REVISION_COLUMNS))
        }
        RevisionCommand::View { number, revision } => {
            ctx.print(call!(client.view_rfd_revision().number(number).revision(revision)), Shape::Document)
        }
        RevisionCommand::Meta { number, revision } => {
            ctx.print(call!(client.view_rfd_revision_meta().number(number).revision(revision)), Shape::Record)
        }
        RevisionCommand::Attr { number, revision, attr } => ctx.print(
            call!(client.view_rfd_revision_attr().number(number).revision(revision).attr(attr.name())),
            Shape::Record,
        ),
        RevisionCommand::Discussion { number, revision } => ctx.print(
            call!(client.view_rfd_revision_discussion().number(number).revision(revision)),
            Shape::Record,
        ),
        RevisionCommand::Pdf { number, revision } => ctx
            .print(call!(client.view_rfd_revision_pdf().number(number).revision(revision)), Shape::Document),
        RevisionCommand::Update { number, revision, major_change } => {
            let body: names::UpdateRfdAttrBody = typed("revision", json!({"major_change": major_change}))?;
            ctx.print(
                call!(client.update_rfd_revision().number(number).revision(revision).body(body)),
                Shape::Record,
            )
        }
    }
}

// Some operations answer no body (unit) in the spec; printing it shows "done" (or
// `null`), and the same call keeps working when an operation starts to answer a body.
#[allow(clippy::unit_arg)]
async fn edit(ctx: &Context, command: EditCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        EditCommand::Attr { number, attr, value, message } => {
            let body: names::RfdAttrValue = typed("attribute", json!({"value": value, "message": message}))?;
            ctx.print(call!(client.set_rfd_attr().number(number).attr(attr.name()).body(body)), Shape::Record)
        }
        EditCommand::Content { number, file, message } => {
            let content = read_text(&file)?;
            let body: names::RfdUpdateContentBody =
                typed("content", json!({"content": content, "message": message}))?;
            ctx.print(call!(client.set_rfd_content().number(number).body(body)), Shape::Record)
        }
        EditCommand::Document { number, file, message } => {
            let document = read_text(&file)?;
            let body: names::RfdUpdateBody =
                typed("document", json!({"document": document, "message": message}))?;
            ctx.print(call!(client.set_rfd_document().number(number).body(body)), Shape::Record)
        }
        EditCommand::Visibility { number, visibility } => {
            let visibility = match visibility {
                VisibilityArg::Public => "public",
                VisibilityArg::Private => "private",
            };
            let body: names::RfdVisibility = typed("visibility", json!({"visibility": visibility}))?;
            ctx.print(call!(client.update_rfd_visibility().number(number).body(body)), Shape::Record)
        }
        EditCommand::Publish { number } => {
            ctx.print(call!(client.publish_rfd().number(number)), Shape::Record)
        }
        EditCommand::Discuss { number } => {
            ctx.print(call!(client.discuss_rfd().number(number)), Shape::Record)
        }
    }
}

async fn job(ctx: &Context, command: JobCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        JobCommand::List { rfd, page } => {
            let mut request = client.list_jobs().rfd(rfd);
            if let Some(limit) = page.limit {
                request = request.limit(limit);
            }
            if let Some(offset) = page.offset {
                request = request.offset(offset);
            }
            ctx.print(call!(request), Shape::Rows(JOB_COLUMNS))
        }
        JobCommand::Queue { state, rfd, page } => {
            let mut request = client.list_queue_jobs();
            if let Some(state) = state {
                request = request.state(state.as_str());
            }
            if let Some(rfd) = rfd {
                request = request.rfd(rfd);
            }
            if let Some(limit) = page.limit {
                request = request.limit(limit);
            }
            if let Some(offset) = page.offset {
                request = request.offset(offset);
            }
            ctx.print(call!(request), Shape::Rows(JOB_COLUMNS))
        }
        JobCommand::Retry { id } => ctx.print(call!(client.retry_job().job_id(id)), Shape::Record),
    }
}

/// The body of user create/update: the file, else the flags.
fn user_body(grants: Grants, body: JsonBody) -> Result<names::ApiUserUpdateParams, CliError> {
    let value = match body.json_body {
        Some(path) => read_json(&path)?,
        None => json!({"permissions": permissions(&grants.permissions)?, "group_ids": grants.groups}),
    };
    typed("user", value)
}

// Some operations answer no body (unit) in the spec; printing it shows "done" (or
// `null`), and the same call keeps working when an operation starts to answer a body.
#[allow(clippy::unit_arg)]
async fn user(ctx: &Context, command: UserCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    let users = Shape::Rows(USER_COLUMNS);
    match command {
        UserCommand::List => ctx.print(call!(client.list_api_users()), users),
        UserCommand::Me => ctx.print(call!(client.get_self()), Shape::Record),
        UserCommand::Get { id } => ctx.print(call!(client.get_api_user().user_id(id)), Shape::Record),
        UserCommand::Create { grants, body } => {
            ctx.print(call!(client.create_api_user().body(user_body(grants, body)?)), Shape::Record)
        }
        UserCommand::Update { id, grants, body } => ctx
            .print(call!(client.update_api_user().user_id(id).body(user_body(grants, body)?)), Shape::Record),
        UserCommand::Permission(command) => {
            let (id, text, add) = match command {
                PermissionCommand::Add { id, permission } => (id, permission, true),
                PermissionCommand::Remove { id, permission } => (id, permission, false),
            };
            let body: names::ApiUserPermissionParams =
                typed("permission", json!({"permission": permission(&text)?}))?;
            if add {
                ctx.print(call!(client.add_api_user_permission().user_id(id).body(body)), Shape::Record)
            } else {
                ctx.print(call!(client.remove_api_user_permission().user_id(id).body(body)), Shape::Record)
            }
        }
        UserCommand::Contact(ContactCommand::Email(ContactEmailCommand::Set { id, email })) => {
            let body: names::ApiUserEmailUpdateParams = typed("email", json!({"email": email}))?;
            ctx.print(call!(client.set_api_user_contact_email().user_id(id).body(body)), Shape::Record)
        }
        UserCommand::Token(command) => token(ctx, &client, command).await,
        UserCommand::AccessToken(AccessTokenCommand::List { id }) => {
            ctx.print(call!(client.list_api_user_access_tokens().user_id(id)), Shape::Rows(TOKEN_COLUMNS))
        }
        UserCommand::AccessToken(AccessTokenCommand::Revoke { id, token_id }) => ctx.print(
            call!(client.revoke_api_user_access_token().user_id(id).token_id(token_id)),
            Shape::Record,
        ),
        UserCommand::Revoke { id } => {
            ctx.print(call!(client.revoke_api_user_credentials().user_id(id)), Shape::Record)
        }
        UserCommand::LinkToken { provider_id, user } => {
            let body: names::ApiUserLinkRequestPayload = typed("link token", json!({"user_id": user}))?;
            ctx.print(call!(client.create_link_token().provider_id(provider_id).body(body)), Shape::Record)
        }
        UserCommand::Link { id, token } => {
            let body: names::ApiUserProviderLinkPayload = typed("link", json!({"token": token}))?;
            ctx.print(call!(client.link_provider().user_id(id).body(body)), Shape::Record)
        }
    }
}

async fn token(ctx: &Context, client: &rfd_sdk::Client, command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::List { id } => {
            ctx.print(call!(client.list_api_user_tokens().user_id(id)), Shape::Rows(TOKEN_COLUMNS))
        }
        TokenCommand::Get { id, token_id } => {
            ctx.print(call!(client.get_api_user_token().user_id(id).api_key_id(token_id)), Shape::Record)
        }
        TokenCommand::Create { id, days, permissions: given, body } => {
            let value = match body.json_body {
                Some(path) => read_json(&path)?,
                None => {
                    let boundary =
                        if given.is_empty() { Value::Null } else { Value::from(permissions(&given)?) };
                    json!({"expires_at": chrono::Utc::now() + chrono::Duration::days(days), "permission_boundary": boundary})
                }
            };
            let body: names::ApiKeyCreateParams = typed("token", value)?;
            ctx.print(call!(client.create_api_user_token().user_id(id).body(body)), Shape::Record)
        }
        TokenCommand::Delete { id, token_id } => {
            ctx.print(call!(client.delete_api_user_token().user_id(id).api_key_id(token_id)), Shape::Record)
        }
    }
}

fn group_body(
    name: Option<String>,
    given: &[String],
    body: JsonBody,
) -> Result<names::AccessGroupUpdateParams, CliError> {
    let value = match body.json_body {
        Some(path) => read_json(&path)?,
        None => json!({"name": name, "permissions": permissions(given)?}),
    };
    typed("group", value)
}

async fn group(ctx: &Context, command: GroupCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        GroupCommand::List => ctx.print(call!(client.get_groups()), Shape::Rows(GROUP_COLUMNS)),
        GroupCommand::Create { name, permissions, body } => {
            ctx.print(call!(client.create_group().body(group_body(name, &permissions, body)?)), Shape::Record)
        }
        GroupCommand::Update { id, name, permissions, body } => ctx.print(
            call!(client.update_group().group_id(id).body(group_body(name, &permissions, body)?)),
            Shape::Record,
        ),
        GroupCommand::Delete { id } => ctx.print(call!(client.delete_group().group_id(id)), Shape::Record),
        GroupCommand::Membership(MembershipCommand::List { group }) => {
            ctx.print(call!(client.get_group_members().group_id(group)), Shape::Rows(USER_COLUMNS))
        }
        GroupCommand::Membership(MembershipCommand::Add { group, user }) => {
            let body: names::AddGroupBody = typed("membership", json!({"group_id": group}))?;
            ctx.print(call!(client.add_api_user_to_group().user_id(user).body(body)), Shape::Record)
        }
        GroupCommand::Membership(MembershipCommand::Remove { group, user }) => {
            ctx.print(call!(client.remove_api_user_from_group().user_id(user).group_id(group)), Shape::Record)
        }
    }
}

async fn mapper(ctx: &Context, command: MapperCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        MapperCommand::List { include_depleted } => ctx.print(
            call!(client.get_mappers().include_depleted(include_depleted)),
            Shape::Rows(MAPPER_COLUMNS),
        ),
        MapperCommand::Create { json_body } => {
            let body: names::CreateMapper = typed("mapper", read_json(&json_body)?)?;
            ctx.print(call!(client.create_mapper().body(body)), Shape::Record)
        }
        MapperCommand::Delete { id } => ctx.print(call!(client.delete_mapper().mapper_id(id)), Shape::Record),
    }
}

async fn oauth(ctx: &Context, command: ClientCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        ClientCommand::List => ctx.print(call!(client.list_oauth_clients()), Shape::Rows(CLIENT_COLUMNS)),
        ClientCommand::Create => ctx.print(call!(client.create_oauth_client()), Shape::Record),
        ClientCommand::Get { id } => ctx.print(call!(client.get_oauth_client().client_id(id)), Shape::Record),
        ClientCommand::Redirect(RedirectCommand::Create { id, redirect_uri }) => {
            let body: names::AddOAuthClientRedirectBody =
                typed("redirect", json!({"redirect_uri": redirect_uri}))?;
            ctx.print(
                call!(client.create_oauth_client_redirect_uri().client_id(id).body(body)),
                Shape::Record,
            )
        }
        ClientCommand::Redirect(RedirectCommand::Delete { id, redirect_uri_id }) => ctx.print(
            call!(client.delete_oauth_client_redirect_uri().client_id(id).redirect_uri_id(redirect_uri_id)),
            Shape::Record,
        ),
        ClientCommand::Secret(SecretCommand::Create { id }) => {
            ctx.print(call!(client.create_oauth_client_secret().client_id(id)), Shape::Record)
        }
        ClientCommand::Secret(SecretCommand::Delete { id, secret_id }) => ctx.print(
            call!(client.delete_oauth_client_secret().client_id(id).secret_id(secret_id)),
            Shape::Record,
        ),
    }
}

async fn mlink(ctx: &Context, command: ClientCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        ClientCommand::List => ctx.print(call!(client.list_magic_links()), Shape::Rows(CLIENT_COLUMNS)),
        ClientCommand::Create => ctx.print(call!(client.create_magic_link()), Shape::Record),
        ClientCommand::Get { id } => ctx.print(call!(client.get_magic_link().client_id(id)), Shape::Record),
        ClientCommand::Redirect(RedirectCommand::Create { id, redirect_uri }) => {
            let body: names::AddMagicLinkRedirectBody =
                typed("redirect", json!({"redirect_uri": redirect_uri}))?;
            ctx.print(call!(client.create_magic_link_redirect_uri().client_id(id).body(body)), Shape::Record)
        }
        ClientCommand::Redirect(RedirectCommand::Delete { id, redirect_uri_id }) => ctx.print(
            call!(client.delete_magic_link_redirect_uri().client_id(id).redirect_uri_id(redirect_uri_id)),
            Shape::Record,
        ),
        ClientCommand::Secret(SecretCommand::Create { id }) => {
            ctx.print(call!(client.create_magic_link_secret().client_id(id)), Shape::Record)
        }
        ClientCommand::Secret(SecretCommand::Delete { id, secret_id }) => ctx.print(
            call!(client.delete_magic_link_secret().client_id(id).secret_id(secret_id)),
            Shape::Record,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_names_or_json() {
        assert_eq!(permission("GetRfdsAll").ok(), Some(json!("GetRfdsAll")));
        assert_eq!(permission(r#"{"GetRfd": 12}"#).ok(), Some(json!({"GetRfd": 12})));
        assert!(permission("{not json").is_err());
    }
}
