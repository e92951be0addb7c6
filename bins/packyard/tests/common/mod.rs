//! Shared by the end-to-end tests: the real binary on a free port with its own data folder, an
//! administrator bootstrapped through the CLI, and JSON calls to the management API.
#![allow(dead_code, reason = "each end-to-end test uses its own part")]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod clients;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The running binary; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with a clean environment, its data folder and loopback upstreams allowed.
pub fn packyard(data: &Path, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_packyard"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PACKYARD__SERVER__LISTEN", listen)
        .env("PACKYARD__SERVER__DATA_DIR", data)
        .env("PACKYARD__UPSTREAM__ALLOW_LOCAL_NETWORK", "true")
        .env("RUST_LOG", "warn");
    command
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `packyard admin bootstrap`: the administrator's token, alone on stdout.
pub fn bootstrap_admin(data: &Path) -> String {
    let bootstrap = packyard(data, "127.0.0.1:1")
        .args(["admin", "bootstrap", "--username", "admin"])
        .output()
        .unwrap();
    assert!(
        bootstrap.status.success(),
        "{}",
        String::from_utf8_lossy(&bootstrap.stderr)
    );
    let token = String::from_utf8(bootstrap.stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        !token.is_empty() && !token.contains('\n'),
        "the token alone on stdout"
    );
    token
}

/// Starts `packyard serve` and waits until it answers.
pub async fn start_server(data: &Path) -> Server {
    start_server_with(data, &[]).await
}

/// Starts `packyard serve` with these extra environment variables and waits until it answers.
pub async fn start_server_with(data: &Path, env: &[(&str, &str)]) -> Server {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = packyard(data, &listen)
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let server = Server { child, base };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{}/-/health", server.base))
            .send()
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("packyard did not start");
}

/// POSTs JSON with a token and expects 201.
pub async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client
        .post(&url)
        .header("PRIVATE-TOKEN", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "POST {url}");
    response.json().await.unwrap()
}

/// The relative paths of an upstream's cache entries, sorted.
pub async fn cached_paths(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    format: &str,
    upstream: i64,
) -> Vec<String> {
    let entries: Value = client
        .get(format!(
            "{api}/virtual_registries/packages/{format}/upstreams/{upstream}/cache_entries"
        ))
        .header("PRIVATE-TOKEN", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut paths: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["relative_path"].as_str().unwrap().to_owned())
        .collect();
    paths.sort_unstable();
    paths
}

/// Creates a top-level group; returns its id.
pub async fn create_group(client: &reqwest::Client, api: &str, token: &str, path: &str) -> i64 {
    let group = post(
        client,
        format!("{api}/groups"),
        token,
        serde_json::json!({"name": path, "path": path}),
    )
    .await;
    group["id"].as_i64().unwrap()
}

/// Creates a virtual registry (`kind`: `packages/maven` or `container`) in a group with these upstreams
/// (JSON bodies of the upstream POST), in this order; returns the registry id and the upstream ids.
pub async fn create_virtual_registry(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    kind: &str,
    group: i64,
    upstreams: &[Value],
) -> (i64, Vec<i64>) {
    let registry = post(
        client,
        format!("{api}/groups/{group}/-/virtual_registries/{kind}/registries"),
        token,
        serde_json::json!({"name": "registry"}),
    )
    .await;
    let registry_id = registry["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for upstream in upstreams {
        let created = post(
            client,
            format!("{api}/virtual_registries/{kind}/registries/{registry_id}/upstreams"),
            token,
            upstream.clone(),
        )
        .await;
        ids.push(created["id"].as_i64().unwrap());
    }
    (registry_id, ids)
}

/// The running binary with group `acme`, its Developer `dev` holding a personal token, and a deploy
/// token of the group (for the hosted formats' end-to-end tests).
pub struct HostedGroup {
    /// The server.
    pub server: Server,
    /// `<base>/api/v4`.
    pub api: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The administrator's token.
    pub admin: String,
    /// The group, as the API created it.
    pub group: Value,
    /// The developer's personal token.
    pub developer_token: String,
    /// The deploy token's username.
    pub deploy_user: String,
    /// The deploy token.
    pub deploy_token: String,
}

