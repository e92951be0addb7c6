//! The Maven virtual registry management API: registries, upstreams, associations and positions,
//! connection tests, cache entries, validation rules, permissions and wire shapes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::fixtures::{
    MAVEN, add_member, app_with_group, call, create_registry, create_subgroup, create_upstream,
    delete, get, group_maven, is_timestamp, keys, order, patch, post, pull,
};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends, every_store};

/// The stored upstream row, to check what the API never shows.
async fn stored_upstream(app: &TestApp, id: i64) -> packyard_db::rows::Upstream {
    app.core
        .db()
        .run(move |conn| packyard_db::queries::registries::find_upstream(conn, id, "maven"))
        .await
        .unwrap()
        .unwrap()
}

async fn stored_password(app: &TestApp, id: i64) -> Option<String> {
    stored_upstream(app, id)
        .await
        .password_encrypted
        .map(|sealed| app.core.secret().decrypt(&sealed).unwrap())
}

async fn registries_have_gitlab_shapes_and_lifecycle(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();

    let created = post(
        &app,
        &token,
        &format!("{}/registries", group_maven("acme")),
        json!({"name": "my-virtual-registry", "description": "My virtual registry"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        keys(&created.body),
        [
            "created_at",
            "description",
            "group_id",
            "id",
            "name",
            "updated_at"
        ]
    );
    assert_eq!(created.body["group_id"], group);
    assert_eq!(created.body["name"], "my-virtual-registry");
    assert_eq!(created.body["description"], "My virtual registry");
    assert!(
        is_timestamp(&created.body["created_at"]),
        "{}",
        created.body
    );
    assert!(is_timestamp(&created.body["updated_at"]));
    let id = created.body["id"].as_i64().unwrap();

    let listed = get(&app, &token, &format!("{}/registries", group_maven(group))).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body, json!([created.body]));
    assert!(
        listed.headers.get("x-total").is_none(),
        "the registry list is not paginated"
    );

    // One registry shows its associations in position order, as `{id, upstream_id, position}`.
    let shown = get(&app, &token, &format!("{MAVEN}/registries/{id}")).await;
    assert_eq!(shown.status, 200);
    let mut expected = created.body.clone();
    expected["registry_upstreams"] = json!([]);
    assert_eq!(shown.body, expected);
    let first = create_upstream(&app, &token, id, json!({"url": "https://one.example.com"})).await;
    let second = create_upstream(&app, &token, id, json!({"url": "https://two.example.com"})).await;
    let shown = get(&app, &token, &format!("{MAVEN}/registries/{id}")).await;
    assert_eq!(
        shown.body["registry_upstreams"],
        json!([
            {"id": first["registry_upstream"]["id"], "upstream_id": first["id"], "position": 1},
            {"id": second["registry_upstream"]["id"], "upstream_id": second["id"], "position": 2},
        ])
    );
    assert!(
        listed.body[0].get("registry_upstreams").is_none(),
        "only the single GET carries them"
    );

    let renamed = patch(
        &app,
        &token,
        &format!("{MAVEN}/registries/{id}"),
        json!({"name": "renamed"}),
    )
    .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["name"], "renamed");
    assert_eq!(renamed.body["description"], "My virtual registry");
    let described = patch(
        &app,
        &token,
        &format!("{MAVEN}/registries/{id}"),
        json!({"description": "Another description"}),
    )
    .await;
    assert_eq!(described.status, 200);
    assert_eq!(described.body["description"], "Another description");
    assert_eq!(described.body["name"], "renamed");
    // Neither field may be blank when sent (Grape's `allow_blank: false`).
    for blank in [json!(""), json!(" "), Value::Null] {
        let refused = patch(
            &app,
            &token,
            &format!("{MAVEN}/registries/{id}"),
            json!({"description": blank}),
        )
        .await;
        assert_eq!(
            (refused.status, refused.body),
            (400, json!({"error": "description is empty"})),
            "description {blank}"
        );
    }

    let nothing = patch(&app, &token, &format!("{MAVEN}/registries/{id}"), json!({})).await;
    assert_eq!(nothing.status, 400);
    assert_eq!(
        nothing.body,
        json!({"error": "name, description are missing, at least one parameter must be provided"})
    );
    let blank = patch(
        &app,
        &token,
        &format!("{MAVEN}/registries/{id}"),
        json!({"name": " "}),
    )
    .await;
    assert_eq!(blank.status, 400);
    assert_eq!(blank.body, json!({"error": "name is empty"}));

    let deleted = delete(&app, &token, &format!("{MAVEN}/registries/{id}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    let gone = get(&app, &token, &format!("{MAVEN}/registries/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body, json!({"message": "404 Not found"}));
    assert_eq!(
        delete(&app, &token, &format!("{MAVEN}/registries/{id}"))
            .await
            .status,
        404
    );
    let invalid = get(&app, &token, &format!("{MAVEN}/registries/abc")).await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body, json!({"error": "id is invalid"}));
}

async fn registry_validation_follows_gitlab(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registries = format!("{}/registries", group_maven(group));

    let missing = post(&app, &token, &registries, json!({"description": "x"})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "name is missing"}))
    );
    let too_long = post(
        &app,
        &token,
        &registries,
        json!({"name": "n".repeat(256), "description": "d".repeat(1025)}),
    )
    .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(
        too_long.body,
        json!({"message": {
            "description": ["is too long (maximum is 1024 characters)"],
            "name": ["is too long (maximum is 255 characters)"]
        }})
    );

    create_registry(&app, &token, group, "first").await;
    let taken = post(&app, &token, &registries, json!({"name": "first"})).await;
    assert_eq!(
        (taken.status, taken.body),
        (
            400,
            json!({"message": {"name": ["has already been taken"]}})
        )
    );
    let other = app.create_group("other").await;
    create_registry(&app, &token, other, "first").await;

    for index in 1..20 {
        create_registry(&app, &token, group, &format!("registry-{index}")).await;
    }
    let over = post(&app, &token, &registries, json!({"name": "one-too-many"})).await;
    assert_eq!(over.status, 400);
    assert_eq!(
        over.body,
        json!({"message": {"base": ["20 registries is the maximum allowed per top-level group."]}})
    );
    let listed = get(&app, &token, &registries).await;
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        20,
        "all 20 in one unpaginated answer"
    );

    let subgroup = create_subgroup(&app, group, "team").await;
    // Registries live in top-level groups: GitLab's policy refuses a subgroup (403), for every format.
    for prefix in [
        group_maven("acme%2Fteam"),
        "/api/v4/groups/acme%2Fteam/-/virtual_registries/container".to_owned(),
    ] {
        let nested = post(
            &app,
            &token,
            &format!("{prefix}/registries"),
            json!({"name": "r"}),
        )
        .await;
        assert_eq!(
            (nested.status, nested.body),
            (403, json!({"message": "403 Forbidden"})),
            "{prefix}"
        );
    }
    let nested_list = get(
        &app,
        &token,
        &format!("{}/registries", group_maven(subgroup)),
    )
    .await;
    assert_eq!((nested_list.status, nested_list.body), (200, json!([])));

    let unknown = get(&app, &token, &format!("{}/registries", group_maven("nope"))).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"message": "404 Group Not Found"}))
    );

    let malformed = app
        .client
        .post(app.url(&registries))
        .header("PRIVATE-TOKEN", &token)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");

    let form = app
        .client
        .post(app.url(&format!("{}/registries", group_maven(other))))
        .header("PRIVATE-TOKEN", &token)
        .form(&[("name", "from-a-form")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201, "form bodies work as in Grape");
}

