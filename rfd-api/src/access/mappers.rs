//! `/mapper`: rules that grant permissions and groups at login.

use dropshot::HttpError;
use rfd_model::Store;
use uuid::Uuid;

use super::{CreateMapper, MapperView};
use crate::auth::mappers::MappingRule;
use crate::caller::Caller;
use crate::error::{bad_request, conflict, forbidden, not_found, store_error};
use crate::permissions::{Permission, Permissions};

/// `GET /mapper`
pub async fn list(
    store: &Store,
    caller: &Caller,
    include_depleted: bool,
) -> Result<Vec<MapperView>, HttpError> {
    caller.require(&Permission::GetMappersAll)?;
    Ok(store.list_mappers(include_depleted).await.map_err(store_error)?.into_iter().map(Into::into).collect())
}

/// `POST /mapper`: the rule must parse, and (unlike the reference service) the caller
/// must hold everything the mapper would give, directly or through its groups, so a
/// mapper cannot hand out more than its creator has.
pub async fn create(store: &Store, caller: &Caller, params: CreateMapper) -> Result<MapperView, HttpError> {
    caller.require(&Permission::CreateMapper)?;
    if params.name.trim().is_empty() {
        return Err(bad_request("a mapper needs a name"));
    }
    if params.max_activations.is_some_and(|max| max < 0) {
        return Err(bad_request("max_activations must not be negative"));
    }
    let rule: MappingRule = serde_json::from_value(params.rule.clone())
        .map_err(|err| bad_request(format!("invalid rule: {err}")))?;
    let mut gives = rule.permissions().clone();
    let groups = store.list_groups().await.map_err(store_error)?;
    for name in rule.groups() {
        let group = groups
            .iter()
            .find(|g| &g.name == name)
            .ok_or_else(|| bad_request(format!("the rule names a group that does not exist: {name}")))?;
        gives.extend(Permissions::from_json(&group.permissions).0);
    }
    if gives.iter().any(|p| matches!(p, Permission::Unsupported(_))) {
        return Err(bad_request("the rule names an unknown permission"));
    }
    if !caller.permissions.can_grant_all(gives.iter()) {
        return Err(forbidden());
    }
    let rule = serde_json::to_value(&rule).map_err(|err| bad_request(err.to_string()))?;
    let mapper =
        store.create_mapper(params.name.trim(), &rule, params.max_activations).await.map_err(store_error)?;
    tracing::info!(mapper.id = %mapper.id, caller.id = %caller.id, "mapper created");
    Ok(mapper.into())
}

/// `DELETE /mapper/{mapper_id}`: presets belong to mappers.toml (409).
pub async fn delete(store: &Store, caller: &Caller, id: Uuid) -> Result<MapperView, HttpError> {
    caller.require(&Permission::ManageMapper(id))?;
    let mapper = store.get_mapper(id).await.map_err(store_error)?.ok_or_else(|| not_found("mapper"))?;
    if mapper.source == "preset" {
        return Err(conflict("this mapper is defined in mappers.toml; remove it there"));
    }
    Ok(store.delete_mapper(id).await.map_err(store_error)?.into())
}
