//! Permissions: the reference API's JSON encoding, what each one implies, OAuth scopes,
//! and the one function every RFD-revealing endpoint uses to decide what a caller may
//! read ([`read_scope`]).
//!
//! Every permission is reduced to *grants*: an [`Action`] on a [`Target`] (`GetRfds:
//! [1, 2]` is `GetRfd` on 1 and on 2; `GetRfdsAll` is `GetRfd` on everything). A set of
//! permissions allows a permission when it allows each of its grants; a grant on `All`
//! allows every grant of the same action. So `*All` implies the specific and set forms,
//! and a set implies its members, without a table of special cases.

use std::collections::BTreeSet;

use rfd_model::ReadScope;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One permission, encoded as the reference API does: unit variants as strings
/// (`"GetRfdsAll"`), data variants as single-key objects (`{"GetRfd": 123}`,
/// `{"GetRfds": [1, 2]}`). Values this service does not know are kept as `Unsupported`
/// (they grant nothing), so a stored permission never makes a user unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RfdPermission")]
pub enum Permission {
    GetRfd(i32),
    GetRfds(BTreeSet<i32>),
    GetRfdsAssigned,
    GetRfdsAll,
    CreateRfd,
    UpdateRfd(i32),
    UpdateRfds(BTreeSet<i32>),
    UpdateRfdsAssigned,
    UpdateRfdsAll,
    ManageRfdVisibility(i32),
    ManageRfdsVisibility(BTreeSet<i32>),
    ManageRfdsVisibilityAssigned,
    ManageRfdsVisibilityAll,
    GetDiscussion(i32),
    GetDiscussions(BTreeSet<i32>),
    GetDiscussionsAssigned,
    GetDiscussionsAll,
    SearchRfds,
    CreateApiUser,
    GetApiUser(Uuid),
    GetApiUsers(BTreeSet<Uuid>),
    GetApiUserSelf,
    GetApiUsersAssigned,
    GetApiUsersAll,
    ManageApiUser(Uuid),
    ManageApiUsers(BTreeSet<Uuid>),
    ManageApiUsersAssigned,
    ManageApiUsersAll,
    CreateApiKey(Uuid),
    CreateApiKeySelf,
    CreateApiKeyAssigned,
    CreateApiKeyAll,
    GetApiKey(Uuid),
    GetApiKeys(BTreeSet<Uuid>),
    GetApiKeysAssigned,
    GetApiKeysAll,
    ManageApiKey(Uuid),
    ManageApiKeys(BTreeSet<Uuid>),
    ManageApiKeysAssigned,
    ManageApiKeysAll,
    CreateUserApiProviderLinkToken,
    CreateGroup,
    GetGroup(Uuid),
    GetGroupsJoined,
    GetGroupsAll,
    ManageGroup(Uuid),
    ManageGroups(BTreeSet<Uuid>),
    ManageGroupsAssigned,
    ManageGroupsAll,
    ManageGroupMembership(Uuid),
    ManageGroupMemberships(BTreeSet<Uuid>),
    ManageGroupMembershipsAssigned,
    ManageGroupMembershipsAll,
    CreateMapper,
    GetMappersAll,
    ManageMapper(Uuid),
    ManageMappers(BTreeSet<Uuid>),
    ManageMappersAssigned,
    ManageMappersAll,
    CreateOAuthClient,
    GetOAuthClient(Uuid),
    GetOAuthClients(BTreeSet<Uuid>),
    GetOAuthClientsAssigned,
    GetOAuthClientsAll,
    ManageOAuthClient(Uuid),
    ManageOAuthClients(BTreeSet<Uuid>),
    ManageOAuthClientsAssigned,
    ManageOAuthClientsAll,
    CreateMagicLinkClient,
    GetMagicLinkClient(Uuid),
    GetMagicLinkClients(BTreeSet<Uuid>),
    GetMagicLinkClientsAssigned,
    GetMagicLinkClientsAll,
    ManageMagicLinkClient(Uuid),
    ManageMagicLinkClients(BTreeSet<Uuid>),
    ManageMagicLinkClientsAssigned,
    ManageMagicLinkClientsAll,
    CreateAccessToken,
    RetrieveRemoteAccessToken,
    /// A value this service does not understand; grants nothing.
    #[serde(untagged)]
    Unsupported(serde_json::Value),
}

