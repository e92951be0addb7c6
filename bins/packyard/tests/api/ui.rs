//! The web interface: sessions, CSRF, tokens shown once, escaping, what each role sees, and render time
//! with 100k cache entries.

use std::time::{Duration, Instant};

use packyard_core::identity::Credential;
use packyard_core::registries::RegistryInput;
use packyard_domain::{AccessLevel, Format, RegistryId, Scope, UpstreamId};

use crate::{Backend, TestApp, both_backends};

/// A browser stand-in: no redirects followed, cookies kept by hand.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
    /// The CSRF token of the last page that had one.
    csrf: String,
}

struct Answer {
    status: u16,
    location: String,
    body: String,
}

fn hidden_csrf(body: &str) -> Option<String> {
    let start = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap();
        if let Some(csrf) = hidden_csrf(&body) {
            self.csrf = csrf;
        }
        Answer {
            status,
            location,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// POSTs a form with the CSRF token of the last page.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// POSTs exactly these fields.
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn sign_in(app: &TestApp, token: &str) -> Self {
        let mut browser = Browser::new(app);
        let form = browser.get("/-/ui/sign-in").await;
        assert_eq!(form.status, 200);
        let signed_in = browser
            .post("/-/ui/sign-in", &[("token", token), ("next", "")])
            .await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert_eq!(signed_in.location, "/-/ui/groups");
        let groups = browser.get("/-/ui/groups").await;
        assert_eq!(groups.status, 200);
        browser
    }
}

/// POST forms on a page besides sign-out.
fn edit_forms(body: &str) -> usize {
    body.matches("method=\"post\"").count() - body.matches("/-/ui/sign-out").count()
}

async fn pages_need_a_session(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let (registry, _) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let mut anonymous = Browser::new(&app);
    for path in [
        "/-/ui".to_owned(),
        "/-/ui/groups".to_owned(),
        format!("/-/ui/groups/{group}"),
        format!("/-/ui/groups/{group}/cleanup"),
        format!("/-/ui/groups/{group}/deploy-tokens"),
        format!("/-/ui/registries/maven/{registry}"),
        "/-/ui/tokens".to_owned(),
        "/-/ui/admin".to_owned(),
    ] {
        let answer = anonymous.get(&path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert!(
            answer.location.starts_with("/-/ui/sign-in?next=%2F-%2Fui"),
            "{path}: {}",
            answer.location
        );
        assert!(!answer.body.contains("acme"), "{path}");
    }
    let post = anonymous
        .post_raw(&format!("/-/ui/registries/maven/{registry}/purge"), &[])
        .await;
    assert_eq!(post.status, 303);
    assert_eq!(post.location, "/-/ui/sign-in");
    // A forged or expired cookie is no session.
    anonymous
        .cookies
        .push(("packyard_session".into(), "v1.1.99999999999.00".into()));
    assert_eq!(anonymous.get("/-/ui/groups").await.status, 303);

    // Signing in leads back to the page asked for, never to another site.
    let mut browser = Browser::new(&app);
    browser
        .get(&format!(
            "/-/ui/sign-in?next=%2F-%2Fui%2Fregistries%2Fmaven%2F{registry}"
        ))
        .await;
    let token = app.admin_token.clone();
    let back = browser
        .post(
            "/-/ui/sign-in",
            &[
                ("token", &token),
                ("next", &format!("/-/ui/registries/maven/{registry}")),
            ],
        )
        .await;
    assert_eq!(back.location, format!("/-/ui/registries/maven/{registry}"));
    let cookie = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "packyard_session")
        .unwrap();
    assert!(
        !cookie.1.contains(&token),
        "the cookie names the token, never holds it"
    );
    let mut browser = Browser::new(&app);
    browser.get("/-/ui/sign-in").await;
    let away = browser
        .post(
            "/-/ui/sign-in",
            &[("token", &token), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(away.location, "/-/ui/groups");

    // Wrong tokens and a username that is not the token's owner are refused; deploy tokens too.
    for (username, secret) in [("", "pyat-wrong"), ("someone-else", token.as_str())] {
        let mut browser = Browser::new(&app);
        browser.get("/-/ui/sign-in").await;
        let refused = browser
            .post(
                "/-/ui/sign-in",
                &[("username", username), ("token", secret)],
            )
            .await;
        assert_eq!(refused.status, 401);
        assert!(!browser.cookies.iter().any(|(k, _)| k == "packyard_session"));
    }
    let group_row = app.core.find_group("acme").await.unwrap();
    let deploy = app
        .core
        .create_deploy_token(
            &app.admin().await,
            &group_row,
            "ci".into(),
            None,
            vec![Scope::ReadVirtualRegistry],
            None,
        )
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    browser.get("/-/ui/sign-in").await;
    let refused = browser
        .post("/-/ui/sign-in", &[("token", &deploy.token)])
        .await;
    assert_eq!(refused.status, 401);

    // The session cookie's attributes.
    let mut browser = Browser::new(&app);
    browser.get("/-/ui/sign-in").await;
    let response = browser
        .client
        .post(format!("{}/-/ui/sign-in", app.base))
        .header("Cookie", browser.cookie_header())
        .form(&[("csrf", browser.csrf.as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    let set_cookie: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("packyard_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/-/ui"), "{session}");

    // Revoking the token ends its sessions.
    let mut browser = Browser::sign_in(&app, &token).await;
    let admin = app.admin().await;
    app.core
        .revoke_personal_access_token(&admin, None)
        .await
        .unwrap();
    assert_eq!(browser.get("/-/ui/groups").await.status, 303);
}

async fn cookies_are_secure_behind_https(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |settings| {
        settings.server.external_url = Some("https://packyard.example.com".into());
    })
    .await
    else {
        return;
    };
    let response = app
        .client
        .get(app.url("/-/ui/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("packyard_sign_in="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

async fn every_post_needs_the_csrf_token(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let (registry, upstreams) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let token = app.admin_token.clone();
    let mut browser = Browser::sign_in(&app, &token).await;
    let page = browser
        .get(&format!("/-/ui/registries/maven/{registry}"))
        .await;
    assert_eq!(page.status, 200);
    let good = browser.csrf.clone();
    assert!(!good.is_empty());
    let links = app
        .core
        .list_registry_upstreams(&app.admin().await, Format::Maven, RegistryId(registry))
        .await
        .unwrap();
    let link = links[0].1.id;
    let upstream = upstreams[0];
    let posts = [
        "/-/ui/sign-out".to_owned(),
        format!("/-/ui/groups/{group}/registries"),
        format!("/-/ui/groups/{group}/cleanup"),
        format!("/-/ui/groups/{group}/deploy-tokens"),
        format!("/-/ui/groups/{group}/deploy-tokens/1/revoke"),
        format!("/-/ui/groups/{group}/packages/00000000-0000-0000-0000-000000000000/delete"),
        format!("/-/ui/registries/maven/{registry}/delete"),
        format!("/-/ui/registries/maven/{registry}/purge"),
        format!("/-/ui/registries/maven/{registry}/upstreams"),
        format!("/-/ui/registries/maven/{registry}/upstreams/{upstream}"),
        format!("/-/ui/registries/maven/{registry}/upstreams/{upstream}/test"),
        format!("/-/ui/registries/maven/{registry}/links"),
        format!("/-/ui/registries/maven/{registry}/links/{link}/move"),
        format!("/-/ui/registries/maven/{registry}/links/{link}/remove"),
        format!("/-/ui/registries/maven/{registry}/entries/delete"),
        "/-/ui/tokens".to_owned(),
        "/-/ui/tokens/1/revoke".to_owned(),
    ];
    for path in &posts {
        let fields = [
            ("format", "maven"),
            ("name", "made"),
            ("url", "http://127.0.0.1:9/b"),
            ("position", "1"),
            ("keep_n_days_after_download", "30"),
            ("cadence", "7"),
            ("scope", "api"),
            ("entry", "x"),
            ("upstream", "1"),
        ];
        let missing = browser.post_raw(path, &fields).await;
        assert_eq!(missing.status, 403, "{path} without a CSRF token");
        let mut wrong = vec![("csrf", "0".repeat(64))];
        wrong.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = browser.post_raw(path, &wrong).await;
        assert_eq!(answer.status, 403, "{path} with another CSRF token");
    }
    // Nothing changed: still signed in, the registry and its upstream as they were, no token made.
    assert_eq!(browser.get("/-/ui/groups").await.status, 200);
    let admin = app.admin().await;
    let after = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(registry))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(
        app.core
            .list_registries(&admin, Format::Maven, &group.to_string())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.core
            .list_personal_access_tokens(&admin)
            .await
            .unwrap()
            .len(),
        1
    );
    // The CSRF token of another session does not work either.
    let mut other = Browser::sign_in(&app, &token).await;
    other.csrf = good.clone();
    let stolen = other
        .post(&format!("/-/ui/registries/maven/{registry}/purge"), &[])
        .await;
    assert_eq!(stolen.status, 403);
    // The sign-in form checks its own token against its cookie.
    let mut fresh = Browser::new(&app);
    fresh.get("/-/ui/sign-in").await;
    fresh.cookies.clear();
    let forged = fresh.post("/-/ui/sign-in", &[("token", &token)]).await;
    assert_eq!(forged.status, 403);
    // With the token, the same form works.
    let made = browser
        .post(
            &format!("/-/ui/groups/{group}/registries"),
            &[("format", "maven"), ("name", "made")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
}

/// The secret a page shows as just created.
fn new_token(body: &str) -> String {
    body.split("id=\"new-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no new token on the page: {body}"))
        .to_owned()
}

async fn a_new_token_is_shown_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let token = app.admin_token.clone();
    let mut browser = Browser::sign_in(&app, &token).await;
    browser.get("/-/ui/tokens").await;
    let created = browser
        .post(
            "/-/ui/tokens",
            &[
                ("name", "laptop"),
                ("scope", "read_api"),
                ("scope", "read_virtual_registry"),
            ],
        )
        .await;
    // The creation redirects to the list, handing the token over in a sealed cookie.
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location, "/-/ui/tokens");
    let handover = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "packyard_new_token")
        .unwrap()
        .1
        .clone();
    assert!(!handover.contains("pyat-"), "sealed: {handover}");
    // Another session of the same person does not get it.
    let mut other = Browser::sign_in(&app, &token).await;
    other
        .cookies
        .push(("packyard_new_token".into(), handover.clone()));
    let elsewhere = other.get("/-/ui/tokens").await;
    assert!(!elsewhere.body.contains("id=\"new-token\""));
    assert!(!elsewhere.body.contains("pyat-"));
    let shown = browser.get("/-/ui/tokens").await;
    let secret = new_token(&shown.body);
    assert!(secret.starts_with("pyat-"), "{secret}");
    assert!(
        !browser
            .cookies
            .iter()
            .any(|(k, _)| k == "packyard_new_token"),
        "the list removes the hand-over"
    );
    let actor = app
        .core
        .authenticate(Credential::Token(secret.clone()))
        .await
        .unwrap();
    assert!(actor.has_scope_for(packyard_core::identity::Need::Read));
    assert!(!actor.has_scope_for(packyard_core::identity::Need::Write));
    for path in [
        "/-/ui/tokens".to_owned(),
        "/-/ui/groups".to_owned(),
        format!("/-/ui/groups/{group}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(&secret), "{path} shows the token again");
        assert!(
            !page.body.contains(&token),
            "{path} shows the session's token"
        );
    }
    assert!(browser.get("/-/ui/tokens").await.body.contains("laptop"));
    assert_eq!(
        browser
            .post("/-/ui/tokens", &[("name", "bad"), ("scope", "sudo")])
            .await
            .status,
        400
    );

    browser
        .get(&format!("/-/ui/groups/{group}/deploy-tokens"))
        .await;
    let created = browser
        .post(
            &format!("/-/ui/groups/{group}/deploy-tokens"),
            &[("name", "ci"), ("scope", "read_virtual_registry")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let deploy = new_token(
        &browser
            .get(&format!("/-/ui/groups/{group}/deploy-tokens"))
            .await
            .body,
    );
    assert!(deploy.starts_with("pydt-"));
    let list = browser
        .get(&format!("/-/ui/groups/{group}/deploy-tokens"))
        .await;
    assert!(list.body.contains("ci"));
    assert!(!list.body.contains(&deploy));
    // Revoked from the list, the token stops working.
    let id = app
        .core
        .list_deploy_tokens(
            &app.admin().await,
            &app.core.find_group("acme").await.unwrap(),
        )
        .await
        .unwrap()[0]
        .id;
    let (registry, _) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let pull = |token: String| {
        let request = app
            .client
            .get(app.url(&format!(
                "/api/v4/virtual_registries/packages/maven/{registry}/org/a/a/1/a-1.pom"
            )))
            .header("Deploy-Token", token)
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };
    assert_ne!(pull(deploy.clone()).await, 401);
    let revoked = browser
        .post(
            &format!("/-/ui/groups/{group}/deploy-tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(
        pull(deploy.clone()).await,
        401,
        "a revoked deploy token pulls nothing"
    );
    assert!(
        app.core
            .authenticate(Credential::DeployOrPersonal(deploy))
            .await
            .is_err()
    );
}

async fn html_is_rendered_as_text(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let admin = app.admin().await;
    let registry = app
        .core
        .create_registry(
            &admin,
            Format::Maven,
            &group.to_string(),
            RegistryInput {
                name: "<script>alert('registry')</script>".into(),
                description: Some("<img src=x onerror=alert(1)>".into()),
            },
        )
        .await
        .unwrap();
    let token = app.admin_token.clone();
    // A hosted package, then HTML in its name and description.
    let response = app
        .client
        .put(app.url("/company/acme/package/-/generic/tool/1.0/tool.txt"))
        .header("PRIVATE-TOKEN", &token)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    app.sql("UPDATE packages SET name = '<b onmouseover=alert(2)>tool</b>'")
        .await;
    app.sql(
        "UPDATE package_versions SET metadata = '{\"description\": \"<script>alert(3)</script>\"}'",
    )
    .await;
    let package = app
        .core
        .list_company_packages(
            &app.core.find_group("acme").await.unwrap(),
            packyard_domain::PackageType::Generic,
        )
        .await
        .unwrap()
        .remove(0);

    let mut browser = Browser::sign_in(&app, &token).await;
    let group_page = browser.get(&format!("/-/ui/groups/{group}")).await;
    let registry_page = browser
        .get(&format!("/-/ui/registries/maven/{}", registry.id))
        .await;
    let package_page = browser
        .get(&format!("/-/ui/groups/{group}/packages/{}", package.uuid))
        .await;
    for page in [&group_page, &registry_page, &package_page] {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(!page.body.contains("<img src=x"));
        assert!(!page.body.contains("<b onmouseover"));
    }
    assert!(
        group_page
            .body
            .contains("&#60;script&#62;alert(&#39;registry&#39;)&#60;/script&#62;")
            || group_page.body.contains("&lt;script&gt;"),
        "{}",
        group_page.body
    );
    assert!(
        package_page.body.contains("tool&#60;/b&#62;")
            || package_page.body.contains("tool&lt;/b&gt;")
    );
    assert!(package_page.body.contains("alert(3)"));
    assert!(
        package_page
            .body
            .contains(&format!("{}/company/acme/package/-/generic/", app.base))
    );
    // Every page forbids inline script.
    let response = app
        .client
        .get(app.url("/-/ui/sign-in"))
        .send()
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
}

async fn a_group_pages_and_searches_its_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    for i in 0..150 {
        let response = app
            .client
            .put(app.url(&format!(
                "/company/acme/package/-/generic/tool-{i:03}/1.0/tool.txt"
            )))
            .header("PRIVATE-TOKEN", &app.admin_token)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
    let listed = |body: &str| body.matches("\">tool-").count();
    let mut browser = Browser::sign_in(&app, &app.admin_token.clone()).await;
    let first = browser.get(&format!("/-/ui/groups/{group}")).await;
    assert_eq!(first.status, 200);
    assert_eq!(listed(&first.body), 100);
    assert!(first.body.contains("page 1 of 2"), "{}", first.body);
    assert!(
        first
            .body
            .contains(&format!("/-/ui/groups/{group}?q=&amp;page=2#hosted"))
            || first
                .body
                .contains(&format!("/-/ui/groups/{group}?q=&#38;page=2#hosted"))
    );
    let second = browser.get(&format!("/-/ui/groups/{group}?page=2")).await;
    assert_eq!(listed(&second.body), 50);
    assert!(second.body.contains("rel=\"prev\"") && !second.body.contains("rel=\"next\""));
    // A name search, any case; a page past the end shows the last one.
    let found = browser
        .get(&format!("/-/ui/groups/{group}?q=TOOL-14&page=9"))
        .await;
    assert_eq!(listed(&found.body), 10, "{}", found.body);
    assert!(found.body.contains("page 1 of 1"));
    let none = browser
        .get(&format!("/-/ui/groups/{group}?q=%3Cscript%3E"))
        .await;
    assert_eq!(listed(&none.body), 0);
    assert!(!none.body.contains("<script>"));
    assert!(none.body.contains("id=\"package-total\">0</span> packages"));
}

async fn roles_see_what_they_may_do(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let (registry, _) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let maintainer = app
        .member_token(group, "keeper", AccessLevel::Maintainer)
        .await;
    let (_, outsider) = app.create_user_with_token("outsider").await;
    app.client
        .put(app.url("/company/acme/package/-/generic/tool/1.0/tool.txt"))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .body("hello")
        .send()
        .await
        .unwrap();
    let package = app
        .core
        .list_company_packages(
            &app.core.find_group("acme").await.unwrap(),
            packyard_domain::PackageType::Generic,
        )
        .await
        .unwrap()
        .remove(0);
    let pages = [
        format!("/-/ui/groups/{group}"),
        format!("/-/ui/registries/maven/{registry}"),
        format!("/-/ui/groups/{group}/packages/{}", package.uuid),
    ];

    let mut as_guest = Browser::sign_in(&app, &guest).await;
    for path in &pages {
        let page = as_guest.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(edit_forms(&page.body), 0, "{path}: {}", page.body);
        assert!(!page.body.contains("Deploy tokens"));
    }
    assert_eq!(
        as_guest
            .get(&format!("/-/ui/groups/{group}/deploy-tokens"))
            .await
            .status,
        403
    );
    assert_eq!(
        as_guest
            .get(&format!("/-/ui/groups/{group}/cleanup"))
            .await
            .status,
        403
    );
    assert_eq!(as_guest.get("/-/ui/admin").await.status, 403);
    // A guest's POST is refused by the services, as the API refuses it.
    let refused = as_guest
        .post(&format!("/-/ui/registries/maven/{registry}/purge"), &[])
        .await;
    assert_eq!(refused.status, 403);

    // A subgroup's page says where registries live.
    let subgroup = app
        .core
        .create_group(
            &app.admin().await,
            "team".into(),
            "team".into(),
            Some(group),
            None,
        )
        .await
        .unwrap();
    let page = as_guest.get(&format!("/-/ui/groups/{}", subgroup.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("belong to top-level groups"));
    assert_eq!(edit_forms(&page.body), 0);

    let mut as_maintainer = Browser::sign_in(&app, &maintainer).await;
    let page = as_maintainer.get(&pages[1]).await;
    assert!(edit_forms(&page.body) > 0);
    assert!(page.body.contains("Add an upstream"));
    assert!(
        as_maintainer
            .get(&pages[0])
            .await
            .body
            .contains("Create registry")
    );

    let mut as_outsider = Browser::sign_in(&app, &outsider).await;
    let groups = as_outsider.get("/-/ui/groups").await;
    assert!(!groups.body.contains("acme"));
    for path in pages.iter().chain([
        &format!("/-/ui/groups/{group}/deploy-tokens"),
        &format!("/-/ui/groups/{group}/cleanup"),
    ]) {
        let page = as_outsider.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("acme"), "{path}");
    }
}

async fn removing_an_upstream_unlinks_it_from_this_registry_only(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let admin = app.admin().await;
    let (first, upstreams) = app
        .maven_registry(group, &["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"])
        .await;
    let (second, _) = app.maven_registry(group, &[]).await;
    let shared = upstreams[0];
    app.core
        .associate_upstream(
            &admin,
            Format::Maven,
            RegistryId(second),
            UpstreamId(shared),
        )
        .await
        .unwrap();
    let mut browser = Browser::sign_in(&app, &app.admin_token.clone()).await;
    browser
        .get(&format!("/-/ui/registries/maven/{first}"))
        .await;
    let links = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(first))
        .await
        .unwrap();
    // Reorder: the second upstream moves up.
    let moved = browser
        .post(
            &format!(
                "/-/ui/registries/maven/{first}/links/{}/move",
                links[1].1.id
            ),
            &[("position", "1")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let order: Vec<i64> = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(first))
        .await
        .unwrap()
        .iter()
        .map(|(u, _)| u.id)
        .collect();
    assert_eq!(order, [upstreams[1], shared]);
    // A link of another registry cannot be changed through this registry's page.
    let other_link = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(second))
        .await
        .unwrap()[0]
        .1
        .id;
    let crossed = browser
        .post(
            &format!("/-/ui/registries/maven/{first}/links/{other_link}/remove"),
            &[],
        )
        .await;
    assert_eq!(crossed.status, 404);

    let shared_link = links[0].1.id;
    let removed = browser
        .post(
            &format!("/-/ui/registries/maven/{first}/links/{shared_link}/remove"),
            &[],
        )
        .await;
    assert_eq!(removed.status, 303);
    let left: Vec<i64> = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(first))
        .await
        .unwrap()
        .iter()
        .map(|(u, _)| u.id)
        .collect();
    assert_eq!(left, [upstreams[1]]);
    let other: Vec<i64> = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(second))
        .await
        .unwrap()
        .iter()
        .map(|(u, _)| u.id)
        .collect();
    assert_eq!(
        other,
        [shared],
        "the other registry keeps the shared upstream"
    );
    app.core
        .find_upstream(&admin, Format::Maven, UpstreamId(shared))
        .await
        .unwrap();
    // And it can be linked again from the group's upstreams, last.
    let page = browser
        .get(&format!("/-/ui/registries/maven/{first}"))
        .await;
    assert!(page.body.contains("Use an upstream of the group"));
    let linked = browser
        .post(
            &format!("/-/ui/registries/maven/{first}/links"),
            &[("upstream", &shared.to_string())],
        )
        .await;
    assert_eq!(linked.status, 303, "{}", linked.body);
    let again: Vec<i64> = app
        .core
        .list_registry_upstreams(&admin, Format::Maven, RegistryId(first))
        .await
        .unwrap()
        .iter()
        .map(|(u, _)| u.id)
        .collect();
    assert_eq!(again, [upstreams[1], shared]);
    // The metadata validity shows for Maven.
    let page = browser
        .get(&format!("/-/ui/registries/maven/{first}"))
        .await;
    assert!(page.body.contains("Metadata validity"));
}

/// The median of `runs` timed GETs of a page.
async fn median_render(browser: &mut Browser, path: &str, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let page = browser.get(path).await;
        times.push(started.elapsed());
        assert_eq!(page.status, 200, "{path}");
    }
    times.sort();
    times[runs / 2]
}

async fn pages_render_fast_with_100k_cache_entries(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let (registry, upstreams) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let upstream = upstreams[0];
    app.sql(
        "INSERT INTO blobs (sha256, size, created_at) VALUES ('bench', 1, '2026-01-01 00:00:00')",
    )
    .await;
    app.sql(&format!(
        "INSERT INTO cache_entries (group_id, upstream_id, relative_path, blob_sha256, size, file_sha1, \
             content_type, upstream_checked_at, downloads_count, downloaded_at, status, created_at, updated_at) \
         WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) \
         SELECT {group}, {upstream}, \
             'org/bench/lib' || CAST(i % 1000 AS TEXT) || '/1.' || CAST(i / 1000 AS TEXT) || '/lib' \
                 || CAST(i % 1000 AS TEXT) || '-1.' || CAST(i / 1000 AS TEXT) || '.jar', \
             'bench', 1, 'da39a3ee5e6b4b0d3255bfef95601890afd80709', 'application/java-archive', \
             '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00' \
         FROM n"
    ))
    .await;
    if backend == Backend::Postgres {
        app.sql("ANALYZE cache_entries").await;
    }
    let mut browser = Browser::sign_in(&app, &app.admin_token.clone()).await;
    let base = format!("/-/ui/registries/maven/{registry}");
    let first = browser.get(&base).await;
    assert!(
        first
            .body
            .contains("<span id=\"cache-total\">100000</span>"),
        "{}",
        &first.body[..2000.min(first.body.len())]
    );
    assert_eq!(first.body.matches("<tr class=\"entry\">").count(), 50);
    let search = browser.get(&format!("{base}?q=lib737-1.4")).await;
    assert!(search.body.contains("<span id=\"cache-total\">"));
    let cases = [
        ("first page", base.clone()),
        (
            "page 1000 of 2000",
            format!("{base}?upstream={upstream}&page=1000"),
        ),
        ("last page", format!("{base}?upstream={upstream}&page=2000")),
        ("search", format!("{base}?upstream={upstream}&q=lib737-1.4")),
        (
            "search, page 2",
            format!("{base}?upstream={upstream}&q=lib73&page=2"),
        ),
        ("group page", format!("/-/ui/groups/{group}")),
    ];
    for (name, path) in &cases {
        let median = median_render(&mut browser, path, 9).await;
        println!(
            "render {backend:?} {name}: {:.1} ms",
            median.as_secs_f64() * 1000.0
        );
        assert!(
            median < Duration::from_millis(50),
            "{name} took {median:?} with 100k entries"
        );
    }
}

async fn maintainers_edit_upstreams_entries_and_policies(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let admin = app.admin().await;
    let (registry, upstreams) = app.maven_registry(group, &["http://127.0.0.1:9/a"]).await;
    let upstream = upstreams[0];
    app.sql("INSERT INTO blobs (sha256, size, created_at) VALUES ('b', 1, '2026-01-01 00:00:00')")
        .await;
    for path in ["org/a/a/1/a-1.jar", "org/a/a/maven-metadata.xml"] {
        app.sql(&format!(
            "INSERT INTO cache_entries (group_id, upstream_id, relative_path, blob_sha256, size, file_sha1, \
                 content_type, upstream_checked_at, downloads_count, status, created_at, updated_at) \
             VALUES ({group}, {upstream}, '{path}', 'b', 1, 'x', 'application/octet-stream', \
                 '2026-01-01 00:00:00', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ))
        .await;
    }
    let maintainer = app
        .member_token(group, "keeper", AccessLevel::Maintainer)
        .await;
    let mut browser = Browser::sign_in(&app, &maintainer).await;
    let page = browser
        .get(&format!("/-/ui/registries/maven/{registry}"))
        .await;
    assert_eq!(page.body.matches("<tr class=\"entry\">").count(), 2);
    assert!(page.body.contains(">stale<"), "old entries are stale");

    // Edit the upstream: name and validities; the form's blank password keeps none.
    let edited = browser
        .post(
            &format!("/-/ui/registries/maven/{registry}/upstreams/{upstream}"),
            &[
                ("name", "central"),
                ("url", "http://127.0.0.1:9/a"),
                ("cache_validity_hours", "0"),
                ("metadata_cache_validity_hours", "6"),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    let details = app
        .core
        .find_upstream(&admin, Format::Maven, UpstreamId(upstream))
        .await
        .unwrap();
    assert_eq!(details.upstream.name, "central");
    assert_eq!(details.upstream.cache_validity_hours, 0);
    assert_eq!(details.upstream.metadata_cache_validity_hours, Some(6));
    let page = browser
        .get(&format!("/-/ui/registries/maven/{registry}"))
        .await;
    assert!(page.body.contains("never stale") && page.body.contains("6 hours"));
    // Bad input is a precise 400, and changes nothing.
    let bad = browser
        .post(
            &format!("/-/ui/registries/maven/{registry}/upstreams/{upstream}"),
            &[
                ("name", "x"),
                ("url", "http://127.0.0.1:9/a"),
                ("cache_validity_hours", "soon"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("whole number"), "{}", bad.body);

    // Delete one entry: the other stays.
    let entry = packyard_domain::CacheEntryId {
        upstream_id: UpstreamId(upstream),
        relative_path: "org/a/a/1/a-1.jar".into(),
    }
    .encode();
    let deleted = browser
        .post(
            &format!("/-/ui/registries/maven/{registry}/entries/delete"),
            &[("entry", &entry)],
        )
        .await;
    assert_eq!(deleted.status, 303);
    let page = browser
        .get(&format!("/-/ui/registries/maven/{registry}"))
        .await;
    assert_eq!(page.body.matches("<tr class=\"entry\">").count(), 1);
    assert!(page.body.contains("maven-metadata.xml"));

    // A container registry: docker's configuration, no metadata validity.
    let (container, _) = app
        .virtual_registry(Format::Container, group, &["https://registry-1.docker.io"])
        .await;
    let page = browser
        .get(&format!("/-/ui/registries/container/{container}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("docker login"));
    assert!(
        page.body
            .contains(&format!("/virtual_registries/container/{container}/"))
    );
    assert!(!page.body.contains("Metadata validity"));
    assert_eq!(browser.get("/-/ui/registries/npm/999").await.status, 404);

    // An npm registry: its .npmrc, and a packument goes stale on the metadata validity where its
    // tarballs never do.
    let (npm, npm_upstreams) = app
        .virtual_registry(Format::Npm, group, &["https://registry.npmjs.org"])
        .await;
    for path in ["left-pad", "left-pad/-/left-pad-1.3.0.tgz"] {
        app.sql(&format!(
            "INSERT INTO cache_entries (group_id, upstream_id, relative_path, blob_sha256, size, file_sha1, \
                 content_type, upstream_checked_at, downloads_count, status, created_at, updated_at) \
             VALUES ({group}, {}, '{path}', 'b', 1, 'x', 'application/octet-stream', \
                 '2026-01-01 00:00:00', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            npm_upstreams[0]
        ))
        .await;
    }
    let page = browser.get(&format!("/-/ui/registries/npm/{npm}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("~/.npmrc"));
    assert!(page.body.contains(&format!(
        "/api/v4/virtual_registries/packages/npm/{npm}/:_authToken="
    )));
    assert!(page.body.contains("Metadata validity"));
    assert_eq!(page.body.matches("<tr class=\"entry\">").count(), 2);
    assert_eq!(
        page.body.matches(">stale<").count(),
        1,
        "only the packument is stale"
    );

    // A PyPI registry: pip's index URL with the token as the password.
    let (pypi, _) = app
        .virtual_registry(Format::Pypi, group, &["https://pypi.org/simple"])
        .await;
    let page = browser.get(&format!("/-/ui/registries/pypi/{pypi}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("pip.conf"));
    assert!(page.body.contains(&format!(
        "http://__token__:${{PACKYARD_TOKEN}}@{}/api/v4/virtual_registries/packages/pypi/{pypi}/simple/",
        app.base.trim_start_matches("http://")
    )));
    let group_page = browser.get(&format!("/-/ui/groups/{group}")).await;
    assert!(group_page.body.contains("npm virtual registries"));
    assert!(group_page.body.contains("PyPI virtual registries"));

    // The cleanup policy is the Owners': a Maintainer is refused, the owner saves it.
    assert_eq!(
        browser
            .get(&format!("/-/ui/groups/{group}/cleanup"))
            .await
            .status,
        403
    );
    let mut owner = Browser::sign_in(&app, &app.admin_token.clone()).await;
    let page = owner.get(&format!("/-/ui/groups/{group}/cleanup")).await;
    assert!(page.body.contains("no cleanup policy yet"));
    for keep in ["45", "60"] {
        let saved = owner
            .post(
                &format!("/-/ui/groups/{group}/cleanup"),
                &[
                    ("enabled", "on"),
                    ("keep_n_days_after_download", keep),
                    ("cadence", "14"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
    }
    let policy = app.core.find_cleanup_policy(&admin, "acme").await.unwrap();
    assert!(policy.enabled);
    assert_eq!(
        (policy.keep_n_days_after_download, policy.cadence),
        (60, 14)
    );
    let refused = owner
        .post(
            &format!("/-/ui/groups/{group}/cleanup"),
            &[("keep_n_days_after_download", "0"), ("cadence", "14")],
        )
        .await;
    assert_eq!(refused.status, 400);

    // Administration: health and users; sign-out ends the session.
    let page = owner.get("/-/ui/admin").await;
    assert!(page.body.contains("Ready: every check passed."));
    assert!(page.body.contains("keeper"));
    assert_eq!(browser.get("/-/ui/admin").await.status, 403);
    let out = owner.post("/-/ui/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(owner.get("/-/ui/groups").await.status, 303);
}

both_backends!(
    pages_need_a_session,
    cookies_are_secure_behind_https,
    every_post_needs_the_csrf_token,
    a_new_token_is_shown_once,
    html_is_rendered_as_text,
    roles_see_what_they_may_do,
    maintainers_edit_upstreams_entries_and_policies,
    removing_an_upstream_unlinks_it_from_this_registry_only,
    a_group_pages_and_searches_its_packages,
    pages_render_fast_with_100k_cache_entries,
);
