//! Users, keys, tokens, groups and mappers against a real PostgreSQL database.

use chrono::{Duration, Utc};
use rfd_model::auth::ProviderIdentity;
use rfd_model::{Page, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

async fn store() -> (rfd_devdb::TestDatabase, Store) {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &Default::default()));
    (db, store)
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

fn identity(provider_id: &str, email: &str) -> ProviderIdentity {
    ProviderIdentity {
        provider: "github".into(),
        provider_id: provider_id.into(),
        emails: vec![email.into()],
        display_names: vec![provider_id.into()],
    }
}

#[tokio::test]
async fn users_groups_and_memberships() {
    let (_db, store) = store().await;
    let group = ok(store.create_group("readers", &json!(["GetRfdsAll"])).await);
    let user = ok(store.create_user(Uuid::new_v4(), &json!(["SearchRfds"]), &[group.id]).await);
    assert_eq!(user.groups, vec![group.id]);
    assert_eq!(user.permissions, json!(["SearchRfds"]));
    assert!(matches!(store.create_group("readers", &json!([])).await, Err(StoreError::Conflict { .. })));

    let other = ok(store.create_group("writers", &json!(["UpdateRfdsAll"])).await);
    let user = ok(store.add_user_to_group(user.id, other.id).await);
    assert_eq!(user.groups.len(), 2);
    assert_eq!(ok(store.group_members(other.id).await).len(), 1);
    let user = ok(store.remove_user_from_group(user.id, group.id).await);
    assert_eq!(user.groups, vec![other.id]);

    // A deleted group disappears from memberships, and its name can be reused.
    ok(store.delete_group(other.id).await);
    assert!(ok(store.get_user(user.id).await).is_some_and(|u| u.groups.is_empty()));
    ok(store.create_group("writers", &json!([])).await);

    let updated = ok(store.update_user_permissions(user.id, |_| json!(["GetRfdsAll"])).await);
    assert_eq!(updated.permissions, json!(["GetRfdsAll"]));
    assert_eq!(ok(store.list_users(Page::default()).await).len(), 1);
}

