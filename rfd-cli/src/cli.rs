//! The command line (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Format;

#[derive(Parser, Debug)]
#[command(name = "rfd-cli", version, about = "The RFD platform's command line")]
pub struct Cli {
    /// Output format (default: RFD_FORMAT, else the config file's, else json).
    #[arg(short, long, global = true, value_enum)]
    pub format: Option<Format>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read and change the CLI's settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Log in.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// List the RFDs you may read.
    List,
    /// An RFD's latest revision with its document.
    View { number: String },
    /// An RFD's latest revision without its document.
    Meta { number: String },
    /// One attribute of an RFD (discussion, labels, state).
    Attr { number: String, attr: RfdAttr },
    /// The PDFs of an RFD's latest revision.
    Pdf { number: String },
    /// Search the RFDs you may read.
    Search(SearchArgs),
    /// An RFD's discussion.
    Discussion { number: String },
    /// An RFD's revisions.
    #[command(subcommand)]
    Revision(RevisionCommand),
    /// Reserve the next RFD number.
    Reserve {
        #[arg(long)]
        title: String,
        /// A file with the document's body.
        #[arg(long)]
        content: Option<PathBuf>,
    },
    /// Change an RFD.
    #[command(subcommand)]
    Edit(EditCommand),
    /// The processing jobs of an RFD.
    #[command(subcommand)]
    Job(JobCommand),
    /// Administration: users, groups, mappers, OAuth and magic-link clients.
    #[command(subcommand)]
    Sys(SysCommand),
    /// Login mappers (the same as `sys mapper`).
    #[command(subcommand)]
    Mapper(MapperCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Set a setting.
    #[command(subcommand)]
    Set(ConfigSet),
    /// Show a setting (the token is shown masked).
    Get { key: ConfigKey },
}

#[derive(Subcommand, Debug)]
pub enum ConfigSet {
    /// The API's base URL, e.g. https://rfd-api.example.com.
    Host { url: String },
    /// The default output format.
    Format {
        #[arg(value_name = "FORMAT")]
        value: Format,
    },
    /// The magic-link client's redirect URI (for `auth login mlink`).
    MlinkRedirect { uri: String },
    /// The magic-link client's secret (for `auth login mlink`).
    MlinkSecret { secret: String },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ConfigKey {
    Host,
    Format,
    Token,
    MlinkRedirect,
    MlinkSecret,
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Log in and store the token in the config file.
    Login(LoginArgs),
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// What to store: the short-lived access token (`id`) or a long-lived API token
    /// created with it (`token`).
    #[arg(short, long, value_enum, default_value = "id", global = true)]
    pub mode: LoginMode,
    /// The scope to ask for.
    #[arg(long, default_value = "full", global = true)]
    pub scope: String,
    /// Days the API token of `-m token` stays valid.
    #[arg(long, default_value_t = 365, global = true)]
    pub days: i64,
    #[command(subcommand)]
    pub via: LoginVia,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMode {
    Id,
    Token,
}

#[derive(Subcommand, Debug)]
pub enum LoginVia {
    /// Google device login.
    Google,
    /// GitHub device login.
    Github,
    /// OAuth device login (`auth login oauth google|github`).
    Oauth { provider: Provider },
    /// A magic link sent by email; you paste the code it carries.
    Mlink {
        email: String,
        /// The channel the magic-link templates are configured for.
        #[arg(long, default_value = "default")]
        channel: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Provider {
    Google,
    Github,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Github => "github",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RfdAttr {
    Discussion,
    Labels,
    State,
}

impl RfdAttr {
    pub fn name(self) -> &'static str {
        match self {
            RfdAttr::Discussion => "discussion",
            RfdAttr::Labels => "labels",
            RfdAttr::State => "state",
        }
    }
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    pub query: String,
    #[arg(long)]
    pub limit: Option<u32>,
    #[arg(long)]
    pub offset: Option<u32>,
    #[arg(long)]
    pub highlight_pre_tag: Option<String>,
    #[arg(long)]
    pub highlight_post_tag: Option<String>,
}

#[derive(Args, Debug)]
pub struct Page {
    #[arg(long)]
    pub limit: Option<i64>,
    #[arg(long)]
    pub offset: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum RevisionCommand {
    /// The revisions of an RFD, newest first.
    List {
        number: String,
        #[command(flatten)]
        page: Page,
    },
    /// One revision with its document.
    View { number: String, revision: String },
    /// One revision without its document.
    Meta { number: String, revision: String },
    /// One attribute of a revision.
    Attr { number: String, revision: String, attr: RfdAttr },
    /// The discussion of a revision.
    Discussion { number: String, revision: String },
    /// The PDFs of a revision.
    Pdf { number: String, revision: String },
    /// Mark a revision as a major change or not.
    Update {
        number: String,
        revision: String,
        #[arg(long)]
        major_change: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum EditCommand {
    /// Set an attribute in the document (commits to the repository).
    Attr {
        number: String,
        attr: RfdAttr,
        value: String,
        #[arg(long)]
        message: Option<String>,
    },
    /// Replace the document's body, keeping its header, with a file's contents.
    Content {
        number: String,
        file: PathBuf,
        #[arg(long)]
        message: Option<String>,
    },
    /// Replace the whole document with a file's contents (`POST /rfd/{n}/raw`).
    #[command(visible_alias = "raw")]
    Document {
        number: String,
        file: PathBuf,
        #[arg(long)]
        message: Option<String>,
    },
    /// Make an RFD public or private.
    Visibility { number: String, visibility: VisibilityArg },
    /// Move an RFD to `published`.
    Publish { number: String },
    /// Move an RFD to `discussion`.
    Discuss { number: String },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum VisibilityArg {
    Public,
    Private,
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// The jobs of an RFD, newest first.
    List {
        #[arg(long)]
        rfd: String,
        #[command(flatten)]
        page: Page,
    },
    /// Jobs by queue state (e.g. `failed`, the dead letter).
    Queue {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        rfd: Option<i32>,
        #[command(flatten)]
        page: Page,
    },
    /// Put a failed job back in the queue.
    Retry { id: i32 },
}

#[derive(Subcommand, Debug)]
pub enum SysCommand {
    /// Users, their permissions, groups, tokens and contact email.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups and their members.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Login mappers.
    #[command(subcommand)]
    Mapper(MapperCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Oauth(ClientCommand),
    /// Magic-link clients.
    #[command(subcommand)]
    Mlink(ClientCommand),
}

/// A request body: a JSON file (`/dev/stdin` reads standard input).
#[derive(Args, Debug)]
pub struct JsonBody {
    #[arg(long, value_name = "FILE")]
    pub json_body: Option<PathBuf>,
}

/// Permissions and groups given as flags, when no `--json-body` is given.
#[derive(Args, Debug)]
pub struct Grants {
    /// A permission: a name (`GetRfdsAll`) or JSON (`{"GetRfd": 12}`); repeatable.
    #[arg(long = "permission", value_name = "PERMISSION")]
    pub permissions: Vec<String>,
    /// A group id; repeatable.
    #[arg(long = "group", value_name = "GROUP_ID")]
    pub groups: Vec<uuid::Uuid>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Every user you may see.
    List,
    /// The user you are logged in as.
    #[command(name = "self")]
    Me,
    /// One user.
    Get { id: uuid::Uuid },
    /// Create a user with permissions and groups (flags or --json-body).
    Create {
        #[command(flatten)]
        grants: Grants,
        #[command(flatten)]
        body: JsonBody,
    },
    /// Replace a user's permissions (flags or --json-body).
    Update {
        id: uuid::Uuid,
        #[command(flatten)]
        grants: Grants,
        #[command(flatten)]
        body: JsonBody,
    },
    /// Add or remove a permission.
    #[command(subcommand)]
    Permission(PermissionCommand),
    /// A user's contact email.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// A user's API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// A user's access tokens (JWTs), to review and revoke.
    #[command(subcommand)]
    AccessToken(AccessTokenCommand),
    /// Revoke every token and API key of a user.
    Revoke { id: uuid::Uuid },
    /// Create a token that lets another user take over one of your login providers.
    LinkToken {
        provider_id: uuid::Uuid,
        /// The user who will redeem it.
        #[arg(long)]
        user: uuid::Uuid,
    },
    /// Redeem a link token: move its provider to user ID (yourself).
    Link {
        id: uuid::Uuid,
        #[arg(long)]
        token: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PermissionCommand {
    Add { id: uuid::Uuid, permission: String },
    Remove { id: uuid::Uuid, permission: String },
}

#[derive(Subcommand, Debug)]
pub enum ContactCommand {
    /// The contact email.
    #[command(subcommand)]
    Email(ContactEmailCommand),
}

#[derive(Subcommand, Debug)]
pub enum ContactEmailCommand {
    Set { id: uuid::Uuid, email: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    List {
        id: uuid::Uuid,
    },
    Get {
        id: uuid::Uuid,
        token_id: uuid::Uuid,
    },
    /// Create an API token; its secret is printed once.
    Create {
        id: uuid::Uuid,
        /// Days until it expires.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Limit it to these permissions; repeatable.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[command(flatten)]
        body: JsonBody,
    },
    Delete {
        id: uuid::Uuid,
        token_id: uuid::Uuid,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccessTokenCommand {
    List { id: uuid::Uuid },
    Revoke { id: uuid::Uuid, token_id: uuid::Uuid },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    List,
    /// Create a group (flags or --json-body).
    Create {
        #[arg(long, required_unless_present = "json_body")]
        name: Option<String>,
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[command(flatten)]
        body: JsonBody,
    },
    /// Replace a group's name and permissions (flags or --json-body).
    Update {
        id: uuid::Uuid,
        #[arg(long, required_unless_present = "json_body")]
        name: Option<String>,
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[command(flatten)]
        body: JsonBody,
    },
    Delete {
        id: uuid::Uuid,
    },
    /// Group members.
    #[command(subcommand)]
    Membership(MembershipCommand),
}

#[derive(Subcommand, Debug)]
pub enum MembershipCommand {
    List { group: uuid::Uuid },
    Add { group: uuid::Uuid, user: uuid::Uuid },
    Remove { group: uuid::Uuid, user: uuid::Uuid },
}

#[derive(Subcommand, Debug)]
pub enum MapperCommand {
    List {
        #[arg(long)]
        include_depleted: bool,
    },
    /// Create a mapper from JSON: {"name", "rule": {"rule": "email_domain", …}, "max_activations"?}.
    Create {
        #[arg(long, value_name = "FILE")]
        json_body: PathBuf,
    },
    Delete {
        id: uuid::Uuid,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    List,
    Create,
    Get {
        id: uuid::Uuid,
    },
    /// Redirect URIs.
    #[command(subcommand)]
    Redirect(RedirectCommand),
    /// Secrets (a new one is printed once).
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Subcommand, Debug)]
pub enum RedirectCommand {
    Create { id: uuid::Uuid, redirect_uri: String },
    Delete { id: uuid::Uuid, redirect_uri_id: uuid::Uuid },
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    Create { id: uuid::Uuid },
    Delete { id: uuid::Uuid, secret_id: uuid::Uuid },
}
