//! The identity admin API in GitLab's shapes: users, personal access tokens, groups, members and group
//! deploy tokens.

use packyard_domain::Format;
use serde_json::{Value, json};

use crate::fixtures::{
    PullThrough, app_with_group, call, delete, get, is_timestamp, keys, post, pull_through,
};
use crate::{Backend, TestApp, both_backends};

async fn only_administrators_manage_users(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.admin_token.clone();

    let created = post(
        &app,
        &admin,
        "/api/v4/users",
        json!({"username": "alice", "name": "Alice Liddell", "email": "alice@example.com"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        keys(&created.body),
        [
            "created_at",
            "email",
            "id",
            "is_admin",
            "name",
            "state",
            "username"
        ]
    );
    assert_eq!(created.body["username"], "alice");
    assert_eq!(created.body["name"], "Alice Liddell");
    assert_eq!(created.body["email"], "alice@example.com");
    assert_eq!(created.body["is_admin"], false);
    assert_eq!(created.body["state"], "active");
    assert!(is_timestamp(&created.body["created_at"]));
    let second_admin = post(
        &app,
        &admin,
        "/api/v4/users",
        json!({"username": "bob", "name": "Bob", "admin": true}),
    )
    .await;
    assert_eq!(second_admin.body["is_admin"], true);

    let listed = get(&app, &admin, "/api/v4/users").await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"root") && names.contains(&"alice") && names.contains(&"bob"),
        "{names:?}"
    );

    let taken = post(
        &app,
        &admin,
        "/api/v4/users",
        json!({"username": "alice", "name": "Other"}),
    )
    .await;
    assert_eq!(
        (taken.status, taken.body),
        (
            400,
            json!({"message": {"username": ["has already been taken"]}})
        )
    );
    let missing = post(&app, &admin, "/api/v4/users", json!({"name": "Nobody"})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "username is missing"}))
    );
    let bad_name = post(
        &app,
        &admin,
        "/api/v4/users",
        json!({"username": "no spaces", "name": "x"}),
    )
    .await;
    assert_eq!(bad_name.status, 400);

    let (_, user) = app.create_user_with_token("carol").await;
    assert_eq!(get(&app, &user, "/api/v4/users").await.status, 403);
    let by_user = post(
        &app,
        &user,
        "/api/v4/users",
        json!({"username": "mallory", "name": "M"}),
    )
    .await;
    assert_eq!(
        (by_user.status, by_user.body),
        (403, json!({"message": "403 Forbidden"}))
    );
    let anonymous = call(&app, "GET", "/api/v4/users", None, None).await;
    assert_eq!(
        (anonymous.status, anonymous.body),
        (401, json!({"message": "401 Unauthorized"}))
    );
}