async fn management_requires_authentication_and_rights(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let registry = create_registry(&app, &app.admin_token, group, "r").await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let (guest_id, guest) = app.create_user_with_token("guest").await;
    let (maintainer_id, maintainer) = app.create_user_with_token("maintainer").await;
    add_member(&app, group, guest_id, 10).await;
    add_member(&app, group, maintainer_id, 40).await;
    let registries = format!("{}/registries", group_maven(group));
    let one = format!("{MAVEN}/registries/{registry}");

    for (method, path) in [
        ("GET", registries.as_str()),
        ("POST", registries.as_str()),
        ("GET", one.as_str()),
        ("DELETE", one.as_str()),
        (
            "GET",
            "/api/v4/virtual_registries/packages/maven/upstreams/1",
        ),
        (
            "DELETE",
            "/api/v4/virtual_registries/packages/maven/cache_entries/MSBhL2I=",
        ),
    ] {
        let anonymous = call(&app, method, path, None, None).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
        assert_eq!(anonymous.body, json!({"message": "401 Unauthorized"}));
    }
    let bad_token = call(&app, "GET", &one, Some("pyat-nope"), None).await;
    assert_eq!(bad_token.status, 401);

    // Someone outside the group cannot tell an existing record from a missing one.
    let missing = get(
        &app,
        &stranger,
        &format!("{MAVEN}/registries/{}", registry + 1000),
    )
    .await;
    assert_eq!(
        (missing.status, missing.body),
        (404, json!({"message": "404 Not found"}))
    );
    for (method, path) in [
        ("GET", one.clone()),
        ("PATCH", one.clone()),
        ("DELETE", one.clone()),
        ("DELETE", format!("{one}/cache")),
        ("GET", format!("{one}/upstreams")),
        ("POST", format!("{one}/upstreams")),
    ] {
        let hidden = call(
            &app,
            method,
            &path,
            Some(&stranger),
            Some(json!({"name": "x", "url": "https://repo.example.com"})),
        )
        .await;
        assert_eq!(
            (hidden.status, hidden.body),
            (404, json!({"message": "404 Not found"})),
            "{method} {path}"
        );
    }
    for method in ["GET", "POST"] {
        let hidden = call(
            &app,
            method,
            &registries,
            Some(&stranger),
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            (hidden.status, hidden.body),
            (404, json!({"message": "404 Group Not Found"})),
            "{method} {registries}"
        );
    }

    assert_eq!(get(&app, &guest, &one).await.status, 200);
    assert_eq!(get(&app, &guest, &registries).await.status, 200);
    assert_eq!(
        post(&app, &guest, &registries, json!({"name": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(
        patch(&app, &guest, &one, json!({"name": "x"})).await.status,
        403
    );
    assert_eq!(
        delete(&app, &guest, &format!("{one}/cache")).await.status,
        403
    );
    assert_eq!(delete(&app, &guest, &one).await.status, 403);
    assert_eq!(
        post(
            &app,
            &guest,
            &format!("{one}/upstreams"),
            json!({"url": "https://repo.example.com"})
        )
        .await
        .status,
        403
    );

    assert_eq!(
        post(
            &app,
            &maintainer,
            &registries,
            json!({"name": "by-maintainer"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        patch(&app, &maintainer, &one, json!({"name": "renamed"}))
            .await
            .status,
        200
    );
    assert_eq!(
        delete(&app, &maintainer, &format!("{one}/cache"))
            .await
            .status,
        204
    );

    // A read-only token of a maintainer may read but not change.
    let user = app.core.find_user(maintainer_id).await.unwrap();
    let read_only = app
        .core
        .create_personal_access_token(
            &user,
            "ro".into(),
            vec![packyard_domain::Scope::ReadApi],
            None,
        )
        .await
        .unwrap()
        .token;
    assert_eq!(get(&app, &read_only, &one).await.status, 200);
    assert_eq!(
        patch(&app, &read_only, &one, json!({"name": "x"}))
            .await
            .status,
        403
    );

    // Deploy tokens pull; they are no credential on the management API.
    let admin = app.admin().await;
    let group_row = app.core.find_group(&group.to_string()).await.unwrap();
    let deploy = app
        .core
        .create_deploy_token(
            &admin,
            &group_row,
            "ci".into(),
            None,
            vec![packyard_domain::Scope::ReadVirtualRegistry],
            None,
        )
        .await
        .unwrap()
        .token;
    let by_deploy_token = app
        .client
        .get(app.url(&one))
        .header("Deploy-Token", deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(by_deploy_token.status(), 401);

    assert_eq!(delete(&app, &maintainer, &one).await.status, 204);
}

async fn upstreams_are_created_in_a_registry_with_gitlab_shapes(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;

    let created = create_upstream(
        &app,
        &token,
        registry,
        json!({
            "url": "https://repo.maven.apache.org/maven2",
            "name": "Maven Central",
            "description": "Maven Central repository",
            "username": "user",
            "password": "secret-password",
            "cache_validity_hours": 48,
            "metadata_cache_validity_hours": 1
        }),
    )
    .await;
    assert_eq!(
        keys(&created),
        [
            "cache_validity_hours",
            "created_at",
            "description",
            "group_id",
            "id",
            "metadata_cache_validity_hours",
            "name",
            "registry_upstream",
            "updated_at",
            "url",
            "username"
        ]
    );
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["group_id"], group);
    assert_eq!(created["url"], "https://repo.maven.apache.org/maven2");
    assert_eq!(created["name"], "Maven Central");
    assert_eq!(created["username"], "user");
    assert_eq!(created["cache_validity_hours"], 48);
    assert_eq!(created["metadata_cache_validity_hours"], 1);
    assert!(is_timestamp(&created["created_at"]));
    let link = &created["registry_upstream"];
    assert_eq!(keys(link), ["id", "position", "registry_id"]);
    assert_eq!(link["registry_id"], registry);
    assert_eq!(link["position"], 1);
    assert!(!created.to_string().contains("secret-password"));
    assert_eq!(
        stored_password(&app, id).await.as_deref(),
        Some("secret-password")
    );
    assert_ne!(
        stored_upstream(&app, id)
            .await
            .password_encrypted
            .as_deref(),
        Some("secret-password"),
        "stored encrypted"
    );

    // Defaults, the name defaulting to the normalised URL, and normalisation itself.
    let defaults = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "  HTTP://Repo.Example.COM:80/maven2.git/ "}),
    )
    .await;
    assert_eq!(defaults["url"], "http://repo.example.com/maven2");
    assert_eq!(defaults["name"], "http://repo.example.com/maven2");
    assert_eq!(defaults["username"], Value::Null);
    assert_eq!(defaults["description"], Value::Null);
    assert_eq!(defaults["cache_validity_hours"], 24);
    assert_eq!(defaults["metadata_cache_validity_hours"], 24);
    assert_eq!(defaults["registry_upstream"]["position"], 2);

    // Maven Central never goes stale, whatever was asked.
    let central = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://repo1.maven.org/maven2/", "name": "central", "cache_validity_hours": 48}),
    )
    .await;
    assert_eq!(central["cache_validity_hours"], 0);
    assert_eq!(central["url"], "https://repo1.maven.org/maven2");
    let zero = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://zero.example.com", "cache_validity_hours": 0}),
    )
    .await;
    assert_eq!(zero["cache_validity_hours"], 0);

    let listed = get(
        &app,
        &token,
        &format!("{MAVEN}/registries/{registry}/upstreams"),
    )
    .await;
    assert_eq!(listed.status, 200);
    let list = listed.body.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(
        list[0], created,
        "the list shows the same entity as the create"
    );
    assert_eq!(
        list.iter()
            .map(|u| u["registry_upstream"]["position"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(!listed.body.to_string().contains("password"));

    let shown = get(&app, &token, &format!("{MAVEN}/upstreams/{id}")).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.get("registry_upstream").is_none());
    assert_eq!(
        shown.body["registry_upstreams"],
        json!([{"id": link["id"], "registry_id": registry, "position": 1}])
    );
    assert!(!shown.body.to_string().contains("password"));
    let unknown = get(&app, &token, &format!("{MAVEN}/upstreams/{}", id + 1000)).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"message": "404 Not found"}))
    );
    let unknown_registry = post(
        &app,
        &token,
        &format!("{MAVEN}/registries/{}/upstreams", registry + 1000),
        json!({"url": "https://x.example.com"}),
    )
    .await;
    assert_eq!(unknown_registry.status, 404);
}