/// What a grant lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    GetRfd,
    CreateRfd,
    UpdateRfd,
    ManageRfdVisibility,
    GetDiscussion,
    SearchRfds,
    CreateApiUser,
    GetApiUser,
    ManageApiUser,
    CreateApiKey,
    GetApiKey,
    ManageApiKey,
    CreateUserApiProviderLinkToken,
    CreateGroup,
    GetGroup,
    ManageGroup,
    ManageGroupMembership,
    CreateMapper,
    GetMapper,
    ManageMapper,
    CreateOAuthClient,
    GetOAuthClient,
    ManageOAuthClient,
    CreateMagicLinkClient,
    GetMagicLinkClient,
    ManageMagicLinkClient,
    CreateAccessToken,
    RetrieveRemoteAccessToken,
}

/// What a grant applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// An action without an object (`CreateRfd`, `SearchRfds`).
    Unit,
    /// Every object (`*All`).
    All,
    /// The objects assigned to the holder (`*Assigned`): the specific grants it holds.
    Assigned,
    /// The holder itself (`GetApiUserSelf`, `CreateApiKeySelf`), before resolution.
    SelfUser,
    /// The groups the holder belongs to (`GetGroupsJoined`), before resolution.
    Joined,
    /// One RFD.
    Number(i32),
    /// One user, key, group, mapper or client.
    Id(Uuid),
}

/// One action on one target.
pub type Grant = (Action, Target);

fn numbers(action: Action, set: &BTreeSet<i32>) -> Vec<Grant> {
    set.iter().map(|n| (action, Target::Number(*n))).collect()
}

fn ids(action: Action, set: &BTreeSet<Uuid>) -> Vec<Grant> {
    set.iter().map(|id| (action, Target::Id(*id))).collect()
}

