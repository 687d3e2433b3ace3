//! GitHub webhooks: signature verification, the push event payload, and the plan of
//! which RFDs a push affects.
//!
//! The API verifies the `X-Hub-Signature-256` header over the raw request body with
//! [`verify_signature`], parses the body as a [`PushEvent`], and turns it into jobs with
//! [`plan_push`]. Nothing here does I/O.

use rfd_model::source::rfd_number_of_branch;
use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of the `X-Hub-Signature-256` header value.
const SIGNATURE_PREFIX: &str = "sha256=";

/// The length in hex digits of an HMAC-SHA256 digest.
const DIGEST_HEX_LEN: usize = 64;

/// Pushes listing at least this many commits are treated as possibly truncated: GitHub
/// caps the commit list of a push (at 20 in timeline events, at 2048 in webhook
/// deliveries), so for a long push the listed commits may not be all of them. The lower
/// bound is used so a push through either path is reconciled rather than trusted.
pub const MAX_LISTED_COMMITS: usize = 20;

/// GitHub reports at most this many changed files per commit; a commit listing at least
/// this many may have left some out.
pub const MAX_LISTED_FILES_PER_COMMIT: usize = 3000;

// ---------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------

/// Why a webhook signature was rejected. The messages never contain a secret or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request has no `X-Hub-Signature-256` header.
    #[error("the request has no X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("the X-Hub-Signature-256 header is not `sha256=` followed by 64 hex digits")]
    Malformed,
    /// The header is well formed but no configured secret produces it.
    #[error("the X-Hub-Signature-256 header does not match the request body")]
    Mismatch,
    /// No (non-empty) webhook secret is configured, so no request can be verified.
    #[error("no webhook secret is configured")]
    NoSecretsConfigured,
}

/// Verifies the `X-Hub-Signature-256` header (`header`) of a webhook delivery against its
/// raw `body`.
///
/// The body must be signed with HMAC-SHA256 under one of `secrets`; listing several
/// secrets lets a secret be rotated without dropping deliveries. Digests are compared in
/// constant time, and every secret is tried whether or not an earlier one matched. Empty
/// secrets are ignored (anyone could sign with one); when no non-empty secret is left,
/// the result is [`SignatureError::NoSecretsConfigured`].
pub fn verify_signature<S: AsRef<[u8]>>(
    secrets: &[S],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let mut secrets = secrets.iter().map(AsRef::as_ref).filter(|secret| !secret.is_empty()).peekable();
    if secrets.peek().is_none() {
        return Err(SignatureError::NoSecretsConfigured);
    }

    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let digest_hex = header.strip_prefix(SIGNATURE_PREFIX).ok_or(SignatureError::Malformed)?;
    if digest_hex.len() != DIGEST_HEX_LEN {
        return Err(SignatureError::Malformed);
    }
    let digest = hex::decode(digest_hex).map_err(|_| SignatureError::Malformed)?;

    let mut matched = false;
    for secret in secrets {
        // HMAC accepts keys of any length, so this never fails; a key it refused could
        // not verify anything anyway.
        if let Ok(mut mac) = HmacSha256::new_from_slice(secret) {
            mac.update(body);
            matched |= mac.verify_slice(&digest).is_ok();
        }
    }
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The `X-Hub-Signature-256` header value GitHub would send for `body` signed with
/// `secret`: `sha256=` followed by the lowercase hex HMAC-SHA256 digest.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let digest = match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // Unreachable: HMAC accepts keys of any length. An empty digest never verifies.
        Err(_) => String::new(),
    };
    format!("{SIGNATURE_PREFIX}{digest}")
}

// ---------------------------------------------------------------------------------------
// Push payload
// ---------------------------------------------------------------------------------------

/// A GitHub `push` webhook payload: the fields the platform uses. Unknown fields are
/// ignored, and `installation` is optional so both GitHub App and plain repository
/// webhooks parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    /// The full ref that was pushed: `refs/heads/main`, `refs/tags/v1.0`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit the ref pointed at before the push (all zeros when it was created).
    pub before: String,
    /// The commit the ref points at after the push (all zeros when it was deleted).
    pub after: String,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub forced: bool,
    /// The pushed commits, oldest first. GitHub caps this list; see [`MAX_LISTED_COMMITS`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub commits: Vec<PushCommit>,
    /// The commit `after` points at; `null` when the ref was deleted.
    #[serde(default)]
    pub head_commit: Option<PushCommit>,
    pub repository: Repository,
    /// Present on deliveries to a GitHub App.
    #[serde(default)]
    pub installation: Option<Installation>,
    #[serde(default)]
    pub sender: Option<Sender>,
}

impl PushEvent {
    /// The branch name when the pushed ref is a branch (`refs/heads/<branch>`).
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/").filter(|branch| !branch.is_empty())
    }
}