async fn upstream_validation_follows_gitlab(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;
    let path = format!("{MAVEN}/registries/{registry}/upstreams");
    let rejected = |body: Value| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let answer = post(app, token, path, body).await;
            assert_eq!(answer.status, 400, "{}", answer.body);
            answer.body
        }
    };

    assert_eq!(
        rejected(json!({"name": "x"})).await,
        json!({"error": "url is missing"})
    );
    assert_eq!(
        rejected(json!({"url": "  "})).await,
        json!({"error": "url is empty"})
    );
    assert_eq!(
        rejected(json!({"url": "ftp://repo.example.com"})).await,
        json!({"message": {"url": ["is blocked: Only allowed schemes are http, https"]}})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "username": "u"})).await,
        json!({"error": "username, password provide all or none of parameters"})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "password": "p"})).await,
        json!({"error": "username, password provide all or none of parameters"})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "username": "u", "password": ""})).await,
        json!({"message": {"password": ["can't be blank"]}})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "username": "u".repeat(511), "password": "p".repeat(511)})).await,
        json!({"message": {
            "password": ["is too long (maximum is 510 characters)"],
            "username": ["is too long (maximum is 510 characters)"]
        }})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "cache_validity_hours": -1})).await,
        json!({"message": {"cache_validity_hours": ["must be greater than or equal to 0"]}})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "metadata_cache_validity_hours": 0}))
            .await,
        json!({"message": {"metadata_cache_validity_hours": ["must be greater than 0"]}})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "cache_validity_hours": "soon"})).await,
        json!({"error": "cache_validity_hours is invalid"})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "name": "n".repeat(256), "description": "d".repeat(1025)})).await,
        json!({"message": {
            "description": ["is too long (maximum is 1024 characters)"],
            "name": ["is too long (maximum is 255 characters)"]
        }})
    );
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com", "name": ""})).await,
        json!({"message": {"name": ["can't be blank"]}})
    );
    assert_eq!(
        rejected(json!({"url": format!("https://repo.example.com/{}", "a".repeat(250))})).await,
        json!({"message": {"url": ["is too long (maximum is 255 characters)"]}})
    );

    // The same URL and credentials once per group, counting the http/https twin and trailing slashes.
    create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://repo.example.com/maven2"}),
    )
    .await;
    let duplicate = json!({"message": {"group": ["already has a remote upstream with the same url and credentials"]}});
    assert_eq!(
        rejected(json!({"url": "https://repo.example.com/maven2/"})).await,
        duplicate
    );
    assert_eq!(
        rejected(json!({"url": "http://repo.example.com/maven2"})).await,
        duplicate
    );
    create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://repo.example.com/maven2", "username": "u", "password": "p1"}),
    )
    .await;
    assert_eq!(
        rejected(
            json!({"url": "http://REPO.example.com/maven2", "username": "u", "password": "p1"})
        )
        .await,
        duplicate
    );
    create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://repo.example.com/maven2", "username": "u", "password": "p2"}),
    )
    .await;
    let other_registry = create_registry(&app, &token, group, "other").await;
    let shared_url = post(
        &app,
        &token,
        &format!("{MAVEN}/registries/{other_registry}/upstreams"),
        json!({"url": "https://repo.example.com/maven2"}),
    )
    .await;
    assert_eq!(
        (shared_url.status, shared_url.body),
        (400, duplicate.clone()),
        "the rule is per group"
    );
    let other_group = app.create_group("other").await;
    let elsewhere = create_registry(&app, &token, other_group, "r").await;
    create_upstream(
        &app,
        &token,
        elsewhere,
        json!({"url": "https://repo.example.com/maven2"}),
    )
    .await;

    // 20 upstreams per registry.
    for index in 0..17 {
        create_upstream(
            &app,
            &token,
            other_registry,
            json!({"url": format!("https://repo{index}.example.com")}),
        )
        .await;
    }
    assert_eq!(order(&app, other_registry).await.len(), 17);
    for index in 17..20 {
        create_upstream(
            &app,
            &token,
            other_registry,
            json!({"url": format!("https://repo{index}.example.com")}),
        )
        .await;
    }
    let over = post(
        &app,
        &token,
        &format!("{MAVEN}/registries/{other_registry}/upstreams"),
        json!({"url": "https://repo20.example.com"}),
    )
    .await;
    assert_eq!(over.status, 400);
    assert_eq!(
        over.body,
        json!({"message": {"registry_upstreams.position": ["must be less than or equal to 20"]}}),
        "the new upstream's association is what does not fit"
    );
    let page = get(
        &app,
        &token,
        &format!("{}/upstreams?upstream_name=repo20", group_maven(group)),
    )
    .await;
    assert_eq!(
        page.body,
        json!([]),
        "a refused upstream is not left behind"
    );
}

async fn local_upstream_urls_are_refused_unless_allowed(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |settings| {
        settings.upstream.allow_local_network = false
    })
    .await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let group = app.create_group("acme").await;
    let registry = create_registry(&app, &token, group, "r").await;
    for (url, message) in [
        (
            "http://127.0.0.1:8081/maven",
            "is blocked: Requests to localhost are not allowed",
        ),
        (
            "http://localhost/maven",
            "is blocked: Requests to localhost are not allowed",
        ),
        (
            "http://169.254.169.254/latest",
            "is blocked: Requests to the link local network are not allowed",
        ),
        (
            "http://10.1.2.3/maven",
            "is blocked: Requests to the local network are not allowed",
        ),
        (
            "http://[::1]/maven",
            "is blocked: Requests to localhost are not allowed",
        ),
    ] {
        let create = post(
            &app,
            &token,
            &format!("{MAVEN}/registries/{registry}/upstreams"),
            json!({"url": url}),
        )
        .await;
        assert_eq!(create.status, 400, "{url}");
        assert_eq!(create.body, json!({"message": {"url": [message]}}), "{url}");
        let test = post(
            &app,
            &token,
            &format!("{}/upstreams/test", group_maven(group)),
            json!({"url": url}),
        )
        .await;
        assert_eq!(
            (test.status, test.body),
            (400, json!({"message": {"url": [message]}})),
            "{url}"
        );
    }
    let public = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://93.184.216.34/maven2"}),
    )
    .await;
    let id = public["id"].as_i64().unwrap();
    let moved = patch(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}"),
        json!({"url": "http://192.168.0.1/"}),
    )
    .await;
    assert_eq!(moved.status, 400);
    assert_eq!(
        moved.body,
        json!({"message": {"url": ["is blocked: Requests to the local network are not allowed"]}})
    );
    let overridden = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({"url": "http://127.0.0.1/"}),
    )
    .await;
    assert_eq!(overridden.status, 400);
}