impl Permission {
    /// The grants this permission stands for (none for `Unsupported`, and none for an
    /// empty set).
    pub fn grants(&self) -> Vec<Grant> {
        use Action as A;
        use Permission as P;
        use Target as T;
        match self {
            P::GetRfd(n) => vec![(A::GetRfd, T::Number(*n))],
            P::GetRfds(s) => numbers(A::GetRfd, s),
            P::GetRfdsAssigned => vec![(A::GetRfd, T::Assigned)],
            P::GetRfdsAll => vec![(A::GetRfd, T::All)],
            P::CreateRfd => vec![(A::CreateRfd, T::Unit)],
            P::UpdateRfd(n) => vec![(A::UpdateRfd, T::Number(*n))],
            P::UpdateRfds(s) => numbers(A::UpdateRfd, s),
            P::UpdateRfdsAssigned => vec![(A::UpdateRfd, T::Assigned)],
            P::UpdateRfdsAll => vec![(A::UpdateRfd, T::All)],
            P::ManageRfdVisibility(n) => vec![(A::ManageRfdVisibility, T::Number(*n))],
            P::ManageRfdsVisibility(s) => numbers(A::ManageRfdVisibility, s),
            P::ManageRfdsVisibilityAssigned => vec![(A::ManageRfdVisibility, T::Assigned)],
            P::ManageRfdsVisibilityAll => vec![(A::ManageRfdVisibility, T::All)],
            P::GetDiscussion(n) => vec![(A::GetDiscussion, T::Number(*n))],
            P::GetDiscussions(s) => numbers(A::GetDiscussion, s),
            P::GetDiscussionsAssigned => vec![(A::GetDiscussion, T::Assigned)],
            P::GetDiscussionsAll => vec![(A::GetDiscussion, T::All)],
            P::SearchRfds => vec![(A::SearchRfds, T::Unit)],
            P::CreateApiUser => vec![(A::CreateApiUser, T::Unit)],
            P::GetApiUser(id) => vec![(A::GetApiUser, T::Id(*id))],
            P::GetApiUsers(s) => ids(A::GetApiUser, s),
            P::GetApiUserSelf => vec![(A::GetApiUser, T::SelfUser)],
            P::GetApiUsersAssigned => vec![(A::GetApiUser, T::Assigned)],
            P::GetApiUsersAll => vec![(A::GetApiUser, T::All)],
            P::ManageApiUser(id) => vec![(A::ManageApiUser, T::Id(*id))],
            P::ManageApiUsers(s) => ids(A::ManageApiUser, s),
            P::ManageApiUsersAssigned => vec![(A::ManageApiUser, T::Assigned)],
            P::ManageApiUsersAll => vec![(A::ManageApiUser, T::All)],
            P::CreateApiKey(id) => vec![(A::CreateApiKey, T::Id(*id))],
            P::CreateApiKeySelf => vec![(A::CreateApiKey, T::SelfUser)],
            P::CreateApiKeyAssigned => vec![(A::CreateApiKey, T::Assigned)],
            P::CreateApiKeyAll => vec![(A::CreateApiKey, T::All)],
            P::GetApiKey(id) => vec![(A::GetApiKey, T::Id(*id))],
            P::GetApiKeys(s) => ids(A::GetApiKey, s),
            P::GetApiKeysAssigned => vec![(A::GetApiKey, T::Assigned)],
            P::GetApiKeysAll => vec![(A::GetApiKey, T::All)],
            P::ManageApiKey(id) => vec![(A::ManageApiKey, T::Id(*id))],
            P::ManageApiKeys(s) => ids(A::ManageApiKey, s),
            P::ManageApiKeysAssigned => vec![(A::ManageApiKey, T::Assigned)],
            P::ManageApiKeysAll => vec![(A::ManageApiKey, T::All)],
            P::CreateUserApiProviderLinkToken => vec![(A::CreateUserApiProviderLinkToken, T::Unit)],
            P::CreateGroup => vec![(A::CreateGroup, T::Unit)],
            P::GetGroup(id) => vec![(A::GetGroup, T::Id(*id))],
            P::GetGroupsJoined => vec![(A::GetGroup, T::Joined)],
            P::GetGroupsAll => vec![(A::GetGroup, T::All)],
            P::ManageGroup(id) => vec![(A::ManageGroup, T::Id(*id))],
            P::ManageGroups(s) => ids(A::ManageGroup, s),
            P::ManageGroupsAssigned => vec![(A::ManageGroup, T::Assigned)],
            P::ManageGroupsAll => vec![(A::ManageGroup, T::All)],
            P::ManageGroupMembership(id) => vec![(A::ManageGroupMembership, T::Id(*id))],
            P::ManageGroupMemberships(s) => ids(A::ManageGroupMembership, s),
            P::ManageGroupMembershipsAssigned => vec![(A::ManageGroupMembership, T::Assigned)],
            P::ManageGroupMembershipsAll => vec![(A::ManageGroupMembership, T::All)],
            P::CreateMapper => vec![(A::CreateMapper, T::Unit)],
            P::GetMappersAll => vec![(A::GetMapper, T::All)],
            P::ManageMapper(id) => vec![(A::ManageMapper, T::Id(*id))],
            P::ManageMappers(s) => ids(A::ManageMapper, s),
            P::ManageMappersAssigned => vec![(A::ManageMapper, T::Assigned)],
            P::ManageMappersAll => vec![(A::ManageMapper, T::All)],
            P::CreateOAuthClient => vec![(A::CreateOAuthClient, T::Unit)],
            P::GetOAuthClient(id) => vec![(A::GetOAuthClient, T::Id(*id))],
            P::GetOAuthClients(s) => ids(A::GetOAuthClient, s),
            P::GetOAuthClientsAssigned => vec![(A::GetOAuthClient, T::Assigned)],
            P::GetOAuthClientsAll => vec![(A::GetOAuthClient, T::All)],
            P::ManageOAuthClient(id) => vec![(A::ManageOAuthClient, T::Id(*id))],
            P::ManageOAuthClients(s) => ids(A::ManageOAuthClient, s),
            P::ManageOAuthClientsAssigned => vec![(A::ManageOAuthClient, T::Assigned)],
            P::ManageOAuthClientsAll => vec![(A::ManageOAuthClient, T::All)],
            P::CreateMagicLinkClient => vec![(A::CreateMagicLinkClient, T::Unit)],
            P::GetMagicLinkClient(id) => vec![(A::GetMagicLinkClient, T::Id(*id))],
            P::GetMagicLinkClients(s) => ids(A::GetMagicLinkClient, s),
            P::GetMagicLinkClientsAssigned => vec![(A::GetMagicLinkClient, T::Assigned)],
            P::GetMagicLinkClientsAll => vec![(A::GetMagicLinkClient, T::All)],
            P::ManageMagicLinkClient(id) => vec![(A::ManageMagicLinkClient, T::Id(*id))],
            P::ManageMagicLinkClients(s) => ids(A::ManageMagicLinkClient, s),
            P::ManageMagicLinkClientsAssigned => vec![(A::ManageMagicLinkClient, T::Assigned)],
            P::ManageMagicLinkClientsAll => vec![(A::ManageMagicLinkClient, T::All)],
            P::CreateAccessToken => vec![(A::CreateAccessToken, T::Unit)],
            P::RetrieveRemoteAccessToken => vec![(A::RetrieveRemoteAccessToken, T::Unit)],
            P::Unsupported(_) => Vec::new(),
        }
    }