async fn personal_access_tokens_are_shown_once_and_work(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.admin_token.clone();
    let user = post(
        &app,
        &admin,
        "/api/v4/users",
        json!({"username": "alice", "name": "Alice"}),
    )
    .await;
    let user_id = user.body["id"].as_i64().unwrap();
    let tokens = format!("/api/v4/users/{user_id}/personal_access_tokens");

    let issued = post(
        &app,
        &admin,
        &tokens,
        json!({"name": "ci", "scopes": ["api"], "expires_at": "2099-01-31"}),
    )
    .await;
    assert_eq!(issued.status, 201);
    assert_eq!(
        keys(&issued.body),
        [
            "active",
            "created_at",
            "expires_at",
            "id",
            "name",
            "revoked",
            "scopes",
            "token",
            "user_id"
        ]
    );
    assert_eq!(issued.body["scopes"], json!(["api"]));
    assert_eq!(issued.body["expires_at"], "2099-01-31");
    assert_eq!(issued.body["user_id"], user_id);
    assert_eq!(issued.body["revoked"], false);
    assert_eq!(issued.body["active"], true);
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());

    let group = post(
        &app,
        &token,
        "/api/v4/groups",
        json!({"name": "Alice's", "path": "alices"}),
    )
    .await;
    assert_eq!(
        group.status, 201,
        "the new token authenticates: {}",
        group.body
    );

    // Form bodies with repeated `scopes[]`, as curl sends them.
    let form = app
        .client
        .post(app.url(&tokens))
        .header("PRIVATE-TOKEN", &admin)
        .body("name=ro&scopes[]=read_api&scopes[]=read_virtual_registry")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    let form: Value = form.json().await.unwrap();
    assert_eq!(form["scopes"], json!(["read_api", "read_virtual_registry"]));
    assert_eq!(form["expires_at"], Value::Null);
    let read_only = form["token"].as_str().unwrap();
    let denied = post(
        &app,
        read_only,
        "/api/v4/groups",
        json!({"name": "x", "path": "x"}),
    )
    .await;
    assert_eq!(denied.status, 403, "read_api cannot write");

    let expired = post(
        &app,
        &admin,
        &tokens,
        json!({"name": "old", "scopes": ["api"], "expires_at": "2000-01-01"}),
    )
    .await;
    assert_eq!(expired.status, 201);
    let old = expired.body["token"].as_str().unwrap();
    assert_eq!(get(&app, old, "/api/v4/groups").await.status, 401);

    let bad_scope = post(
        &app,
        &admin,
        &tokens,
        json!({"name": "x", "scopes": ["sudo"]}),
    )
    .await;
    assert_eq!(
        (bad_scope.status, bad_scope.body),
        (400, json!({"error": "scopes does not have a valid value"}))
    );
    let no_scope = post(&app, &admin, &tokens, json!({"name": "x"})).await;
    assert_eq!(
        (no_scope.status, no_scope.body),
        (400, json!({"error": "scopes is missing"}))
    );
    let bad_date = post(
        &app,
        &admin,
        &tokens,
        json!({"name": "x", "scopes": ["api"], "expires_at": "soon"}),
    )
    .await;
    assert_eq!(
        (bad_date.status, bad_date.body),
        (400, json!({"error": "expires_at is invalid"}))
    );
    let no_user = post(
        &app,
        &admin,
        &format!("/api/v4/users/{}/personal_access_tokens", user_id + 1000),
        json!({"name": "x", "scopes": ["api"]}),
    )
    .await;
    assert_eq!(
        (no_user.status, no_user.body),
        (404, json!({"message": "404 User Not Found"}))
    );
    let by_user = post(
        &app,
        &token,
        &tokens,
        json!({"name": "x", "scopes": ["api"]}),
    )
    .await;
    assert_eq!(by_user.status, 403);
}

async fn groups_are_found_by_id_or_encoded_full_path(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let (alice_id, alice) = app.create_user_with_token("alice").await;
    let (_, bob) = app.create_user_with_token("bob").await;

    let created = post(
        &app,
        &alice,
        "/api/v4/groups",
        json!({"name": "Acme", "path": "acme", "description": "Acme Inc."}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        keys(&created.body),
        [
            "created_at",
            "description",
            "full_path",
            "id",
            "name",
            "parent_id",
            "path",
            "visibility"
        ]
    );
    assert_eq!(created.body["full_path"], "acme");
    assert_eq!(created.body["parent_id"], Value::Null);
    assert_eq!(created.body["description"], "Acme Inc.");
    let acme = created.body["id"].as_i64().unwrap();

    let team = post(
        &app,
        &alice,
        "/api/v4/groups",
        json!({"name": "Team", "path": "team", "parent_id": acme}),
    )
    .await;
    assert_eq!(team.status, 201);
    assert_eq!(team.body["full_path"], "acme/team");
    assert_eq!(team.body["parent_id"], acme);

    let by_id = get(&app, &alice, &format!("/api/v4/groups/{}", team.body["id"])).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body, team.body);
    let by_path = get(&app, &alice, "/api/v4/groups/acme%2Fteam").await;
    assert_eq!((by_path.status, &by_path.body), (200, &team.body));
    assert_eq!(
        get(&app, &alice, "/api/v4/groups/acme").await.body["id"],
        acme
    );

    let listed = get(&app, &alice, "/api/v4/groups").await;
    assert_eq!(listed.status, 200);
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == acme)
    );
    let bobs = get(&app, &bob, "/api/v4/groups").await;
    assert!(
        !bobs
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == acme),
        "{}",
        bobs.body
    );
    let hidden = get(&app, &bob, "/api/v4/groups/acme").await;
    assert_eq!(
        (hidden.status, hidden.body),
        (404, json!({"message": "404 Group Not Found"}))
    );
    let unknown = get(&app, &alice, "/api/v4/groups/nope").await;
    assert_eq!(unknown.status, 404);

    let taken = post(
        &app,
        &bob,
        "/api/v4/groups",
        json!({"name": "Acme", "path": "acme"}),
    )
    .await;
    assert_eq!(
        (taken.status, taken.body),
        (
            400,
            json!({"message": {"path": ["has already been taken"]}})
        )
    );
    let missing = post(&app, &bob, "/api/v4/groups", json!({"name": "X"})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "path is missing"}))
    );
    let foreign_parent = post(
        &app,
        &bob,
        "/api/v4/groups",
        json!({"name": "X", "path": "x", "parent_id": acme}),
    )
    .await;
    assert_eq!(foreign_parent.status, 403);
    let owner = get(&app, &alice, &format!("/api/v4/groups/{acme}/members")).await;
    assert_eq!(owner.body[0]["id"], alice_id);
    assert_eq!(
        owner.body[0]["access_level"], 50,
        "the creator owns a top-level group"
    );
}