async fn upstream_updates_follow_the_credential_rules(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;
    let created = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://repo.example.com/maven2", "name": "mirror", "username": "user", "password": "pw1"}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let one = format!("{MAVEN}/upstreams/{id}");

    let updated = patch(
        &app,
        &token,
        &one,
        json!({"cache_validity_hours": 72, "description": "desc"}),
    )
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["cache_validity_hours"], 72);
    assert_eq!(updated.body["description"], "desc");
    assert_eq!(updated.body["username"], "user");
    assert!(!updated.body.to_string().contains("pw1"));
    assert_eq!(stored_password(&app, id).await.as_deref(), Some("pw1"));

    let nothing = patch(&app, &token, &one, json!({})).await;
    assert_eq!(nothing.status, 400);
    assert_eq!(
        nothing.body,
        json!({"error": "name, description, url, username, password, cache_validity_hours, metadata_cache_validity_hours are missing, at least one parameter must be provided"})
    );
    assert_eq!(
        patch(&app, &token, &one, json!({"name": ""})).await.body,
        json!({"error": "name is empty"})
    );
    assert_eq!(
        patch(&app, &token, &one, json!({"url": " "})).await.body,
        json!({"error": "url is empty"})
    );
    assert_eq!(
        patch(
            &app,
            &token,
            &one,
            json!({"metadata_cache_validity_hours": 0})
        )
        .await
        .body,
        json!({"message": {"metadata_cache_validity_hours": ["must be greater than 0"]}})
    );
    assert_eq!(
        patch(&app, &token, &one, json!({"cache_validity_hours": -5}))
            .await
            .body,
        json!({"message": {"cache_validity_hours": ["must be greater than or equal to 0"]}})
    );

    // An unchanged username sent alone (even with a blank password) keeps the stored password.
    let same_user = patch(&app, &token, &one, json!({"username": "user"})).await;
    assert_eq!(same_user.status, 200);
    assert_eq!(stored_password(&app, id).await.as_deref(), Some("pw1"));
    let blank_password = patch(
        &app,
        &token,
        &one,
        json!({"username": "user", "password": ""}),
    )
    .await;
    assert_eq!(blank_password.status, 200);
    assert_eq!(stored_password(&app, id).await.as_deref(), Some("pw1"));
    let new_password = patch(&app, &token, &one, json!({"password": "pw2"})).await;
    assert_eq!(new_password.status, 200);
    assert_eq!(stored_password(&app, id).await.as_deref(), Some("pw2"));

    // A URL change with both credentials keeps them; without both, clears them.
    let moved_with = patch(
        &app,
        &token,
        &one,
        json!({"url": "https://other.example.com/maven2/", "username": "user2", "password": "pw3"}),
    )
    .await;
    assert_eq!(moved_with.status, 200);
    assert_eq!(moved_with.body["url"], "https://other.example.com/maven2");
    assert_eq!(moved_with.body["username"], "user2");
    assert_eq!(stored_password(&app, id).await.as_deref(), Some("pw3"));
    let moved_half = patch(
        &app,
        &token,
        &one,
        json!({"url": "https://third.example.com", "username": "user3"}),
    )
    .await;
    assert_eq!(moved_half.status, 200);
    assert_eq!(moved_half.body["username"], Value::Null);
    assert_eq!(stored_password(&app, id).await, None);
    let back = patch(
        &app,
        &token,
        &one,
        json!({"username": "u", "password": "p"}),
    )
    .await;
    assert_eq!(back.status, 200);
    let moved_bare = patch(
        &app,
        &token,
        &one,
        json!({"url": "https://fourth.example.com"}),
    )
    .await;
    assert_eq!(moved_bare.body["username"], Value::Null);
    assert_eq!(stored_upstream(&app, id).await.password_encrypted, None);
    let same_url = patch(
        &app,
        &token,
        &one,
        json!({"url": "https://fourth.example.com/", "name": "n2"}),
    )
    .await;
    assert_eq!(same_url.status, 200, "a normalised-equal URL is no change");

    // Anonymous now: a password alone has no username.
    assert_eq!(
        patch(&app, &token, &one, json!({"password": "p"}))
            .await
            .body,
        json!({"message": {"username": ["can't be blank"]}})
    );
    assert_eq!(
        patch(&app, &token, &one, json!({"username": "u"}))
            .await
            .body,
        json!({"message": {"password": ["can't be blank"]}})
    );

    // Uniqueness on update, except against itself.
    create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://taken.example.com"}),
    )
    .await;
    let clash = patch(
        &app,
        &token,
        &one,
        json!({"url": "http://taken.example.com"}),
    )
    .await;
    assert_eq!(clash.status, 400);
    assert_eq!(
        clash.body,
        json!({"message": {"group": ["already has a remote upstream with the same url and credentials"]}})
    );
    let shown = get(&app, &token, &one).await;
    assert_eq!(shown.body["url"], "https://fourth.example.com");
    assert_eq!(shown.body["name"], "n2");
    assert_eq!(shown.body["created_at"], created["created_at"]);

    let guest = app.create_user_with_token("guest").await;
    add_member(&app, group, guest.0, 10).await;
    assert_eq!(
        patch(&app, &guest.1, &one, json!({"name": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(delete(&app, &guest.1, &one).await.status, 403);
    assert_eq!(get(&app, &guest.1, &one).await.status, 200);
}

async fn positions_move_cap_and_repack(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;
    let mut upstreams = Vec::new();
    let mut links = Vec::new();
    for index in 1..=3 {
        let created = create_upstream(
            &app,
            &token,
            registry,
            json!({"url": format!("https://u{index}.example.com")}),
        )
        .await;
        assert_eq!(created["registry_upstream"]["position"], index);
        upstreams.push(created["id"].as_i64().unwrap());
        links.push(created["registry_upstream"]["id"].as_i64().unwrap());
    }
    let (u1, u2, u3) = (upstreams[0], upstreams[1], upstreams[2]);
    let link = |id: i64| format!("{MAVEN}/registry_upstreams/{id}");

    let moved = patch(&app, &token, &link(links[2]), json!({"position": 1})).await;
    assert_eq!(moved.status, 200);
    assert_eq!(
        moved.body,
        json!({"id": links[2], "registry_id": registry, "upstream_id": u3, "position": 1})
    );
    assert_eq!(order(&app, registry).await, [u3, u1, u2]);

    let capped = patch(&app, &token, &link(links[0]), json!({"position": 20})).await;
    assert_eq!(capped.status, 200);
    assert_eq!(capped.body["position"], 3, "capped at the last position");
    assert_eq!(order(&app, registry).await, [u3, u2, u1]);
    let unchanged = patch(&app, &token, &link(links[1]), json!({"position": 2})).await;
    assert_eq!(unchanged.body["position"], 2);
    assert_eq!(order(&app, registry).await, [u3, u2, u1]);
    let down = patch(&app, &token, &link(links[2]), json!({"position": "2"})).await;
    assert_eq!(down.status, 200);
    assert_eq!(order(&app, registry).await, [u2, u3, u1]);

    for bad in [
        json!({"position": 0}),
        json!({"position": 21}),
        json!({"position": -1}),
        json!({"position": "a"}),
        json!({"position": 1.5}),
    ] {
        let answer = patch(&app, &token, &link(links[0]), bad).await;
        assert_eq!(
            (answer.status, answer.body),
            (
                400,
                json!({"error": "position does not have a valid value"})
            )
        );
    }
    let missing = patch(&app, &token, &link(links[0]), json!({})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "position is missing"}))
    );
    let unknown = patch(&app, &token, &link(links[0] + 1000), json!({"position": 1})).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"message": "404 Not found"}))
    );

    // Disassociating re-packs; the upstream survives and can be linked again, last.
    let removed = delete(&app, &token, &link(links[2])).await;
    assert_eq!(removed.status, 204);
    assert_eq!(order(&app, registry).await, [u2, u1]);
    assert_eq!(
        get(&app, &token, &format!("{MAVEN}/upstreams/{u3}"))
            .await
            .status,
        200
    );
    assert_eq!(delete(&app, &token, &link(links[2])).await.status, 404);
    let relinked = post(
        &app,
        &token,
        &format!("{MAVEN}/registry_upstreams"),
        json!({"registry_id": registry, "upstream_id": u3, "position": 1}),
    )
    .await;
    assert_eq!(relinked.status, 201);
    assert_eq!(
        keys(&relinked.body),
        ["id", "position", "registry_id", "upstream_id"]
    );
    assert_eq!(
        relinked.body["position"], 3,
        "a client-supplied position is ignored"
    );
    assert_eq!(relinked.body["upstream_id"], u3);
    assert_eq!(order(&app, registry).await, [u2, u1, u3]);

    // Deleting an upstream re-packs every registry it was in.
    let second = create_registry(&app, &token, group, "second").await;
    for upstream in [u1, u2] {
        let answer = post(
            &app,
            &token,
            &format!("{MAVEN}/registry_upstreams"),
            json!({"registry_id": second, "upstream_id": upstream}),
        )
        .await;
        assert_eq!(answer.status, 201);
    }
    assert_eq!(order(&app, second).await, [u1, u2]);
    assert_eq!(
        delete(&app, &token, &format!("{MAVEN}/upstreams/{u1}"))
            .await
            .status,
        204
    );
    assert_eq!(order(&app, registry).await, [u2, u3]);
    assert_eq!(order(&app, second).await, [u2]);
    assert_eq!(
        get(&app, &token, &format!("{MAVEN}/upstreams/{u1}"))
            .await
            .status,
        404
    );
}