    /// The permission whose only grant is `grant`, used to report what a caller holds.
    fn of_grant(grant: Grant) -> Option<Self> {
        use Action as A;
        use Permission as P;
        use Target as T;
        Some(match grant {
            (A::GetRfd, T::Number(n)) => P::GetRfd(n),
            (A::UpdateRfd, T::Number(n)) => P::UpdateRfd(n),
            (A::ManageRfdVisibility, T::Number(n)) => P::ManageRfdVisibility(n),
            (A::GetDiscussion, T::Number(n)) => P::GetDiscussion(n),
            (A::GetApiUser, T::Id(id)) => P::GetApiUser(id),
            (A::ManageApiUser, T::Id(id)) => P::ManageApiUser(id),
            (A::CreateApiKey, T::Id(id)) => P::CreateApiKey(id),
            (A::GetApiKey, T::Id(id)) => P::GetApiKey(id),
            (A::ManageApiKey, T::Id(id)) => P::ManageApiKey(id),
            (A::GetGroup, T::Id(id)) => P::GetGroup(id),
            (A::ManageGroup, T::Id(id)) => P::ManageGroup(id),
            (A::ManageGroupMembership, T::Id(id)) => P::ManageGroupMembership(id),
            (A::ManageMapper, T::Id(id)) => P::ManageMapper(id),
            (A::GetOAuthClient, T::Id(id)) => P::GetOAuthClient(id),
            (A::ManageOAuthClient, T::Id(id)) => P::ManageOAuthClient(id),
            (A::GetMagicLinkClient, T::Id(id)) => P::GetMagicLinkClient(id),
            (A::ManageMagicLinkClient, T::Id(id)) => P::ManageMagicLinkClient(id),
            _ => return None,
        })
    }
}

/// A set of permissions held together (a user's own plus its groups', or a token's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Permissions(pub Vec<Permission>);

impl<const N: usize> From<[Permission; N]> for Permissions {
    fn from(list: [Permission; N]) -> Self {
        Self(list.into())
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut out = Self::default();
        for permission in iter {
            out.insert(permission);
        }
        out
    }
}