#[tokio::test]
async fn api_keys_are_found_by_digest_only_while_live() {
    let (_db, store) = store().await;
    let user = ok(store.create_user(Uuid::new_v4(), &json!([]), &[]).await);
    let hash = [7u8; 32];
    let key = ok(store
        .create_api_key(user.id, &hash, Some(&json!(["SearchRfds"])), Utc::now() + Duration::days(1))
        .await);
    let found = ok(store.find_api_key(&hash).await);
    assert_eq!(found.map(|(k, stored)| (k.id, stored)), Some((key.id, hash.to_vec())));
    assert!(ok(store.find_api_key(&[8u8; 32]).await).is_none());

    let expired = [9u8; 32];
    ok(store.create_api_key(user.id, &expired, None, Utc::now() - Duration::seconds(1)).await);
    assert!(ok(store.find_api_key(&expired).await).is_none());
    // Expired keys are still listed; deleted ones are not.
    assert_eq!(ok(store.list_api_keys(user.id, Page::default()).await).len(), 2);
    ok(store.delete_api_key(user.id, key.id).await);
    assert!(ok(store.find_api_key(&hash).await).is_none());
    assert_eq!(ok(store.list_api_keys(user.id, Page::default()).await).len(), 1);
    assert!(matches!(store.delete_api_key(user.id, key.id).await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn access_tokens_revoke_one_and_all() {
    let (_db, store) = store().await;
    let user = ok(store.create_user(Uuid::new_v4(), &json!([]), &[]).await);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let later = Utc::now() + Duration::hours(1);
    ok(store.record_access_token(a, user.id, later).await);
    ok(store.record_access_token(b, user.id, later).await);
    assert!(ok(store.access_token_is_live(a, user.id).await));
    assert!(!ok(store.access_token_is_live(a, Uuid::new_v4()).await));
    ok(store.revoke_access_token(user.id, a).await);
    assert!(!ok(store.access_token_is_live(a, user.id).await));
    assert!(ok(store.access_token_is_live(b, user.id).await));
    ok(store.create_api_key(user.id, &[1u8; 32], None, later).await);
    assert_eq!(ok(store.revoke_all_credentials(user.id).await), (1, 1));
    assert!(!ok(store.access_token_is_live(b, user.id).await));
    assert!(ok(store.find_api_key(&[1u8; 32]).await).is_none());
}

#[tokio::test]
async fn provider_users_are_created_once() {
    let (_db, store) = store().await;
    let (first, created) =
        ok(store.upsert_provider_user(&identity("github-1", "a@example.com"), &json!([])).await);
    assert!(created);
    let (again, created) =
        ok(store.upsert_provider_user(&identity("github-1", "b@example.com"), &json!([])).await);
    assert!(!created);
    assert_eq!(first.id, again.id);
    let providers = ok(store.user_providers(first.id, 10).await);
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].emails, vec!["b@example.com".to_string()]);
    assert_eq!(ok(store.list_users(Page::default()).await).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mapper_activations_never_exceed_the_maximum() {
    let (_db, store) = store().await;
    let mapper = ok(store.create_mapper("first-three", &json!({"rule": "default"}), Some(3)).await);
    let mut users = Vec::new();
    for _ in 0..12 {
        users.push(ok(store.create_user(Uuid::new_v4(), &json!([]), &[]).await).id);
    }
    let tasks: Vec<_> = users
        .iter()
        .map(|user| {
            let store = store.clone();
            let (mapper, user) = (mapper.id, *user);
            tokio::spawn(async move { store.activate_mapper(mapper, user).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if ok(ok(task.await)) {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    let after = ok(store.list_mappers(true).await).pop();
    assert_eq!(after.as_ref().map(|m| m.activations), Some(3));
    assert!(after.is_some_and(|m| m.depleted_at.is_some()));
    assert!(ok(store.list_mappers(false).await).is_empty());
    assert_eq!(ok(store.mapper_event_count(mapper.id).await), 3);
}

#[tokio::test]
async fn a_user_counts_once_per_mapper() {
    let (_db, store) = store().await;
    let mapper = ok(store.create_mapper("two", &json!({"rule": "default"}), Some(2)).await);
    let user = ok(store.create_user(Uuid::new_v4(), &json!([]), &[]).await);
    for _ in 0..3 {
        assert!(ok(store.activate_mapper(mapper.id, user.id).await));
    }
    assert_eq!(ok(store.get_mapper(mapper.id).await).map(|m| m.activations), Some(1));
}

#[tokio::test]
async fn presets_follow_the_file() {
    let (_db, store) = store().await;
    let rule = json!({"rule": "default"});
    let first = ok(store
        .sync_preset_mappers(&[("a".into(), rule.clone(), Some(5)), ("b".into(), rule.clone(), None)])
        .await);
    assert_eq!(first.len(), 2);
    let user = ok(store.create_user(Uuid::new_v4(), &json!([]), &[]).await);
    assert!(ok(store.activate_mapper(first[0].id, user.id).await));

    // Edit a (lower its maximum to what it has used), drop b.
    let edited = json!({"rule": "email_domain", "domain": "example.com"});
    let second = ok(store.sync_preset_mappers(&[("a".into(), edited.clone(), Some(1))]).await);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].rule, edited);
    assert!(second[0].depleted_at.is_some());
    let live = ok(store.list_mappers(true).await);
    assert_eq!(live.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["a"]);

    // Raising the maximum revives it; applying twice changes nothing.
    for _ in 0..2 {
        let third = ok(store.sync_preset_mappers(&[("a".into(), edited.clone(), Some(4))]).await);
        assert!(third[0].depleted_at.is_none());
        assert_eq!(third[0].activations, 1);
    }
    // A dynamic mapper's name cannot be taken by the file.
    ok(store.create_mapper("api-made", &rule, None).await);
    assert!(matches!(
        store.sync_preset_mappers(&[("api-made".into(), rule, None)]).await,
        Err(StoreError::Conflict { .. })
    ));
}

#[tokio::test]
async fn groups_upsert_by_name() {
    let (_db, store) = store().await;
    let a = ok(store.upsert_group("staff", &json!(["SearchRfds"])).await);
    let b = ok(store.upsert_group("staff", &json!(["GetRfdsAll"])).await);
    assert_eq!(a.id, b.id);
    assert_eq!(b.permissions, json!(["GetRfdsAll"]));
}