/// One commit of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushCommit {
    /// The commit SHA.
    pub id: String,
    #[serde(default)]
    pub tree_id: Option<String>,
    /// Whether this commit had not been pushed before.
    #[serde(default)]
    pub distinct: Option<bool>,
    #[serde(default)]
    pub message: Option<String>,
    /// The commit's timestamp, with the offset it was made in.
    pub timestamp: DateTime<FixedOffset>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub author: Option<GitActor>,
    #[serde(default)]
    pub committer: Option<GitActor>,
    /// Paths added by the commit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub added: Vec<String>,
    /// Paths modified by the commit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub modified: Vec<String>,
    /// Paths removed by the commit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub removed: Vec<String>,
}

impl PushCommit {
    /// Every path the commit touched: added, then modified, then removed.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.added.iter().chain(&self.modified).chain(&self.removed).map(String::as_str)
    }

    fn listed_file_count(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }
}

/// The git author or committer of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitActor {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// The GitHub login, when GitHub could match the email to an account.
    #[serde(default)]
    pub username: Option<String>,
}

/// The repository that was pushed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub full_name: Option<String>,
    pub owner: Owner,
    pub default_branch: String,
}

impl Repository {
    /// The owner's login: `owner.login`, else `owner.name`, else the part of
    /// `full_name` before the `/`. `None` when none of them is present and non-empty.
    pub fn owner_login(&self) -> Option<&str> {
        let non_empty = |s: &&str| !s.is_empty();
        self.owner
            .login
            .as_deref()
            .filter(non_empty)
            .or_else(|| self.owner.name.as_deref().filter(non_empty))
            .or_else(|| {
                self.full_name.as_deref().and_then(|full| full.split_once('/')).map(|(owner, _)| owner)
            })
            .filter(non_empty)
    }
}

/// The owner of a repository. Webhooks send `login`; `name` is accepted as a fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The GitHub App installation a delivery was sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub id: i64,
}

/// The account that triggered the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub login: String,
}

/// Deserializes a missing or `null` value as the type's default (an empty list).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------

/// What to do about a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushPlan {
    /// Nothing to do, and why.
    Ignore(IgnoreReason),
    /// Update these RFDs (and possibly reconcile the whole branch).
    Schedule(Schedule),
}

/// Why a push needs no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A tag was pushed (`refs/tags/...`).
    Tag,
    /// The ref is neither a branch nor a tag (`refs/notes/...`, `refs/pull/...`).
    NotABranch,
    /// The branch was deleted.
    BranchDeleted,
    /// The branch is neither the default branch nor an RFD branch (all digits).
    OtherBranch,
    /// No pushed commit touched a file inside an RFD directory.
    NoRfdChanges,
    /// The payload names no repository owner.
    UnknownOwner,
}

impl IgnoreReason {
    /// A short machine-readable name, for logs and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::Tag => "tag",
            IgnoreReason::NotABranch => "not_a_branch",
            IgnoreReason::BranchDeleted => "branch_deleted",
            IgnoreReason::OtherBranch => "other_branch",
            IgnoreReason::NoRfdChanges => "no_rfd_changes",
            IgnoreReason::UnknownOwner => "unknown_owner",
        }
    }
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The work a push calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The repository owner's login.
    pub owner: String,
    /// The repository name.
    pub repository: String,
    /// One update per affected RFD, sorted by RFD number.
    pub updates: Vec<RfdUpdate>,
    /// Set when the push's commit list may be truncated: the caller should reconcile the
    /// whole branch rather than trust `updates` to be complete.
    pub reconcile: Option<Reconcile>,
}

/// Update one RFD from a branch at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfdUpdate {
    pub rfd: i32,
    pub branch: String,
    /// The head commit of the push (`after`).
    pub sha: String,
    /// The head commit's timestamp.
    pub committed_at: DateTime<Utc>,
}

/// Reconcile every RFD on a branch at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconcile {
    pub branch: String,
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

/// The RFD number a repository path belongs to, when it is a file inside an RFD
/// directory: `<rfd_dir>/<digits>/<something>`, with 1 to 9 digits. `rfd_dir` is the
/// RFD directory (`rfd`, `docs/rfd`); surrounding slashes are ignored, and an empty one
/// means the repository root.
pub fn rfd_number_of_path(path: &str, rfd_dir: &str) -> Option<i32> {
    let rfd_dir = rfd_dir.trim_matches('/');
    let rest = if rfd_dir.is_empty() { path } else { path.strip_prefix(rfd_dir)?.strip_prefix('/')? };
    let (number, inside) = rest.split_once('/')?;
    if inside.is_empty() {
        return None;
    }
    rfd_number_of_branch(number)
}