impl Permissions {
    /// Adds a permission unless an equal one is already present.
    pub fn insert(&mut self, permission: Permission) {
        if !self.0.contains(&permission) {
            self.0.push(permission);
        }
    }

    /// Adds every permission of `other`.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Permission>) {
        for permission in other {
            self.insert(permission);
        }
    }

    /// Removes permissions equal to `permission`; returns whether any was.
    pub fn remove(&mut self, permission: &Permission) -> bool {
        let before = self.0.len();
        self.0.retain(|held| held != permission);
        before != self.0.len()
    }

    /// The permissions held.
    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    fn held_grants(&self) -> Vec<Grant> {
        self.0.iter().flat_map(Permission::grants).collect()
    }

    /// Whether these permissions allow one grant.
    pub fn allows_grant(&self, grant: Grant) -> bool {
        let (action, target) = grant;
        self.0.iter().flat_map(Permission::grants).any(|(held_action, held_target)| {
            held_action == action && (held_target == Target::All || held_target == target)
        })
    }

    /// Whether these permissions allow everything `permission` grants. This is also the
    /// grant rule: a caller may give out exactly what it can do.
    pub fn can(&self, permission: &Permission) -> bool {
        permission.grants().into_iter().all(|grant| self.allows_grant(grant))
    }

    /// Whether a caller holding these may grant `permission` (see [`Permissions::can`]).
    /// `Unsupported` values are never grantable.
    pub fn can_grant(&self, permission: &Permission) -> bool {
        !matches!(permission, Permission::Unsupported(_)) && self.can(permission)
    }

    /// Whether a caller holding these may grant all of `permissions`.
    pub fn can_grant_all<'a>(&self, permissions: impl IntoIterator<Item = &'a Permission>) -> bool {
        permissions.into_iter().all(|permission| self.can_grant(permission))
    }

    /// Replaces the relative forms by what they mean for this holder: `*Self` by the
    /// holder's id, `GetGroupsJoined` by the groups it is in. The relative forms are kept
    /// too, so a holder can pass them on.
    pub fn resolve(mut self, user: Uuid, groups: &[Uuid]) -> Self {
        let mut added = Vec::new();
        for permission in &self.0 {
            match permission {
                Permission::GetApiUserSelf => added.push(Permission::GetApiUser(user)),
                Permission::CreateApiKeySelf => added.push(Permission::CreateApiKey(user)),
                Permission::GetGroupsJoined => added.extend(groups.iter().copied().map(Permission::GetGroup)),
                _ => {}
            }
        }
        self.extend(added);
        self
    }

    /// The part of these that `boundary` also allows: what a bounded API key or a
    /// scoped token may do. Each permission is kept when the boundary allows it, else
    /// narrowed to the grants the boundary allows (so a boundary of `GetRfd(5)` on a
    /// user holding `GetRfdsAll` leaves `GetRfd(5)`, and the reverse too).
    pub fn intersect(&self, boundary: &Permissions) -> Permissions {
        let mut out = Permissions::default();
        for permission in &self.0 {
            if boundary.can(permission) {
                out.insert(permission.clone());
            }
        }
        for permission in &boundary.0 {
            if self.can(permission) {
                out.insert(permission.clone());
            } else {
                for grant in permission.grants() {
                    if self.allows_grant(grant)
                        && let Some(narrow) = Permission::of_grant(grant)
                    {
                        out.insert(narrow);
                    }
                }
            }
        }
        out
    }

    /// Only the permissions whose actions are all in `actions` (what a scoped token keeps).
    pub fn restrict_to(&self, actions: &BTreeSet<Action>) -> Permissions {
        self.0
            .iter()
            .filter(|permission| {
                let grants = permission.grants();
                !grants.is_empty() && grants.iter().all(|(action, _)| actions.contains(action))
            })
            .cloned()
            .collect()
    }

    /// The RFD numbers individually granted for `action`.
    fn numbers_for(&self, action: Action) -> Vec<i32> {
        let mut numbers: Vec<i32> = self
            .held_grants()
            .into_iter()
            .filter_map(|(held, target)| match target {
                Target::Number(n) if held == action => Some(n),
                _ => None,
            })
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    /// Parses a stored JSON array; entries this service does not know become
    /// `Unsupported` (never an error, so old data stays readable).
    pub fn from_json(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| {
                    serde_json::from_value(item.clone())
                        .unwrap_or_else(|_| Permission::Unsupported(item.clone()))
                })
                .collect(),
            _ => Self::default(),
        }
    }

    /// The JSON array stored in the database.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
    }
}