async fn associations_are_validated(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;
    let upstream = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "https://u.example.com"}),
    )
    .await;
    let upstream = upstream["id"].as_i64().unwrap();
    let associate = |body: Value| {
        let (app, token) = (&app, &token);
        async move { post(app, token, &format!("{MAVEN}/registry_upstreams"), body).await }
    };

    let missing = associate(json!({"upstream_id": upstream})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "registry_id is missing"}))
    );
    let missing = associate(json!({"registry_id": registry})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "upstream_id is missing"}))
    );
    let invalid = associate(json!({"registry_id": "one", "upstream_id": upstream})).await;
    assert_eq!(
        (invalid.status, invalid.body),
        (400, json!({"error": "registry_id is invalid"}))
    );
    let taken = associate(json!({"registry_id": registry, "upstream_id": upstream})).await;
    assert_eq!(
        (taken.status, taken.body),
        (
            400,
            json!({"message": {"upstream_id": ["has already been taken"]}})
        )
    );
    let no_registry =
        associate(json!({"registry_id": registry + 1000, "upstream_id": upstream})).await;
    assert_eq!(
        (no_registry.status, no_registry.body),
        (404, json!({"message": "404 Not found"}))
    );
    let no_upstream =
        associate(json!({"registry_id": registry, "upstream_id": upstream + 1000})).await;
    assert_eq!(
        (no_upstream.status, no_upstream.body),
        (404, json!({"message": "404 Upstream Not Found"}))
    );

    let other_group = app.create_group("other").await;
    let foreign_registry = create_registry(&app, &token, other_group, "r").await;
    let foreign = create_upstream(
        &app,
        &token,
        foreign_registry,
        json!({"url": "https://f.example.com"}),
    )
    .await;
    let cross = associate(json!({"registry_id": registry, "upstream_id": foreign["id"]})).await;
    assert_eq!(
        (cross.status, cross.body),
        (404, json!({"message": "404 Upstream Not Found"}))
    );

    // A registry with 20 upstreams takes no more links.
    let full = create_registry(&app, &token, group, "full").await;
    for index in 0..20 {
        create_upstream(
            &app,
            &token,
            full,
            json!({"url": format!("https://full{index}.example.com")}),
        )
        .await;
    }
    let over = associate(json!({"registry_id": full, "upstream_id": upstream})).await;
    assert_eq!(
        (over.status, over.body),
        (
            400,
            json!({"message": {"position": ["must be less than or equal to 20"]}})
        )
    );

    let (guest_id, guest) = app.create_user_with_token("guest").await;
    add_member(&app, group, guest_id, 10).await;
    let second = create_registry(&app, &token, group, "second").await;
    let by_guest = post(
        &app,
        &guest,
        &format!("{MAVEN}/registry_upstreams"),
        json!({"registry_id": second, "upstream_id": upstream}),
    )
    .await;
    assert_eq!(by_guest.status, 403);
    let link = order(&app, registry).await;
    assert_eq!(link, [upstream]);
    let listed = get(
        &app,
        &token,
        &format!("{MAVEN}/registries/{registry}/upstreams"),
    )
    .await;
    let link_id = listed.body[0]["registry_upstream"]["id"].as_i64().unwrap();
    assert_eq!(
        patch(
            &app,
            &guest,
            &format!("{MAVEN}/registry_upstreams/{link_id}"),
            json!({"position": 1})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        delete(
            &app,
            &guest,
            &format!("{MAVEN}/registry_upstreams/{link_id}")
        )
        .await
        .status,
        403
    );
}

async fn deleting_a_registry_deletes_its_exclusive_upstreams_only(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let doomed = create_registry(&app, &token, group, "doomed").await;
    let survivor = create_registry(&app, &token, group, "survivor").await;
    let exclusive = create_upstream(
        &app,
        &token,
        doomed,
        json!({"url": "https://exclusive.example.com"}),
    )
    .await;
    let shared = create_upstream(
        &app,
        &token,
        doomed,
        json!({"url": "https://shared.example.com"}),
    )
    .await;
    let answer = post(
        &app,
        &token,
        &format!("{MAVEN}/registry_upstreams"),
        json!({"registry_id": survivor, "upstream_id": shared["id"]}),
    )
    .await;
    assert_eq!(answer.status, 201);

    assert_eq!(
        delete(&app, &token, &format!("{MAVEN}/registries/{doomed}"))
            .await
            .status,
        204
    );
    assert_eq!(
        get(
            &app,
            &token,
            &format!("{MAVEN}/upstreams/{}", exclusive["id"])
        )
        .await
        .status,
        404
    );
    let kept = get(&app, &token, &format!("{MAVEN}/upstreams/{}", shared["id"])).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["registry_upstreams"].as_array().unwrap().len(), 1);
    assert_eq!(
        order(&app, survivor).await,
        [shared["id"].as_i64().unwrap()]
    );
}