async fn members_are_added_listed_and_removed(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let admin = app.admin_token.clone();
    let (alice_id, alice) = app.create_user_with_token("alice").await;
    let (bob_id, bob) = app.create_user_with_token("bob").await;
    let members = format!("/api/v4/groups/{group}/members");

    let added = post(
        &app,
        &admin,
        &members,
        json!({"user_id": alice_id, "access_level": 40}),
    )
    .await;
    assert_eq!(added.status, 201);
    assert_eq!(
        keys(&added.body),
        [
            "access_level",
            "created_at",
            "expires_at",
            "id",
            "name",
            "state",
            "username"
        ]
    );
    assert_eq!(added.body["id"], alice_id);
    assert_eq!(added.body["username"], "alice");
    assert_eq!(added.body["access_level"], 40);

    let invalid = post(
        &app,
        &admin,
        &members,
        json!({"user_id": bob_id, "access_level": 35}),
    )
    .await;
    assert_eq!(
        (invalid.status, invalid.body),
        (
            400,
            json!({"error": "access_level does not have a valid value"})
        )
    );
    let missing = post(&app, &admin, &members, json!({"user_id": bob_id})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "access_level is missing"}))
    );
    let no_user = post(
        &app,
        &admin,
        &members,
        json!({"user_id": bob_id + 1000, "access_level": 10}),
    )
    .await;
    assert_eq!(no_user.status, 404);
    let by_outsider = post(
        &app,
        &bob,
        &members,
        json!({"user_id": bob_id, "access_level": 50}),
    )
    .await;
    assert_eq!(
        by_outsider.status, 404,
        "a group the caller cannot see is not found"
    );

    // A maintainer adds members below Owner.
    let by_maintainer = post(
        &app,
        &alice,
        &members,
        json!({"user_id": bob_id, "access_level": 30}),
    )
    .await;
    assert_eq!(by_maintainer.status, 201);
    let owner_by_maintainer = post(
        &app,
        &alice,
        &members,
        json!({"user_id": bob_id, "access_level": 50}),
    )
    .await;
    assert_eq!(owner_by_maintainer.status, 403);
    let by_developer = post(
        &app,
        &bob,
        &members,
        json!({"user_id": bob_id, "access_level": 40}),
    )
    .await;
    assert_eq!(by_developer.status, 403);

    let listed = get(&app, &bob, &members).await;
    assert_eq!(listed.status, 200);
    let mut levels: Vec<(i64, i64)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["access_level"].as_i64().unwrap(),
            )
        })
        .collect();
    levels.sort_unstable();
    assert!(
        levels.contains(&(alice_id, 40)) && levels.contains(&(bob_id, 30)),
        "{levels:?}"
    );

    let removed = delete(&app, &alice, &format!("{members}/{bob_id}")).await;
    assert_eq!((removed.status, removed.body), (204, Value::Null));
    let again = delete(&app, &alice, &format!("{members}/{bob_id}")).await;
    assert_eq!(
        (again.status, again.body),
        (404, json!({"message": "404 Member Not Found"}))
    );
    assert_eq!(get(&app, &bob, &members).await.status, 404);
    let by_path = get(&app, &admin, "/api/v4/groups/acme/members").await;
    assert_eq!(by_path.status, 200);
}