/// Which branches a push can affect RFDs on.
enum BranchKind {
    Default,
    Rfd(i32),
}

/// Decides which RFDs a push affects. `rfd_dir` is the RFD directory in the repository
/// (see [`rfd_number_of_path`]).
///
/// - Only branch pushes count: tags and other refs are ignored, as are branch deletions.
/// - On the default branch every RFD a pushed commit touched is updated; on a branch
///   named by a number (`0123`) only that RFD, and only if it was touched; other branches
///   are ignored.
/// - When the commit list may be truncated (see [`MAX_LISTED_COMMITS`]), the plan also
///   asks for a reconcile of the branch, and on an RFD branch updates that RFD regardless.
pub fn plan_push(event: &PushEvent, rfd_dir: &str) -> PushPlan {
    let Some(branch) = event.branch() else {
        return PushPlan::Ignore(if event.git_ref.starts_with("refs/tags/") {
            IgnoreReason::Tag
        } else {
            IgnoreReason::NotABranch
        });
    };

    let after_is_zero = !event.after.is_empty() && event.after.bytes().all(|b| b == b'0');
    let head = match &event.head_commit {
        Some(head) if !event.deleted && !after_is_zero => head,
        _ => return PushPlan::Ignore(IgnoreReason::BranchDeleted),
    };

    let kind = if branch == event.repository.default_branch {
        BranchKind::Default
    } else if let Some(number) = rfd_number_of_branch(branch) {
        BranchKind::Rfd(number)
    } else {
        return PushPlan::Ignore(IgnoreReason::OtherBranch);
    };

    let truncated = event.commits.len() >= MAX_LISTED_COMMITS
        || event
            .commits
            .iter()
            .chain(Some(head))
            .any(|c| c.listed_file_count() >= MAX_LISTED_FILES_PER_COMMIT);

    let affected: BTreeSet<i32> = event
        .commits
        .iter()
        .chain(Some(head))
        .flat_map(PushCommit::paths)
        .filter_map(|path| rfd_number_of_path(path, rfd_dir))
        .collect();

    let numbers: Vec<i32> = match kind {
        BranchKind::Default => affected.into_iter().collect(),
        BranchKind::Rfd(number) if truncated || affected.contains(&number) => vec![number],
        BranchKind::Rfd(_) => Vec::new(),
    };
    if numbers.is_empty() && !truncated {
        return PushPlan::Ignore(IgnoreReason::NoRfdChanges);
    }

    let Some(owner) = event.repository.owner_login() else {
        return PushPlan::Ignore(IgnoreReason::UnknownOwner);
    };

    let sha = head.id.clone();
    let committed_at = head.timestamp.with_timezone(&Utc);
    let updates = numbers
        .into_iter()
        .map(|rfd| RfdUpdate { rfd, branch: branch.to_string(), sha: sha.clone(), committed_at })
        .collect();
    let reconcile = truncated.then(|| Reconcile { branch: branch.to_string(), sha, committed_at });

    PushPlan::Schedule(Schedule {
        owner: owner.to_string(),
        repository: event.repository.name.clone(),
        updates,
        reconcile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    /// The example from GitHub's "Validating webhook deliveries" documentation.
    const GITHUB_EXAMPLE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn sign_matches_githubs_documented_example() {
        assert_eq!(sign(SECRET, BODY), GITHUB_EXAMPLE);
    }

    #[test]
    fn sign_handles_keys_longer_than_a_block() {
        // RFC 4231 test case 6: a 131-byte key is hashed first.
        let key = [0xaa_u8; 131];
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            sign(&key, data),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn valid_signature_verifies() {
        assert_eq!(verify_signature(&[SECRET], BODY, Some(GITHUB_EXAMPLE)), Ok(()));
        let body = br#"{"ref":"refs/heads/main"}"#;
        let header = sign(b"another secret", body);
        assert_eq!(verify_signature(&["another secret"], body, Some(&header)), Ok(()));
    }

    #[test]
    fn uppercase_hex_and_surrounding_whitespace_verify() {
        let upper = format!("sha256={}", GITHUB_EXAMPLE["sha256=".len()..].to_ascii_uppercase());
        assert_eq!(verify_signature(&[SECRET], BODY, Some(&upper)), Ok(()));
        let padded = format!("  {GITHUB_EXAMPLE} ");
        assert_eq!(verify_signature(&[SECRET], BODY, Some(&padded)), Ok(()));
    }

    #[test]
    fn wrong_secret_or_altered_body_is_a_mismatch() {
        assert_eq!(
            verify_signature(&[b"not the secret".as_slice()], BODY, Some(GITHUB_EXAMPLE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&[SECRET], b"Hello, World?", Some(GITHUB_EXAMPLE)),
            Err(SignatureError::Mismatch)
        );
        // A well-formed digest of the wrong value.
        let zeros = format!("sha256={}", "0".repeat(64));
        assert_eq!(verify_signature(&[SECRET], BODY, Some(&zeros)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn missing_header_is_rejected() {
        assert_eq!(verify_signature(&[SECRET], BODY, None), Err(SignatureError::Missing));
        assert_eq!(verify_signature(&[SECRET], BODY, Some("")), Err(SignatureError::Missing));
        assert_eq!(verify_signature(&[SECRET], BODY, Some("   ")), Err(SignatureError::Missing));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let digest = &GITHUB_EXAMPLE["sha256=".len()..];
        let cases = [
            // No prefix at all.
            digest.to_string(),
            // The legacy SHA-1 header's prefix.
            format!("sha1={digest}"),
            // Prefix in the wrong case.
            format!("SHA256={digest}"),
            // Not hex.
            format!("sha256={}", "zz".repeat(32)),
            // Too short, too long, odd length.
            format!("sha256={}", &digest[..62]),
            format!("sha256={digest}00"),
            format!("sha256={}", &digest[..63]),
            "sha256=".to_string(),
        ];
        for header in &cases {
            assert_eq!(
                verify_signature(&[SECRET], BODY, Some(header)),
                Err(SignatureError::Malformed),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn either_of_two_secrets_verifies() {
        let old = b"old secret".as_slice();
        let new = b"new secret".as_slice();
        let secrets = [old, new];
        assert_eq!(verify_signature(&secrets, BODY, Some(&sign(old, BODY))), Ok(()));
        assert_eq!(verify_signature(&secrets, BODY, Some(&sign(new, BODY))), Ok(()));
        assert_eq!(
            verify_signature(&secrets, BODY, Some(&sign(b"third secret", BODY))),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn no_secrets_is_a_configuration_error() {
        let none: [&[u8]; 0] = [];
        assert_eq!(
            verify_signature(&none, BODY, Some(GITHUB_EXAMPLE)),
            Err(SignatureError::NoSecretsConfigured)
        );
        assert_eq!(verify_signature(&none, BODY, None), Err(SignatureError::NoSecretsConfigured));
    }

    #[test]
    fn empty_secrets_are_never_used() {
        // Anyone can compute a signature with an empty key; it must not verify.
        let forged = sign(b"", BODY);
        assert_eq!(verify_signature(&[""], BODY, Some(&forged)), Err(SignatureError::NoSecretsConfigured));
        assert_eq!(verify_signature(&["", "real"], BODY, Some(&forged)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(&["", "real"], BODY, Some(&sign(b"real", BODY))), Ok(()));
    }

    #[test]
    fn error_messages_reveal_no_secret_or_digest() {
        let secret = "hunter2-very-secret";
        let expected = sign(secret.as_bytes(), BODY);
        let expected_hex = &expected["sha256=".len()..];
        let wrong = sign(b"other", BODY);
        for header in [None, Some("nonsense"), Some(wrong.as_str())] {
            let err = match verify_signature(&[secret], BODY, header) {
                Err(err) => err,
                Ok(()) => panic!("header {header:?} verified"),
            };
            let message = err.to_string();
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains(expected_hex), "{message}");
            assert!(!format!("{err:?}").contains(expected_hex));
        }
    }

    #[test]
    fn rfd_paths() {
        assert_eq!(rfd_number_of_path("rfd/0123/README.adoc", "rfd"), Some(123));
        assert_eq!(rfd_number_of_path("rfd/0001/images/a.png", "rfd"), Some(1));
        assert_eq!(rfd_number_of_path("rfd/7/README.md", "/rfd/"), Some(7));
        assert_eq!(rfd_number_of_path("rfd/123456789/README.md", "rfd"), Some(123_456_789));
        assert_eq!(rfd_number_of_path("docs/rfd/0042/README.md", "docs/rfd"), Some(42));
        assert_eq!(rfd_number_of_path("docs/rfd/0042/README.md", "/docs/rfd/"), Some(42));
        assert_eq!(rfd_number_of_path("0042/README.md", ""), Some(42));

        // Not inside an RFD directory.
        assert_eq!(rfd_number_of_path("rfd/README.md", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/abc/x", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/01a2/x", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/+123/x", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/٣/x", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfdx/0001/a", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd//0001/a", "rfd"), None);
        assert_eq!(rfd_number_of_path("xrfd/0001/a", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/0001", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/0001/", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/1234567890/README.md", "rfd"), None);
        assert_eq!(rfd_number_of_path("rfd/0042/README.md", "docs/rfd"), None);
        assert_eq!(rfd_number_of_path("other/rfd/0042/README.md", "rfd"), None);
        assert_eq!(rfd_number_of_path("src/0042/main.rs", ""), None);
    }
}