async fn group_upstreams_are_paginated_and_filtered(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = create_registry(&app, &token, group, "r").await;
    for (name, url) in [
        ("Maven Central", "https://repo.maven.apache.org/maven2"),
        ("Internal mirror", "https://mirror.example.com"),
        ("central-snapshots", "https://snapshots.example.com"),
    ] {
        create_upstream(&app, &token, registry, json!({"name": name, "url": url})).await;
    }
    let base = format!("{}/upstreams", group_maven("acme"));

    let first = get(&app, &token, &format!("{base}?per_page=2")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    assert_eq!(first.body[0]["name"], "Maven Central");
    assert!(first.body[0].get("registry_upstream").is_none());
    assert_eq!(first.header("x-total"), "3");
    assert_eq!(first.header("x-total-pages"), "2");
    assert_eq!(first.header("x-page"), "1");
    assert_eq!(first.header("x-per-page"), "2");
    assert_eq!(first.header("x-next-page"), "2");
    assert_eq!(first.header("x-prev-page"), "");
    let link = first.header("link");
    assert!(
        link.contains("rel=\"next\"")
            && link.contains("rel=\"first\"")
            && link.contains("rel=\"last\""),
        "{link}"
    );
    assert!(link.contains("page=2"), "{link}");

    let second = get(&app, &token, &format!("{base}?per_page=2&page=2")).await;
    assert_eq!(second.body.as_array().unwrap().len(), 1);
    assert_eq!(second.body[0]["name"], "central-snapshots");
    assert_eq!(second.header("x-next-page"), "");
    assert_eq!(second.header("x-prev-page"), "1");

    let filtered = get(&app, &token, &format!("{base}?upstream_name=CENTRAL")).await;
    let names: Vec<&str> = filtered
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Maven Central", "central-snapshots"]);
    assert_eq!(filtered.header("x-total"), "2");
    let none = get(&app, &token, &format!("{base}?upstream_name=100%25")).await;
    assert_eq!(none.body, json!([]));
    let bad_page = get(&app, &token, &format!("{base}?page=0")).await;
    assert_eq!(bad_page.status, 400);

    create_subgroup(&app, group, "team").await;
    let nested = get(
        &app,
        &token,
        &format!("{}/upstreams", group_maven("acme%2Fteam")),
    )
    .await;
    assert_eq!(nested.status, 400);
    assert_eq!(
        nested.body,
        json!({"message": "400 Bad request - only available on top-level groups."})
    );
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let hidden = get(&app, &stranger, &base).await;
    assert_eq!(
        (hidden.status, hidden.body),
        (404, json!({"message": "404 Group Not Found"}))
    );
    assert_eq!(call(&app, "GET", &base, None, None).await.status, 401);
}

async fn connection_tests_head_the_upstream(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let fake = FakeUpstream::start().await;
    let test_path = "com/company/app/maven-metadata.xml";
    let group_test = format!("{}/upstreams/test", group_maven(group));

    let absent = post(&app, &token, &group_test, json!({"url": fake.url})).await;
    assert_eq!(
        (absent.status, absent.body),
        (200, json!({"success": true})),
        "404 counts as reachable"
    );
    assert_eq!(fake.count("HEAD", test_path), 1);
    fake.set(test_path, Reply::file("<metadata/>", "text/xml"));
    let found = post(
        &app,
        &token,
        &group_test,
        json!({"url": format!("{}/", fake.url)}),
    )
    .await;
    assert_eq!(found.body, json!({"success": true}));
    fake.set(test_path, Reply::Status(401));
    let denied = post(
        &app,
        &token,
        &group_test,
        json!({"url": fake.url, "username": "u", "password": "p"}),
    )
    .await;
    assert_eq!(
        (denied.status, denied.body),
        (
            200,
            json!({"success": false, "result": "Error: 401 - Unauthorized"})
        )
    );
    let last = fake.requests().last().cloned().unwrap();
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Basic {}", STANDARD.encode("u:p")).as_str())
    );
    fake.set(test_path, Reply::Status(503));
    let down = post(&app, &token, &group_test, json!({"url": fake.url})).await;
    assert_eq!(
        down.body,
        json!({"success": false, "result": "Error: 503 - Service Unavailable"})
    );

    let half = post(
        &app,
        &token,
        &group_test,
        json!({"url": fake.url, "username": "u"}),
    )
    .await;
    assert_eq!(
        (half.status, half.body),
        (
            400,
            json!({"error": "username, password provide all or none of parameters"})
        )
    );
    let no_url = post(&app, &token, &group_test, json!({})).await;
    assert_eq!(
        (no_url.status, no_url.body),
        (400, json!({"error": "url is missing"}))
    );
    let bad_url = post(
        &app,
        &token,
        &group_test,
        json!({"url": "ftp://x.example.com"}),
    )
    .await;
    assert_eq!(bad_url.status, 400);
    assert_eq!(
        bad_url.body,
        json!({"message": {"url": ["is blocked: Only allowed schemes are http, https"]}})
    );
    let (_, stranger) = app.create_user_with_token("stranger").await;
    assert_eq!(
        post(&app, &stranger, &group_test, json!({"url": fake.url}))
            .await
            .status,
        404
    );
    create_subgroup(&app, group, "team").await;
    let nested = post(
        &app,
        &token,
        &format!("{}/upstreams/test", group_maven("acme%2Fteam")),
        json!({"url": fake.url}),
    )
    .await;
    assert_eq!(nested.status, 400);

    // An existing upstream: its saved configuration, then one of its cached paths once it has one.
    fake.set(test_path, Reply::Status(404));
    let registry = create_registry(&app, &token, group, "r").await;
    let upstream = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": fake.url, "username": "saved", "password": "pw"}),
    )
    .await;
    let id = upstream["id"].as_i64().unwrap();
    let saved = get(&app, &token, &format!("{MAVEN}/upstreams/{id}/test")).await;
    assert_eq!((saved.status, saved.body), (200, json!({"success": true})));
    let last = fake.requests().last().cloned().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("HEAD", "/com/company/app/maven-metadata.xml")
    );
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Basic {}", STANDARD.encode("saved:pw")).as_str())
    );

    let jar = "org/example/app/1.0/app-1.0.jar";
    fake.set(jar, Reply::file("jar", "application/java-archive"));
    pull(&app, registry, jar).await;
    let cached = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({}),
    )
    .await;
    assert_eq!(cached.body, json!({"success": true}));
    assert_eq!(fake.requests().last().unwrap().path, format!("/{jar}"));
    fake.set(jar, Reply::Status(403));
    let forbidden = get(&app, &token, &format!("{MAVEN}/upstreams/{id}/test")).await;
    assert_eq!(
        forbidden.body,
        json!({"success": false, "result": "Error: 403 - Forbidden"})
    );

    // Overrides: credentials only test the saved URL; a URL override tests the new URL anonymously or with both.
    let with_credentials = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({"username": "other", "password": "pw2"}),
    )
    .await;
    assert_eq!(with_credentials.status, 200);
    let last = fake.requests().last().cloned().unwrap();
    assert_eq!(last.path, format!("/{jar}"));
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Basic {}", STANDARD.encode("other:pw2")).as_str())
    );
    let second = FakeUpstream::start().await;
    let elsewhere = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({"url": second.url}),
    )
    .await;
    assert_eq!(elsewhere.body, json!({"success": true}));
    assert_eq!(second.count("HEAD", test_path), 1);
    assert_eq!(second.requests()[0].authorization, None);
    let half = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({"url": second.url, "password": "x"}),
    )
    .await;
    assert_eq!(
        (half.status, half.body),
        (
            400,
            json!({"error": "username, password provide all or none of parameters"})
        )
    );
    assert_eq!(
        post(
            &app,
            &token,
            &format!("{MAVEN}/upstreams/{}/test", id + 1000),
            json!({})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(&app, &stranger, &format!("{MAVEN}/upstreams/{id}/test"))
            .await
            .status,
        404
    );

    // An unreachable upstream is a failed test, not an error. Port 1 on loopback has no listener (a
    // stopped fake's port could be taken by another test meanwhile).
    let unreachable = post(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{id}/test"),
        json!({"url": "http://127.0.0.1:1"}),
    )
    .await;
    assert_eq!(unreachable.status, 200);
    assert_eq!(unreachable.body["success"], false);
    assert!(
        unreachable.body["result"]
            .as_str()
            .unwrap()
            .starts_with("Error: "),
        "{}",
        unreachable.body
    );
}