/// Which RFDs a caller may read: `GetRfdsAll` reads everything; otherwise public RFDs
/// plus those granted by number (`GetRfd`, `GetRfds`). Every endpoint that reveals an
/// RFD, its revisions, PDFs, search hits or jobs takes its scope from here.
pub fn read_scope(permissions: &Permissions) -> ReadScope {
    if permissions.allows_grant((Action::GetRfd, Target::All)) {
        ReadScope::All
    } else {
        ReadScope::PublicAnd(permissions.numbers_for(Action::GetRfd))
    }
}

/// The scopes a token may be issued with, and the actions each allows.
pub const SCOPES: &[(&str, &[Action])] = &[
    ("rfd:content:r", &[Action::GetRfd]),
    ("rfd:content:w", &[Action::CreateRfd, Action::UpdateRfd]),
    ("rfd:visibility:w", &[Action::ManageRfdVisibility]),
    ("rfd:discussion:r", &[Action::GetDiscussion]),
    ("search", &[Action::SearchRfds]),
    ("user:info:r", &[Action::GetApiUser]),
    ("user:info:w", &[Action::CreateApiUser, Action::ManageApiUser]),
    ("user:token:r", &[Action::GetApiKey]),
    ("user:token:w", &[Action::CreateApiKey, Action::ManageApiKey]),
    ("user:provider:w", &[Action::CreateUserApiProviderLinkToken]),
    ("group:info:r", &[Action::GetGroup]),
    ("group:info:w", &[Action::CreateGroup, Action::ManageGroup]),
    ("group:membership:w", &[Action::ManageGroupMembership]),
    ("mapper:r", &[Action::GetMapper]),
    ("mapper:w", &[Action::CreateMapper, Action::ManageMapper]),
    ("oauth:client:r", &[Action::GetOAuthClient]),
    ("oauth:client:w", &[Action::CreateOAuthClient, Action::ManageOAuthClient]),
    ("mlink:client:r", &[Action::GetMagicLinkClient]),
    ("mlink:client:w", &[Action::CreateMagicLinkClient, Action::ManageMagicLinkClient]),
];

/// The scope that allows everything the user holds.
pub const FULL_SCOPE: &str = "full";

/// A parsed token scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything the user holds.
    Full,
    /// Only permissions whose actions are all in this set.
    Actions(BTreeSet<Action>),
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A word that is not a scope.
    #[error("unknown scope `{0}`")]
    Unknown(String),
    /// `full` together with other scopes.
    #[error("`full` must be the only scope")]
    FullNotAlone,
}

impl Scope {
    /// Parses a space-separated scope string. An empty string is a scope that allows
    /// nothing.
    pub fn parse(scope: &str) -> Result<Self, ScopeError> {
        let words: Vec<&str> = scope.split_whitespace().collect();
        if words.contains(&FULL_SCOPE) {
            return if words.len() == 1 { Ok(Self::Full) } else { Err(ScopeError::FullNotAlone) };
        }
        let mut actions = BTreeSet::new();
        for word in words {
            let (_, allowed) = SCOPES
                .iter()
                .find(|(name, _)| *name == word)
                .ok_or_else(|| ScopeError::Unknown(word.to_string()))?;
            actions.extend(allowed.iter().copied());
        }
        Ok(Self::Actions(actions))
    }