/// Starts the binary on `data` and sets up [`HostedGroup`]: the developer's token named
/// `developer_token.0` with scopes `developer_token.1`, and a `read_package_registry` deploy token named
/// `deploy_token_name`.
pub async fn start_with_hosted_group(
    data: &Path,
    developer_token: (&str, &[&str]),
    deploy_token_name: &str,
) -> HostedGroup {
    let admin = bootstrap_admin(data);
    let server = start_server(data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = post(
        &client,
        format!("{api}/groups"),
        &admin,
        json!({"name": "acme", "path": "acme"}),
    )
    .await;
    let developer = post(
        &client,
        format!("{api}/users"),
        &admin,
        json!({"username": "dev", "name": "Developer", "email": "dev@example.com"}),
    )
    .await;
    post(
        &client,
        format!("{api}/groups/{}/members", group["id"]),
        &admin,
        json!({"user_id": developer["id"], "access_level": 30}),
    )
    .await;
    let (token_name, scopes) = developer_token;
    let developer_token = post(
        &client,
        format!("{api}/users/{}/personal_access_tokens", developer["id"]),
        &admin,
        json!({"name": token_name, "scopes": scopes}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let deploy = post(
        &client,
        format!("{api}/groups/{}/deploy_tokens", group["id"]),
        &admin,
        json!({"name": deploy_token_name, "scopes": ["read_package_registry"]}),
    )
    .await;
    HostedGroup {
        server,
        api,
        client,
        admin,
        group,
        developer_token,
        deploy_user: deploy["username"].as_str().unwrap().to_owned(),
        deploy_token: deploy["token"].as_str().unwrap().to_owned(),
    }
}

/// The running binary as a container virtual registry of group `acme`, in front of one upstream.
pub struct ContainerRegistry {
    /// The server.
    pub server: Server,
    /// `<base>/api/v4`.
    pub api: String,
    /// The administrator's token (user `admin`).
    pub admin: String,
    /// The group.
    pub group: i64,
    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub host: String,
    /// The registry's id.
    pub registry_id: i64,
}

impl ContainerRegistry {
    /// `127.0.0.1:PORT/virtual_registries/container/<id>/<name>`: how clients name an image.
    pub fn reference(&self, name: &str) -> String {
        format!(
            "{}/virtual_registries/container/{}/{name}",
            self.host, self.registry_id
        )
    }

    /// A deploy token of the group with `read_virtual_registry`, as CI pulls with: (username, token).
    pub async fn deploy_token(&self, name: &str) -> (String, String) {
        let created = post(
            &reqwest::Client::new(),
            format!("{}/groups/{}/deploy_tokens", self.api, self.group),
            &self.admin,
            json!({"name": name, "scopes": ["read_virtual_registry"]}),
        )
        .await;
        (
            created["username"].as_str().unwrap().to_owned(),
            created["token"].as_str().unwrap().to_owned(),
        )
    }
}

/// Starts the binary on `data` with a container virtual registry whose one upstream is `upstream_url`,
/// with these upstream credentials.
pub async fn start_container_registry(
    data: &Path,
    upstream_url: &str,
    upstream_credentials: Option<(&str, &str)>,
) -> ContainerRegistry {
    let admin = bootstrap_admin(data);
    let server = start_server(data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = create_group(&client, &api, &admin, "acme").await;
    let mut upstream = json!({"name": "upstream", "url": upstream_url});
    if let Some((username, password)) = upstream_credentials {
        upstream["username"] = json!(username);
        upstream["password"] = json!(password);
    }
    let (registry_id, _) =
        create_virtual_registry(&client, &api, &admin, "container", group, &[upstream]).await;
    let host = server.base.trim_start_matches("http://").to_owned();
    ContainerRegistry {
        server,
        api,
        admin,
        group,
        host,
        registry_id,
    }
}

/// Runs a blocking client off the async runtime, so the test's own tasks keep running.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Copies a folder (a fixture project) and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A certificate authority made for one test, and a server certificate it signed for `localhost` and
/// `127.0.0.1`, written as PEM files into a folder.
pub struct TestCertificates {
    /// The authority's certificate: what a client trusts.
    pub ca: std::path::PathBuf,
    /// The server's certificate.
    pub certificate: std::path::PathBuf,
    /// The server certificate's private key.
    pub private_key: std::path::PathBuf,
}

impl TestCertificates {
    /// Makes the authority and the server certificate in `dir`.
    pub fn create(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "packyard test authority");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let files = Self {
            ca: dir.join("ca.pem"),
            certificate: dir.join("server.pem"),
            private_key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        std::fs::write(&files.certificate, server.pem()).unwrap();
        std::fs::write(&files.private_key, server_key.serialize_pem()).unwrap();
        files
    }
}

/// What the proxy was asked.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    /// `GET http://host/path HTTP/1.1` or `CONNECT host:443 HTTP/1.1`.
    pub request_line: String,
    /// The `Proxy-Authorization` header.
    pub authorization: Option<String>,
}

/// A forwarding and `CONNECT` proxy on loopback that sends every request, whatever its host, to one
/// target: names that resolve nowhere reach the fake upstream through it, and only through it.
pub struct TestProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    seen: Arc<Mutex<Vec<ProxiedRequest>>>,
}

impl TestProxy {
    /// Starts the proxy in front of `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, log.clone()));
            }
        });
        Self { url, seen }
    }

    /// The requests it was asked so far.
    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// One request per connection: a tunnel for `CONNECT`, else the request rewritten to origin form.
async fn forward(client: TcpStream, target: SocketAddr, seen: Arc<Mutex<Vec<ProxiedRequest>>>) {
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    let Some(request_line) = head.first().cloned() else {
        return;
    };
    let header = |name: &str| {
        head[1..].iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    seen.lock().unwrap().push(ProxiedRequest {
        request_line: request_line.clone(),
        authorization: header("proxy-authorization"),
    });
    let mut client = reader.into_inner();
    let mut upstream = TcpStream::connect(target).await.unwrap();
    if request_line.starts_with("CONNECT ") {
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    let mut parts = request_line.splitn(3, ' ');
    let (method, uri, version) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let uri = url::Url::parse(uri).unwrap();
    let mut request = format!(
        "{method} {} {version}\r\n",
        &uri[url::Position::BeforePath..]
    );
    for line in &head[1..] {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !name.starts_with("proxy-") && name != "connection" {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    upstream.write_all(request.as_bytes()).await.unwrap();
    let _ = tokio::io::copy(&mut upstream, &mut client).await;
    let _ = client.shutdown().await;
}