async fn cache_entries_are_listed_and_deleted(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let fake = FakeUpstream::start().await;
    let pom = "com/example/lib/1.0/lib-1.0.pom";
    let jar = "com/example/lib/1.0/lib-1.0.jar";
    fake.set(
        pom,
        Reply::file_with_etag("<project/>", "application/xml", "\"686897696a7c876b7e\""),
    );
    fake.set(jar, Reply::file("jar bytes", "application/java-archive"));
    let registry = create_registry(&app, &token, group, "r").await;
    let upstream = create_upstream(&app, &token, registry, json!({"url": fake.url})).await;
    let id = upstream["id"].as_i64().unwrap();
    pull(&app, registry, pom).await;
    pull(&app, registry, jar).await;
    let entries = format!("{MAVEN}/upstreams/{id}/cache_entries");

    let listed = get(&app, &token, &entries).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total"), "2");
    let list = listed.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["relative_path"], jar, "newest first");
    let entry = &list[1];
    assert_eq!(
        keys(entry),
        [
            "content_type",
            "created_at",
            "downloaded_at",
            "downloads_count",
            "file_md5",
            "file_sha1",
            "group_id",
            "id",
            "relative_path",
            "size",
            "updated_at",
            "upstream_checked_at",
            "upstream_etag",
            "upstream_id"
        ]
    );
    assert_eq!(entry["relative_path"], pom);
    assert_eq!(entry["group_id"], group);
    assert_eq!(entry["upstream_id"], id);
    assert_eq!(entry["size"], 10);
    assert_eq!(entry["content_type"], "application/xml");
    assert_eq!(entry["upstream_etag"], "\"686897696a7c876b7e\"");
    assert_eq!(entry["file_sha1"].as_str().unwrap().len(), 40);
    assert_eq!(entry["file_md5"].as_str().unwrap().len(), 32);
    for field in [
        "created_at",
        "updated_at",
        "upstream_checked_at",
        "downloaded_at",
    ] {
        assert!(is_timestamp(&entry[field]), "{field}: {}", entry[field]);
    }
    let entry_id = entry["id"].as_str().unwrap().to_owned();
    let decoded = String::from_utf8(STANDARD.decode(&entry_id).unwrap()).unwrap();
    assert_eq!(decoded, format!("{id} {pom}"));

    let searched = get(&app, &token, &format!("{entries}?search=.POM")).await;
    assert_eq!(searched.body.as_array().unwrap().len(), 1);
    assert_eq!(searched.body[0]["relative_path"], pom);
    let paged = get(&app, &token, &format!("{entries}?per_page=1&page=2")).await;
    assert_eq!(paged.body.as_array().unwrap().len(), 1);
    assert_eq!(paged.body[0]["relative_path"], pom);
    assert_eq!(paged.header("x-total-pages"), "2");

    let (guest_id, guest) = app.create_user_with_token("guest").await;
    add_member(&app, group, guest_id, 10).await;
    assert_eq!(get(&app, &guest, &entries).await.status, 200);
    assert_eq!(
        delete(&app, &guest, &format!("{MAVEN}/cache_entries/{entry_id}"))
            .await
            .status,
        403
    );

    let deleted = delete(&app, &token, &format!("{MAVEN}/cache_entries/{entry_id}")).await;
    assert_eq!((deleted.status, deleted.body), (204, Value::Null));
    let after = get(&app, &token, &entries).await;
    assert_eq!(after.body.as_array().unwrap().len(), 1);
    assert_eq!(after.body[0]["relative_path"], jar);
    assert_eq!(
        delete(&app, &token, &format!("{MAVEN}/cache_entries/{entry_id}"))
            .await
            .status,
        404
    );
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(format!("{id} {jar}"));
    for unknown in [
        "bm90IGFuIGlk".to_owned(),
        STANDARD.encode(format!("{id} no/such/file.jar")),
        STANDARD.encode(format!("{} {jar}", id + 1000)),
        "%%%".to_owned(),
    ] {
        let answer = delete(&app, &token, &format!("{MAVEN}/cache_entries/{unknown}")).await;
        assert_eq!(answer.status, 404, "{unknown}");
    }

    // The next pull walks the upstreams again and caches the file anew.
    pull(&app, registry, pom).await;
    assert_eq!(get(&app, &token, &entries).await.header("x-total"), "2");
    assert_eq!(fake.count("GET", pom), 2);

    let by_url_safe_id = delete(&app, &token, &format!("{MAVEN}/cache_entries/{url_safe}")).await;
    assert_eq!(by_url_safe_id.status, 204);
    assert_eq!(
        delete(&app, &token, &format!("{MAVEN}/upstreams/{id}/cache"))
            .await
            .status,
        204
    );
    assert_eq!(get(&app, &token, &entries).await.body, json!([]));
    assert_eq!(
        get(
            &app,
            &token,
            &format!("{MAVEN}/upstreams/{}/cache_entries", id + 1000)
        )
        .await
        .status,
        404
    );
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Inserts `count` live entries of an upstream straight into the database, oldest first
/// (`com/example/lib<i>/1.0/lib<i>-1.0.jar`), then one entry per path in `extra`.
async fn insert_entries(app: &TestApp, group: i64, upstream: i64, count: i64, extra: &[&str]) {
    let columns = "group_id, upstream_id, relative_path, blob_sha256, size, file_sha1, content_type, \
                   upstream_checked_at, downloads_count, downloaded_at, status, created_at, updated_at";
    let values = "'0000', 1, 'da39a3ee5e6b4b0d3255bfef95601890afd80709', 'application/java-archive', \
                  '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', \
                  '2026-01-01 00:00:00'";
    app.sql(
        "INSERT INTO blobs (sha256, size, created_at) VALUES ('0000', 1, '2026-01-01 00:00:00') \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .await;
    for i in 0..count {
        let path = format!("com/example/lib{i}/1.0/lib{i}-1.0.jar");
        app.sql(&format!(
            "INSERT INTO cache_entries ({columns}) VALUES ({group}, {upstream}, '{path}', {values})"
        ))
        .await;
    }
    for path in extra {
        let path = path.replace('\'', "''");
        app.sql(&format!(
            "INSERT INTO cache_entries ({columns}) VALUES ({group}, {upstream}, '{path}', {values})"
        ))
        .await;
    }
}

/// Every page of a list at `per_page`, checking each page's headers; returns the paths in list order.
async fn walk_pages(
    app: &TestApp,
    token: &str,
    list: &str,
    per_page: usize,
    total: usize,
) -> Vec<String> {
    let pages = total.div_ceil(per_page).max(1);
    let mut paths = Vec::new();
    for page in 1..=pages + 1 {
        let answer = get(
            app,
            token,
            &format!("{list}&page={page}&per_page={per_page}"),
        )
        .await;
        assert_eq!(answer.status, 200);
        let context = format!("page {page} of {pages} at {per_page}");
        assert_eq!(answer.header("x-total"), total.to_string(), "{context}");
        assert_eq!(
            answer.header("x-total-pages"),
            pages.to_string(),
            "{context}"
        );
        assert_eq!(answer.header("x-page"), page.to_string(), "{context}");
        assert_eq!(
            answer.header("x-per-page"),
            per_page.to_string(),
            "{context}"
        );
        let next = if page < pages {
            (page + 1).to_string()
        } else {
            String::new()
        };
        assert_eq!(answer.header("x-next-page"), next, "{context}");
        let prev = if page > 1 {
            (page - 1).to_string()
        } else {
            String::new()
        };
        assert_eq!(answer.header("x-prev-page"), prev, "{context}");
        let items = answer.body.as_array().unwrap();
        let expected = if page > pages {
            0
        } else {
            per_page.min(total - (page - 1) * per_page)
        };
        assert_eq!(items.len(), expected, "{context}");
        paths.extend(
            items
                .iter()
                .map(|item| item["relative_path"].as_str().unwrap().to_owned()),
        );
    }
    paths
}

async fn cache_entries_page_by_id_from_either_end(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let (_, upstreams) = app
        .maven_registry(group, &["http://127.0.0.1:1", "http://127.0.0.1:2"])
        .await;
    let (upstream, other) = (upstreams[0], upstreams[1]);
    insert_entries(&app, group, upstream, 45, &[]).await;
    insert_entries(&app, group, other, 3, &[]).await;
    let list = format!("{MAVEN}/upstreams/{upstream}/cache_entries?x=1");
    let newest_first: Vec<String> = (0..45)
        .rev()
        .map(|i| format!("com/example/lib{i}/1.0/lib{i}-1.0.jar"))
        .collect();
    for per_page in [1, 2, 7, 10, 22, 23, 45, 100] {
        assert_eq!(
            walk_pages(&app, &token, &list, per_page, 45).await,
            newest_first,
            "per_page {per_page}"
        );
    }

    // Hidden entries leave the list and its count; the other upstream's entries never were in it.
    app.sql(&format!(
        "UPDATE cache_entries SET status = 2 WHERE upstream_id = {upstream} \
         AND relative_path IN ('com/example/lib0/1.0/lib0-1.0.jar', 'com/example/lib20/1.0/lib20-1.0.jar')"
    ))
    .await;
    app.sql(&format!(
        "DELETE FROM cache_entries WHERE upstream_id = {upstream} AND status = 2 \
         AND relative_path = 'com/example/lib0/1.0/lib0-1.0.jar'"
    ))
    .await;
    let live: Vec<String> = newest_first
        .iter()
        .filter(|p| !p.contains("/lib0/") && !p.contains("/lib20/"))
        .cloned()
        .collect();
    for per_page in [1, 4, 10, 43] {
        assert_eq!(walk_pages(&app, &token, &list, per_page, 43).await, live);
    }
    let far = get(&app, &token, &format!("{list}&page=1000&per_page=10")).await;
    assert_eq!(far.body, json!([]));
    assert_eq!(far.header("x-total-pages"), "5");
    assert_eq!(far.header("x-prev-page"), "999");

    // A search pages the same way over its matches only.
    let searched = format!("{list}&search=LIB1");
    let matches: Vec<String> = live
        .iter()
        .filter(|p| p.contains("lib1"))
        .cloned()
        .collect();
    assert_eq!(matches.len(), 11);
    for per_page in [1, 3, 11] {
        assert_eq!(
            walk_pages(&app, &token, &searched, per_page, 11).await,
            matches
        );
    }

    // Purging the upstream's cache empties the list.
    let purged = delete(&app, &token, &format!("{MAVEN}/upstreams/{upstream}/cache")).await;
    assert_eq!(purged.status, 204);
    assert_eq!(
        walk_pages(&app, &token, &list, 20, 0).await,
        Vec::<String>::new()
    );
    let others = get(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{other}/cache_entries"),
    )
    .await;
    assert_eq!(others.header("x-total"), "3");
}

async fn cache_entry_search_is_a_literal_substring(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let (_, upstreams) = app.maven_registry(group, &["http://127.0.0.1:1"]).await;
    let upstream = upstreams[0];
    let paths = [
        "odd/100%_sure/a.jar",
        "odd/100x_sure/b.jar",
        "odd/1000_sure/c.jar",
        "odd/back\\slash/d.jar",
        "odd/Mixed_Case/e.jar",
        "odd/say\"hi\"/f.jar",
        "odd/it's/g.jar",
        "odd/ünï/h.jar",
    ];
    insert_entries(&app, group, upstream, 0, &paths).await;
    let list = format!("{MAVEN}/upstreams/{upstream}/cache_entries");
    for (term, expected) in [
        ("100%_", vec!["odd/100%_sure/a.jar"]),
        ("0%", vec!["odd/100%_sure/a.jar"]),
        ("0_s", vec!["odd/1000_sure/c.jar"]),
        ("K\\S", vec!["odd/back\\slash/d.jar"]),
        ("\\", vec!["odd/back\\slash/d.jar"]),
        ("mixed_CASE", vec!["odd/Mixed_Case/e.jar"]),
        ("_c", vec!["odd/Mixed_Case/e.jar"]),
        ("y\"hi\"/", vec!["odd/say\"hi\"/f.jar"]),
        ("\"", vec!["odd/say\"hi\"/f.jar"]),
        ("it's", vec!["odd/it's/g.jar"]),
        ("ünï", vec!["odd/ünï/h.jar"]),
        ("nï/h", vec!["odd/ünï/h.jar"]),
        ("%%%", vec![]),
        ("___", vec![]),
        ("sure/x", vec![]),
        ("odd/", paths.iter().rev().copied().collect()),
    ] {
        let answer = get(&app, &token, &format!("{list}?search={}", encode(term))).await;
        assert_eq!(answer.status, 200, "{term}");
        let found: Vec<&str> = answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["relative_path"].as_str().unwrap())
            .collect();
        assert_eq!(found, expected, "search {term}");
        assert_eq!(
            answer.header("x-total"),
            expected.len().to_string(),
            "{term}"
        );
    }
}