    /// What a token with this scope may do, of everything its user holds.
    pub fn apply(&self, permissions: &Permissions) -> Permissions {
        match self {
            Self::Full => permissions.clone(),
            Self::Actions(actions) => permissions.restrict_to(actions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perms(value: serde_json::Value) -> Permissions {
        Permissions::from_json(&value)
    }

    #[test]
    fn json_encoding_matches_the_reference() {
        let list = perms(json!(["GetRfdsAll", {"GetRfd": 123}, {"GetRfds": [2, 1]}, "SearchRfds"]));
        assert_eq!(
            list.0,
            vec![
                Permission::GetRfdsAll,
                Permission::GetRfd(123),
                Permission::GetRfds(BTreeSet::from([1, 2])),
                Permission::SearchRfds
            ]
        );
        assert_eq!(list.to_json(), json!(["GetRfdsAll", {"GetRfd": 123}, {"GetRfds": [1, 2]}, "SearchRfds"]));
        let id = Uuid::new_v4();
        assert_eq!(serde_json::to_value(Permission::GetApiUser(id)).ok(), Some(json!({"GetApiUser": id})));
    }

    #[test]
    fn unknown_values_are_kept_and_grant_nothing() {
        let list = perms(json!(["NoSuchThing", {"GetRfd": "x"}]));
        assert_eq!(list.0.len(), 2);
        assert!(list.0.iter().all(|p| matches!(p, Permission::Unsupported(_))));
        assert_eq!(list.to_json(), json!(["NoSuchThing", {"GetRfd": "x"}]));
        assert!(!list.can(&Permission::GetRfd(1)));
        assert!(!list.can_grant(&Permission::Unsupported(json!("NoSuchThing"))));
    }

    #[test]
    fn all_implies_specific_and_set_forms() {
        let admin = Permissions::from([Permission::GetRfdsAll]);
        assert!(admin.can(&Permission::GetRfd(7)));
        assert!(admin.can(&Permission::GetRfds(BTreeSet::from([1, 2, 3]))));
        assert!(admin.can(&Permission::GetRfdsAssigned));
        assert!(!admin.can(&Permission::UpdateRfd(7)));
        let id = Uuid::new_v4();
        let users = Permissions::from([Permission::ManageApiUsersAll]);
        assert!(users.can(&Permission::ManageApiUser(id)));
        assert!(users.can(&Permission::ManageApiUsers(BTreeSet::from([id]))));
        assert!(!users.can(&Permission::GetApiUser(id)));
    }

    #[test]
    fn a_set_implies_its_members_and_subsets_only() {
        let held = Permissions::from([Permission::GetRfds(BTreeSet::from([1, 2]))]);
        assert!(held.can(&Permission::GetRfd(1)));
        assert!(held.can(&Permission::GetRfds(BTreeSet::from([2]))));
        assert!(!held.can(&Permission::GetRfd(3)));
        assert!(!held.can(&Permission::GetRfds(BTreeSet::from([2, 3]))));
        assert!(!held.can(&Permission::GetRfdsAll));
        // Singles add up to a set.
        let singles = Permissions::from([Permission::GetRfd(1), Permission::GetRfd(2)]);
        assert!(singles.can(&Permission::GetRfds(BTreeSet::from([1, 2]))));
    }

    #[test]
    fn specific_never_implies_all() {
        let held = Permissions::from([Permission::GetRfd(1)]);
        assert!(!held.can(&Permission::GetRfdsAll));
        assert!(!held.can(&Permission::GetRfdsAssigned));
    }

    #[test]
    fn grant_only_what_you_hold() {
        let caller =
            Permissions::from([Permission::GetRfds(BTreeSet::from([1, 2])), Permission::CreateApiUser]);
        assert!(caller.can_grant(&Permission::GetRfd(2)));
        assert!(!caller.can_grant(&Permission::GetRfd(3)));
        assert!(!caller.can_grant(&Permission::GetRfdsAll));
        assert!(caller.can_grant_all([&Permission::GetRfd(1), &Permission::CreateApiUser]));
        assert!(!caller.can_grant_all([&Permission::GetRfd(1), &Permission::CreateGroup]));
    }

    #[test]
    fn groups_are_additive() {
        let mut own = Permissions::from([Permission::GetRfd(1)]);
        own.extend(perms(json!([{"GetRfd": 2}, "SearchRfds"])).0);
        assert!(own.can(&Permission::GetRfds(BTreeSet::from([1, 2]))));
        assert!(own.can(&Permission::SearchRfds));
    }

    #[test]
    fn self_and_joined_resolve_to_the_holder() {
        let me = Uuid::new_v4();
        let other = Uuid::new_v4();
        let group = Uuid::new_v4();
        let held = Permissions::from([
            Permission::GetApiUserSelf,
            Permission::CreateApiKeySelf,
            Permission::GetGroupsJoined,
        ])
        .resolve(me, &[group]);
        assert!(held.can(&Permission::GetApiUser(me)));
        assert!(!held.can(&Permission::GetApiUser(other)));
        assert!(held.can(&Permission::CreateApiKey(me)));
        assert!(held.can(&Permission::GetGroup(group)));
        assert!(!held.can(&Permission::GetGroup(other)));
    }

    #[test]
    fn read_scope_is_all_or_public_and_granted() {
        assert_eq!(read_scope(&Permissions::from([Permission::GetRfdsAll])), ReadScope::All);
        assert_eq!(read_scope(&Permissions::from([Permission::SearchRfds])), ReadScope::PublicAnd(vec![]));
        let held = Permissions::from([
            Permission::GetRfd(9),
            Permission::GetRfds(BTreeSet::from([3, 9])),
            Permission::UpdateRfd(4),
        ]);
        assert_eq!(read_scope(&held), ReadScope::PublicAnd(vec![3, 9]));
    }

    #[test]
    fn scopes_parse_and_restrict() {
        assert_eq!(Scope::parse("full"), Ok(Scope::Full));
        assert_eq!(Scope::parse("full search"), Err(ScopeError::FullNotAlone));
        assert_eq!(Scope::parse("rfd:content:r nope"), Err(ScopeError::Unknown("nope".into())));
        let user =
            Permissions::from([Permission::GetRfd(5), Permission::UpdateRfdsAll, Permission::SearchRfds]);
        let read = Scope::parse("rfd:content:r search").unwrap_or(Scope::Actions(BTreeSet::new()));
        assert_eq!(read.apply(&user).0, vec![Permission::GetRfd(5), Permission::SearchRfds]);
        assert_eq!(Scope::parse("").map(|s| s.apply(&user)), Ok(Permissions::default()));
        assert_eq!(Scope::Full.apply(&user), user);
    }

    #[test]
    fn boundaries_intersect_both_ways() {
        let user = Permissions::from([Permission::GetRfdsAll, Permission::SearchRfds]);
        let boundary = Permissions::from([Permission::GetRfd(5), Permission::CreateGroup]);
        let effective = user.intersect(&boundary);
        assert!(effective.can(&Permission::GetRfd(5)));
        assert!(!effective.can(&Permission::GetRfd(6)));
        assert!(!effective.can(&Permission::SearchRfds));
        assert!(!effective.can(&Permission::CreateGroup));
        let narrow_user = Permissions::from([Permission::GetRfd(5)]);
        let wide_boundary = Permissions::from([Permission::GetRfdsAll]);
        assert_eq!(narrow_user.intersect(&wide_boundary).0, vec![Permission::GetRfd(5)]);
        let set = Permissions::from([Permission::GetRfds(BTreeSet::from([1, 2]))]);
        let partial = Permissions::from([Permission::GetRfds(BTreeSet::from([2, 3]))]);
        assert_eq!(read_scope(&set.intersect(&partial)), ReadScope::PublicAnd(vec![2]));
    }
}