async fn deploy_tokens_pull_but_do_not_manage(backend: Backend) {
    // The upstream is bound so that it keeps serving: a dropped fake upstream is an unreachable one.
    let Some(PullThrough {
        app,
        upstream: _upstream,
        group,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let admin = app.admin_token.clone();

    let issued = post(
        &app,
        &admin,
        &format!("/api/v4/groups/{group}/deploy_tokens"),
        json!({"name": "ci", "scopes": ["read_virtual_registry"], "expires_at": "2099-12-31T00:00:00Z"}),
    )
    .await;
    assert_eq!(issued.status, 201);
    assert_eq!(
        keys(&issued.body),
        [
            "expired",
            "expires_at",
            "id",
            "name",
            "revoked",
            "scopes",
            "token",
            "username"
        ]
    );
    assert_eq!(issued.body["scopes"], json!(["read_virtual_registry"]));
    assert_eq!(issued.body["expires_at"], "2099-12-31T00:00:00.000Z");
    assert_eq!(issued.body["expired"], false);
    let token = issued.body["token"].as_str().unwrap();
    let username = issued.body["username"].as_str().unwrap();
    assert!(!username.is_empty());
    let named = post(
        &app,
        &admin,
        "/api/v4/groups/acme/deploy_tokens",
        json!({"name": "named", "username": "builder", "scopes": ["read_virtual_registry"]}),
    )
    .await;
    assert_eq!(named.body["username"], "builder");

    let pulled = app
        .client
        .get(app.url(&format!(
            "/api/v4/virtual_registries/packages/maven/{registry}/org/x/1/x-1.jar"
        )))
        .basic_auth(username, Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pulled.status(),
        404,
        "authenticated and allowed; the upstream has no such file"
    );
    // The management API takes no deploy tokens at all: 401, as for no credential, whatever the route.
    for path in [
        format!("/api/v4/virtual_registries/packages/maven/registries/{registry}"),
        format!(
            "/api/v4/virtual_registries/packages/maven/registries/{}",
            registry + 1000
        ),
        format!("/api/v4/groups/{group}/-/virtual_registries/packages/maven/registries"),
        format!("/api/v4/groups/{group}/-/virtual_registries/container/registries"),
        format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy"),
    ] {
        let managed = app
            .client
            .get(app.url(&path))
            .header("Deploy-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(managed.status(), 401, "{path}");
        let body: Value = managed.json().await.unwrap();
        assert_eq!(body, json!({"message": "401 Unauthorized"}));
    }

    let (_, outsider) = app.create_user_with_token("outsider").await;
    let by_outsider = post(
        &app,
        &outsider,
        &format!("/api/v4/groups/{group}/deploy_tokens"),
        json!({"name": "x", "scopes": ["read_virtual_registry"]}),
    )
    .await;
    assert_eq!(by_outsider.status, 404);
    let no_scopes = post(
        &app,
        &admin,
        &format!("/api/v4/groups/{group}/deploy_tokens"),
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(
        (no_scopes.status, no_scopes.body),
        (400, json!({"error": "scopes is missing"}))
    );
}

both_backends!(
    only_administrators_manage_users,
    personal_access_tokens_are_shown_once_and_work,
    groups_are_found_by_id_or_encoded_full_path,
    members_are_added_listed_and_removed,
    deploy_tokens_pull_but_do_not_manage,
);