async fn registry_cache_purge_spares_shared_upstreams(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let exclusive_fake = FakeUpstream::start().await;
    let shared_fake = FakeUpstream::start().await;
    let jar = "org/example/a/1/a-1.jar";
    let pom = "org/example/b/1/b-1.pom";
    exclusive_fake.set(jar, Reply::file("a", "application/java-archive"));
    shared_fake.set(pom, Reply::file("<b/>", "application/xml"));
    let registry = create_registry(&app, &token, group, "r").await;
    let other = create_registry(&app, &token, group, "other").await;
    let exclusive = create_upstream(&app, &token, registry, json!({"url": exclusive_fake.url}))
        .await["id"]
        .as_i64()
        .unwrap();
    let shared =
        create_upstream(&app, &token, registry, json!({"url": shared_fake.url})).await["id"]
            .as_i64()
            .unwrap();
    let answer = post(
        &app,
        &token,
        &format!("{MAVEN}/registry_upstreams"),
        json!({"registry_id": other, "upstream_id": shared}),
    )
    .await;
    assert_eq!(answer.status, 201);
    pull(&app, registry, jar).await;
    pull(&app, registry, pom).await;

    let purged = delete(
        &app,
        &token,
        &format!("{MAVEN}/registries/{registry}/cache"),
    )
    .await;
    assert_eq!((purged.status, purged.body), (204, Value::Null));
    let cache = |upstream: i64| format!("{MAVEN}/upstreams/{upstream}/cache_entries");
    assert_eq!(get(&app, &token, &cache(exclusive)).await.body, json!([]));
    assert_eq!(
        get(&app, &token, &cache(shared))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        delete(
            &app,
            &token,
            &format!("{MAVEN}/registries/{}/cache", registry + 1000)
        )
        .await
        .status,
        404
    );
}

both_backends!(
    registries_have_gitlab_shapes_and_lifecycle,
    registry_validation_follows_gitlab,
    management_requires_authentication_and_rights,
    upstreams_are_created_in_a_registry_with_gitlab_shapes,
    upstream_validation_follows_gitlab,
    local_upstream_urls_are_refused_unless_allowed,
    upstream_updates_follow_the_credential_rules,
    positions_move_cap_and_repack,
    associations_are_validated,
    deleting_a_registry_deletes_its_exclusive_upstreams_only,
    group_upstreams_are_paginated_and_filtered,
    connection_tests_head_the_upstream,
    cache_entries_are_listed_and_deleted,
    cache_entries_page_by_id_from_either_end,
    cache_entry_search_is_a_literal_substring,
);

every_store!(registry_cache_purge_spares_shared_upstreams,);
