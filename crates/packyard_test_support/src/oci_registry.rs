//! A real OCI registry (Debian's `docker-registry`, distribution 2.8) on a loopback port, with optional
//! htpasswd Basic auth (no token server), and images built locally and pushed to it with `skopeo`.
//!
//! Clients for the other side: [`skopeo_pull`], [`podman_pull`] and [`buildah_pull`] pull from any
//! registry on loopback (this one, or packyard in front of it) over plain HTTP.
//!
//! Everything here is synchronous: it runs external programs and talks to the registry over a plain
//! loopback socket, so it needs no runtime. From an async test that serves packyard on its own runtime,
//! call the pulls inside `tokio::task::spawn_blocking`, or the runtime cannot answer them.
//!
//! What this registry does that a pull-through cache must cope with (see `tests/oci_registry.rs`): it
//! serves an OCI manifest or index only to a client whose `Accept` names that exact type (`*/*` is not
//! enough: 404 `MANIFEST_UNKNOWN`), a Docker manifest only to one accepting Docker manifests (else 400
//! `MANIFEST_INVALID`), and a Docker manifest list to a client accepting Docker manifests but not lists
//! as the list's linux/amd64 image.
//!
//! The tools come from `scripts/install-test-deps.sh`: `docker-registry`, `skopeo`, `htpasswd`
//! (apache2-utils, which writes the bcrypt lines the registry insists on) and `podman`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The registry binary of Debian's `docker-registry` package.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip'd layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip'd layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// An `Accept` header value naming every manifest and index type above.
pub const ACCEPT_ALL_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// The `User-Agent` of the fixture's own requests (readiness probes, reading back what it pushed,
/// [`OciRegistry::fetch`]); the request counts leave them out.
pub const FIXTURE_USER_AGENT: &str = "packyard-test-fixture";

const READY_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const SKOPEO_TIMEOUT: &str = "300s";

/// Runs the registry under a shell that holds the test process's pipe on stdin: when that pipe closes
/// (`stop`, drop, or the test process dying however it dies) the shell kills the registry, so no registry
/// outlives its test. The shell itself exits when the registry does.
const SUPERVISOR: &str = r#"exec 3<&0
"$1" serve "$2" </dev/null 3<&- &
pid=$!
(cat <&3 >/dev/null; kill -KILL "$pid" 2>/dev/null) &
exec 3<&-
wait "$pid""#;

/// Checks that `docker-registry`, `skopeo` and `htpasswd` are installed. When one is missing this prints
/// a SKIPPED message and returns `false`, except under `CI=true`, where it fails the test.
pub fn tools_available() -> bool {
    let mut missing = Vec::new();
    if !Path::new(REGISTRY_BINARY).is_file() {
        missing.push(REGISTRY_BINARY);
    }
    missing.extend(missing_tools(&[
        ("skopeo", "--version"),
        ("htpasswd", "-h"),
    ]));
    report_missing(&missing)
}

/// Checks that `podman` is installed, like [`tools_available`].
pub fn podman_available() -> bool {
    report_missing(&missing_tools(&[("podman", "--version")]))
}

pub(crate) fn missing_tools(tools: &[(&'static str, &str)]) -> Vec<&'static str> {
    tools
        .iter()
        .filter(|(tool, arg)| {
            Command::new(tool)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|(tool, _)| *tool)
        .collect()
}

pub(crate) fn report_missing(missing: &[&str]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("missing under CI=true: {missing} (run scripts/install-test-deps.sh)");
    }
    eprintln!(
        "SKIPPED: missing {missing} (run scripts/install-test-deps.sh); set CI=true to fail instead"
    );
    false
}

/// A `docker-registry` process on 127.0.0.1, storing into a temporary folder; killed when dropped.
pub struct OciRegistry {
    port: u16,
    credentials: Option<(String, String)>,
    dir: tempfile::TempDir,
    process: Mutex<Option<Child>>,
}

impl OciRegistry {
    /// Starts a registry, with htpasswd Basic auth for this user and password when given (then every
    /// request needs them, and an unauthenticated one gets `401` with `WWW-Authenticate: Basic
    /// realm="packyard-test"`), and waits until it answers. Returns `None` (with a SKIPPED message) when
    /// the tools are missing, except under `CI=true`, where it fails the test.
    pub fn start(auth: Option<(&str, &str)>) -> Option<Self> {
        if !tools_available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let credentials = auth.map(|(user, password)| (user.to_owned(), password.to_owned()));
        if let Some((user, password)) = &credentials {
            let output = Command::new("htpasswd")
                .args(["-B", "-b", "-n", user, password])
                .output()
                .unwrap();
            check_output("htpasswd", &output);
            fs::write(dir.path().join("htpasswd"), &output.stdout).unwrap();
        }
        let mut registry = Self {
            port: 0,
            credentials,
            dir,
            process: Mutex::new(None),
        };
        let mut last_failure = String::new();
        for _ in 0..5 {
            registry.port = free_port();
            registry.write_config();
            match registry.spawn() {
                Ok(()) => return Some(registry),
                // Another process took the port between our probe and the registry's bind: try another.
                Err(log) if log.contains("address already in use") => last_failure = log,
                Err(log) => panic!("docker-registry did not start; its log:\n{log}"),
            }
        }
        panic!("docker-registry found no free port; its last log:\n{last_failure}")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The user and password the registry requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The `Authorization: Basic …` header value for the credentials, if any.
    pub fn authorization(&self) -> Option<String> {
        self.credentials()
            .map(|(user, password)| basic_authorization(user, password))
    }

    /// Kills the registry and waits until it is gone (connections are then refused), to test serving
    /// from cache with the upstream down. Idempotent.
    pub fn stop(&self) {
        let child = self.process.lock().unwrap().take();
        if let Some(child) = child {
            shut_down(child);
        }
    }

    /// Starts the registry again after [`stop`](Self::stop), on the same port with the same storage
    /// and log files. Does nothing while it runs.
    pub fn restart(&self) {
        if self.process.lock().unwrap().is_some() {
            return;
        }
        if let Err(log) = self.spawn() {
            panic!("docker-registry did not restart; its log:\n{log}");
        }
    }

    /// The registry's folder: `config.yml`, `htpasswd`, `storage/`, `access.log` (one line per request)
    /// and `registry.log` (its own messages).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every request the registry has finished answering, from its access log, oldest first.
    ///
    /// The registry writes a request's line when its handler returns, before the last buffered bytes
    /// of the response go out; so once a client has read a whole response, its line is there.
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        let text = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines().filter_map(AccessLogEntry::parse).collect()
    }

    /// How many `GET /v2/<any repository>/blobs/<digest>` the registry answered with a 2xx status
    /// (so a challenge answered 401 before a retry with credentials does not count), leaving out the
    /// fixture's own requests.
    pub fn blob_get_count(&self, digest: &str) -> usize {
        self.count_gets("blobs", digest)
    }

    /// How many `GET /v2/<any repository>/manifests/<reference>` (a tag or a digest) the registry
    /// answered with a 2xx status, leaving out the fixture's own requests (it reads back every manifest
    /// it pushes).
    pub fn manifest_get_count(&self, reference: &str) -> usize {
        self.count_gets("manifests", reference)
    }

    fn count_gets(&self, kind: &str, reference: &str) -> usize {
        self.access_log()
            .iter()
            .filter(|entry| {
                entry.method == "GET"
                    && (200..300).contains(&entry.status)
                    && entry.user_agent != FIXTURE_USER_AGENT
                    && entry.target(kind) == Some(reference)
            })
            .count()
    }

    /// One HTTP/1.0 request to the registry, without credentials unless `headers` carry them (see
    /// [`authorization`](Self::authorization)), with the fixture's `User-Agent` unless `headers` carry
    /// another.
    pub fn fetch(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpReply {
        http_request(&self.host(), method, path, headers)
            .unwrap_or_else(|error| panic!("{method} {path} on the registry failed: {error}"))
    }

    /// `GET`s a manifest or index with credentials and an `Accept` of every manifest type.
    fn fetch_manifest(&self, repo: &str, reference: &str) -> HttpReply {
        let authorization = self.authorization();
        let mut headers = vec![("Accept", ACCEPT_ALL_MANIFESTS)];
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        let reply = self.fetch(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
        );
        assert_eq!(
            reply.status,
            200,
            "GET manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let digest = reply
            .header("docker-content-digest")
            .expect("Docker-Content-Digest header");
        assert_eq!(
            digest,
            sha256_digest(&reply.body),
            "Docker-Content-Digest is not the sha256 of the manifest served"
        );
        reply
    }

    /// Builds a single-platform linux/amd64 OCI image of `layers` gzip'd layers, each holding
    /// `layer_size` bytes of fresh random-looking data (so no two pushes share a layer), pushes it as
    /// `repo:tag` and returns what the registry now serves.
    pub fn push_image(
        &self,
        repo: &str,
        tag: &str,
        layers: usize,
        layer_size: usize,
    ) -> PushedImage {
        self.push_image_as(ManifestFormat::Oci, repo, tag, layers, layer_size)
    }

    /// [`push_image`](Self::push_image) in either manifest format.
    pub fn push_image_as(
        &self,
        format: ManifestFormat,
        repo: &str,
        tag: &str,
        layers: usize,
        layer_size: usize,
    ) -> PushedImage {
        let layout = Layout::new(self.dir.path());
        let salt = uuid::Uuid::new_v4().to_string();
        let manifest = layout.add_manifest(&Platform::amd64(), layers, layer_size, &salt);
        layout.finish(&manifest, tag);
        let expected = (format == ManifestFormat::Oci).then_some(&manifest.digest);
        let served = self.skopeo_push(&layout, format, false, repo, tag, expected);
        let image = ServedManifest::parse(&served);
        PushedImage {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            digest: sha256_digest(&served.body),
            media_type: image.media_type,
            manifest: served.body,
            config: image.config,
            layers: image.layers,
        }
    }

    /// Builds a two-platform OCI image index (linux/amd64 and linux/arm64/v8, each its own manifest,
    /// config and two small layers), pushes it and every image in it as `repo:tag` (`skopeo copy
    /// --all`) and returns what the registry now serves.
    pub fn push_index(&self, repo: &str, tag: &str) -> PushedIndex {
        self.push_index_as(ManifestFormat::Oci, repo, tag)
    }

    /// [`push_index`](Self::push_index) in either manifest format (`Docker` makes a manifest list).
    pub fn push_index_as(&self, format: ManifestFormat, repo: &str, tag: &str) -> PushedIndex {
        let layout = Layout::new(self.dir.path());
        let salt = uuid::Uuid::new_v4().to_string();
        let platforms = [Platform::amd64(), Platform::arm64()];
        let manifests: Vec<Built> = platforms
            .iter()
            .map(|platform| layout.add_manifest(platform, 2, 48 * 1024, &salt))
            .collect();
        let index = layout.add_index(&manifests);
        layout.finish(&index, tag);
        let expected = (format == ManifestFormat::Oci).then_some(&index.digest);
        let served = self.skopeo_push(&layout, format, true, repo, tag, expected);
        let digest = sha256_digest(&served.body);
        let media_type = served.header("content-type").unwrap_or_default().to_owned();
        let parsed: Value = serde_json::from_slice(&served.body).unwrap();
        let manifests = parsed["manifests"]
            .as_array()
            .expect("an index lists manifests")
            .iter()
            .map(|entry| {
                let child_digest = entry["digest"].as_str().unwrap();
                let child = self.fetch_manifest(repo, child_digest);
                let image = ServedManifest::parse(&child);
                assert_eq!(
                    entry["mediaType"].as_str(),
                    Some(image.media_type.as_str()),
                    "the index and the registry disagree on {child_digest}'s media type"
                );
                PlatformManifest {
                    platform: Platform::from_json(&entry["platform"]),
                    digest: child_digest.to_owned(),
                    media_type: image.media_type,
                    manifest: child.body,
                    config: image.config,
                    layers: image.layers,
                }
            })
            .collect();
        PushedIndex {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            digest,
            media_type,
            index: served.body,
            manifests,
        }
    }

    fn skopeo_push(
        &self,
        layout: &Layout,
        format: ManifestFormat,
        all: bool,
        repo: &str,
        tag: &str,
        expected_digest: Option<&String>,
    ) -> HttpReply {
        let digest_file = layout.dir.path().join("pushed-digest");
        let mut command = skopeo();
        command.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        match self.credentials() {
            Some((user, password)) => command.arg(format!("--dest-creds={user}:{password}")),
            None => command.arg("--dest-no-creds"),
        };
        if all {
            command.arg("--all");
        }
        match format {
            ManifestFormat::Oci => command.args(["--format", "oci", "--preserve-digests"]),
            ManifestFormat::Docker => command.args(["--format", "v2s2"]),
        };
        command
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(format!("oci:{}:{tag}", layout.dir.path().display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host()));
        run(command);
        let pushed = fs::read_to_string(&digest_file).unwrap();
        if let Some(expected) = expected_digest {
            assert_eq!(
                pushed.trim(),
                expected,
                "skopeo pushed another manifest than the one built"
            );
        }
        let served = self.fetch_manifest(repo, tag);
        assert_eq!(
            pushed.trim(),
            sha256_digest(&served.body),
            "the registry serves another manifest than skopeo says it pushed"
        );
        served
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        let auth = if self.credentials.is_some() {
            format!(
                "auth:\n  htpasswd:\n    realm: packyard-test\n    path: {}\n",
                dir.join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n\
             {auth}",
            storage = dir.join("storage").display(),
            port = self.port,
            secret = uuid::Uuid::new_v4().simple(),
        );
        fs::write(dir.join("config.yml"), config).unwrap();
    }

    /// Spawns the registry and waits until `GET /v2/` answers 200 or 401; on failure returns its log.
    fn spawn(&self) -> Result<(), String> {
        let dir = self.dir.path();
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .unwrap()
        };
        let log_start = fs::metadata(dir.join("registry.log")).map_or(0, |m| m.len());
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("oci-registry")
            .arg(REGISTRY_BINARY)
            .arg(dir.join("config.yml"))
            .stdin(Stdio::piped())
            .stdout(open("access.log"))
            .stderr(open("registry.log"))
            .spawn()
            .unwrap();
        let log = || {
            let text = fs::read(dir.join("registry.log")).unwrap_or_default();
            let start = usize::try_from(log_start).unwrap().min(text.len());
            String::from_utf8_lossy(&text[start..]).into_owned()
        };
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if child.try_wait().unwrap().is_some() {
                return Err(log());
            }
            if let Ok(reply) = http_request(&self.host(), "GET", "/v2/", &[])
                && (reply.status == 200 || reply.status == 401)
            {
                *self.process.lock().unwrap() = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                shut_down(child);
                return Err(format!(
                    "(not answering GET /v2/ after {READY_DEADLINE:?})\n{}",
                    log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let child = match self.process.get_mut() {
            Ok(process) => process.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(child) = child {
            shut_down(child);
        }
    }
}

/// Closes the supervisor's stdin (it then kills the registry) and waits for it to exit.
fn shut_down(mut child: Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + STOP_DEADLINE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One line of the registry's access log (Apache combined format:
/// `127.0.0.1 - - [23/Nov/2026:13:59:42 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "curl/7.88.1"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// `GET`, `HEAD`, `PUT`…
    pub method: String,
    /// The request target, query string included.
    pub uri: String,
    /// The status answered.
    pub status: u16,
    /// The `User-Agent` (empty without one).
    pub user_agent: String,
}

impl AccessLogEntry {
    fn parse(line: &str) -> Option<Self> {
        // The request line sits between the first two quotes; the status follows the second.
        let mut parts = line.splitn(3, '"');
        parts.next()?;
        let request = parts.next()?;
        let rest = parts.next()?;
        let mut request = request.split(' ');
        let method = request.next()?.to_owned();
        let uri = request.next()?.to_owned();
        let status = rest.split_whitespace().next()?.parse().ok()?;
        // The line ends with `"referer" "user agent"`.
        let user_agent = rest
            .trim_end()
            .strip_suffix('"')
            .and_then(|rest| rest.rsplit_once('"'))
            .map_or("", |(_, agent)| agent)
            .to_owned();
        Some(Self {
            method,
            uri,
            status,
            user_agent,
        })
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    /// For `/v2/<repository>/<kind>/<reference>`, the reference.
    fn target(&self, kind: &str) -> Option<&str> {
        let rest = self.path().strip_prefix("/v2/")?;
        let (repository, reference) = rest.rsplit_once(&format!("/{kind}/"))?;
        (!repository.is_empty() && !reference.contains('/')).then_some(reference)
    }
}

/// A reply to [`OciRegistry::fetch`].
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `Basic base64(user:password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// HTTP/1.0 (so never chunked) with the connection closed after the reply.
fn http_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
    {
        request.push_str(&format!("User-Agent: {FIXTURE_USER_AGENT}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(HttpReply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// The manifest format skopeo pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI manifests and index, pushed byte for byte as built (`--format oci --preserve-digests`).
    Oci,
    /// Docker schema 2 manifests and manifest list, converted by skopeo (`--format v2s2`): the
    /// manifests' digests change, the blobs' do not.
    Docker,
}

/// An OS and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`…
    pub architecture: String,
    /// `v8` for arm64, if given.
    pub variant: Option<String>,
}

impl Platform {
    fn amd64() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    fn arm64() -> Self {
        Self {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        }
    }

    fn to_json(&self) -> Value {
        let mut value = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            value["variant"] = json!(variant);
        }
        value
    }

    fn from_json(value: &Value) -> Self {
        Self {
            os: value["os"].as_str().expect("platform.os").to_owned(),
            architecture: value["architecture"]
                .as_str()
                .expect("platform.architecture")
                .to_owned(),
            variant: value["variant"].as_str().map(str::to_owned),
        }
    }
}

/// A blob as a manifest refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

impl Descriptor {
    fn from_json(value: &Value) -> Self {
        Self {
            digest: value["digest"].as_str().expect("digest").to_owned(),
            size: value["size"].as_u64().expect("size"),
            media_type: value["mediaType"].as_str().expect("mediaType").to_owned(),
        }
    }
}

/// A single-platform image as the registry serves it after a push.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Repository.
    pub repo: String,
    /// Tag.
    pub tag: String,
    /// The manifest's digest (`Docker-Content-Digest`).
    pub digest: String,
    /// The manifest's media type (`Content-Type`).
    pub media_type: String,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, in order.
    pub layers: Vec<Descriptor>,
}

impl PushedImage {
    /// The config, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// One platform's image in a [`PushedIndex`].
#[derive(Debug, Clone)]
pub struct PlatformManifest {
    /// The platform the index gives it.
    pub platform: Platform,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, in order.
    pub layers: Vec<Descriptor>,
}

impl PlatformManifest {
    /// The config, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// A multi-platform image as the registry serves it after a push.
#[derive(Debug, Clone)]
pub struct PushedIndex {
    /// Repository.
    pub repo: String,
    /// Tag.
    pub tag: String,
    /// The index's digest (`Docker-Content-Digest`).
    pub digest: String,
    /// The index's media type (`Content-Type`).
    pub media_type: String,
    /// The index's bytes.
    pub index: Vec<u8>,
    /// Its images, in the index's order (linux/amd64, then linux/arm64/v8).
    pub manifests: Vec<PlatformManifest>,
}

impl PushedIndex {
    /// Every blob of every image.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter().flat_map(PlatformManifest::blobs)
    }
}

/// What a registry's manifest reply holds.
struct ServedManifest {
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl ServedManifest {
    fn parse(reply: &HttpReply) -> Self {
        let value: Value = serde_json::from_slice(&reply.body).unwrap();
        let media_type = reply.header("content-type").unwrap_or_default().to_owned();
        assert!(
            media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST,
            "expected an image manifest, got {media_type}"
        );
        Self {
            media_type,
            config: Descriptor::from_json(&value["config"]),
            layers: value["layers"]
                .as_array()
                .expect("layers")
                .iter()
                .map(Descriptor::from_json)
                .collect(),
        }
    }
}

/// A manifest or index written into a [`Layout`].
struct Built {
    digest: String,
    size: u64,
    media_type: &'static str,
    platform: Option<Platform>,
}

/// An OCI image layout folder being written.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new(parent: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("layout-")
            .tempdir_in(parent)
            .unwrap();
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Self { dir }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join("blobs/sha256").join(hex)
    }

    fn put_blob(&self, bytes: &[u8]) -> (String, u64) {
        let digest = sha256_digest(bytes);
        fs::write(self.blob_path(&digest), bytes).unwrap();
        (digest, bytes.len() as u64)
    }

    fn add_manifest(
        &self,
        platform: &Platform,
        layers: usize,
        layer_size: usize,
        salt: &str,
    ) -> Built {
        let mut layer_descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for index in 0..layers {
            let seed = format!("{salt}/{}/{}/{index}", platform.os, platform.architecture);
            let tar = layer_tar(index, &seed, layer_size);
            diff_ids.push(sha256_digest(&tar));
            let (digest, size) = self.put_gzip_blob(&tar);
            layer_descriptors
                .push(json!({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size}));
        }
        let mut config = platform.to_json();
        config["config"] = json!({"Cmd": ["/layer-0/info.txt"]});
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        let (config_digest, config_size) = self.put_blob(&serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layer_descriptors,
        });
        let (digest, size) = self.put_blob(&serde_json::to_vec(&manifest).unwrap());
        Built {
            digest,
            size,
            media_type: OCI_MANIFEST,
            platform: Some(platform.clone()),
        }
    }

    fn add_index(&self, manifests: &[Built]) -> Built {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests.iter().map(|m| json!({
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.size,
                "platform": m.platform.as_ref().map(Platform::to_json),
            })).collect::<Vec<_>>(),
        });
        let (digest, size) = self.put_blob(&serde_json::to_vec(&index).unwrap());
        Built {
            digest,
            size,
            media_type: OCI_INDEX,
            platform: None,
        }
    }

    /// Gzips with the `gzip` command (`-n`: no name or time, so the same tar gives the same blob).
    fn put_gzip_blob(&self, tar: &[u8]) -> (String, u64) {
        let tar_path = self.dir.path().join("layer.tar");
        fs::write(&tar_path, tar).unwrap();
        let gz_path = self.dir.path().join("layer.tar.gz");
        let mut command = Command::new("gzip");
        command
            .args(["-n", "-c"])
            .arg(&tar_path)
            .stdout(File::create(&gz_path).unwrap());
        run(command);
        let gz = fs::read(&gz_path).unwrap();
        fs::remove_file(&tar_path).unwrap();
        fs::remove_file(&gz_path).unwrap();
        self.put_blob(&gz)
    }

    /// Writes `index.json`, naming `top` with this tag.
    fn finish(&self, top: &Built, tag: &str) {
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": top.media_type,
                "digest": top.digest,
                "size": top.size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        fs::write(
            self.dir.path().join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A tar of `layer-<index>/info.txt` (the seed) and `layer-<index>/data.bin` (`size` bytes derived from
/// the seed, which look random to gzip).
fn layer_tar(index: usize, seed: &str, size: usize) -> Vec<u8> {
    let dir = format!("layer-{index}/");
    let mut tar = Vec::with_capacity(size + 4096);
    tar_entry(&mut tar, &dir, b'5', &[]);
    tar_entry(
        &mut tar,
        &format!("{dir}info.txt"),
        b'0',
        format!("{seed}\n").as_bytes(),
    );
    tar_entry(
        &mut tar,
        &format!("{dir}data.bin"),
        b'0',
        &pseudo_random(seed, size),
    );
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// One ustar entry: a 512-byte header, then the data padded to 512 bytes.
fn tar_entry(tar: &mut Vec<u8>, name: &str, kind: u8, data: &[u8]) {
    assert!(name.len() < 100, "tar name too long: {name}");
    let mut header = [0u8; 512];
    let mut field = |offset: usize, value: &[u8]| {
        header[offset..offset + value.len()].copy_from_slice(value);
    };
    let mode: &[u8] = if kind == b'5' {
        b"0000755\0"
    } else {
        b"0000644\0"
    };
    field(0, name.as_bytes());
    field(100, mode);
    field(108, b"0000000\0");
    field(116, b"0000000\0");
    field(124, format!("{:011o}\0", data.len()).as_bytes());
    field(136, b"00000000000\0");
    field(148, b"        ");
    field(156, &[kind]);
    field(257, b"ustar\0");
    field(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    tar.extend_from_slice(&header);
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

/// `size` bytes of xorshift64* output seeded from the seed's sha256.
fn pseudo_random(seed: &str, size: usize) -> Vec<u8> {
    let hash = Sha256::digest(seed.as_bytes());
    let mut state = u64::from_le_bytes(hash[..8].try_into().unwrap()) | 1;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

/// `sha256:<hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn skopeo() -> Command {
    let mut command = Command::new("skopeo");
    command.args(["--insecure-policy", "--command-timeout", SKOPEO_TIMEOUT]);
    command
}

fn run(mut command: Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("could not run {command:?}: {error}"));
    check_output(&format!("{command:?}"), &output);
}

fn check_output(what: &str, output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// What [`skopeo_pull`] fetched.
#[derive(Debug)]
pub struct PulledImage {
    /// The digest of the manifest or index at the reference (skopeo's `--digestfile`).
    pub digest: String,
    /// The sha256 of every manifest stored (the top one, and each image's for `--all`).
    pub manifests: Vec<String>,
    /// The digest of every blob stored (configs and layers), verified by skopeo as it fetched them.
    pub blobs: Vec<String>,
    /// The `dir:` folder skopeo wrote (under `image/`), removed on drop.
    pub dir: tempfile::TempDir,
}

/// Pulls `reference` (`HOST:PORT/repo:tag`, or `@sha256:…`) over plain HTTP with `skopeo copy
/// --preserve-digests` into a `dir:` folder (which keeps any manifest format as served), with these
/// credentials or anonymously, and with `--all` for every image of an index. Fails the test on error.
pub fn skopeo_pull(reference: &str, credentials: Option<(&str, &str)>, all: bool) -> PulledImage {
    match try_skopeo_pull(reference, credentials, all) {
        Ok(pulled) => pulled,
        Err(error) => panic!("{error}"),
    }
}

/// [`skopeo_pull`], returning skopeo's error output instead of failing.
pub fn try_skopeo_pull(
    reference: &str,
    credentials: Option<(&str, &str)>,
    all: bool,
) -> Result<PulledImage, String> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("image");
    let digest_file = dir.path().join("digest");
    let mut command = skopeo();
    command.args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--preserve-digests",
    ]);
    match credentials {
        Some((user, password)) => command.arg(format!("--src-creds={user}:{password}")),
        None => command.arg("--src-no-creds"),
    };
    if all {
        command.arg("--all");
    }
    command
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", target.display()));
    let output = command
        .output()
        .map_err(|error| format!("could not run skopeo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "skopeo pull of {reference} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let digest = fs::read_to_string(&digest_file)
        .map_err(|error| format!("no digest file: {error}"))?
        .trim()
        .to_owned();
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&target)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name == "manifest.json" || name.ends_with(".manifest.json") {
            manifests.push(sha256_digest(&fs::read(target.join(&name)).unwrap()));
        } else if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            blobs.push(format!("sha256:{name}"));
        }
    }
    Ok(PulledImage {
        digest,
        manifests,
        blobs,
        dir,
    })
}

/// What [`podman_pull`] or [`buildah_pull`] stored.
#[derive(Debug)]
pub struct PodmanImage {
    /// The digest podman records: of what the reference names (for an index, the index's digest,
    /// although it stores only this machine's platform's image).
    pub digest: String,
    /// The image ID: the digest of its config, without `sha256:`.
    pub id: String,
    /// Podman's storage for this pull alone (`--root`, `--runroot`), removed on drop.
    pub storage: tempfile::TempDir,
}

/// Pulls `reference` (`HOST:PORT/repo:tag`) with `podman pull --tls-verify=false` into a storage of its
/// own (vfs driver, in a temporary folder, so nothing lands in the machine's podman storage), with these
/// credentials or anonymously. Fails the test on error.
pub fn podman_pull(reference: &str, credentials: Option<(&str, &str)>) -> PodmanImage {
    match try_podman_pull(reference, credentials) {
        Ok(image) => image,
        Err(error) => panic!("{error}"),
    }
}

/// [`podman_pull`], returning podman's error output instead of failing.
pub fn try_podman_pull(
    reference: &str,
    credentials: Option<(&str, &str)>,
) -> Result<PodmanImage, String> {
    pull_into_own_storage(
        "podman",
        &["--events-backend", "none"],
        &["image", "inspect", "--format", "{{.Digest}} {{.Id}}"],
        reference,
        credentials,
    )
}

/// Checks that `buildah` is installed, like [`tools_available`].
pub fn buildah_available() -> bool {
    report_missing(&missing_tools(&[("buildah", "--version")]))
}

/// Pulls `reference` with `buildah pull --tls-verify=false` into a storage of its own, like
/// [`podman_pull`] (buildah shares podman's image storage library), and reads back what it stored.
/// Fails the test on error.
pub fn buildah_pull(reference: &str, credentials: Option<(&str, &str)>) -> PodmanImage {
    let pulled = pull_into_own_storage(
        "buildah",
        &[],
        &[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.FromImageDigest}} {{.FromImageID}}",
        ],
        reference,
        credentials,
    );
    pulled.unwrap_or_else(|error| panic!("{error}"))
}

/// `<program> pull` into a vfs storage in a temporary folder (`--root`, `--runroot`), then `<program>
/// <inspect…> <reference>`, which prints the digest and the image ID.
fn pull_into_own_storage(
    program: &str,
    global_args: &[&str],
    inspect_args: &[&str],
    reference: &str,
    credentials: Option<(&str, &str)>,
) -> Result<PodmanImage, String> {
    let storage = tempfile::tempdir().unwrap();
    let tool = || {
        let mut command = Command::new(program);
        command
            .arg("--root")
            .arg(storage.path().join("root"))
            .arg("--runroot")
            .arg(storage.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(global_args);
        command
    };
    let mut pull = tool();
    pull.args(["pull", "--quiet", "--tls-verify=false"]);
    if let Some((user, password)) = credentials {
        pull.arg(format!("--creds={user}:{password}"));
    }
    let output = pull
        .arg(reference)
        .output()
        .map_err(|error| format!("could not run {program}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} pull of {reference} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut inspect = tool();
    inspect.args(inspect_args).arg(reference);
    let output = inspect
        .output()
        .map_err(|error| format!("could not run {program}: {error}"))?;
    check_output(&format!("{program} {}", inspect_args.join(" ")), &output);
    let text = String::from_utf8_lossy(&output.stdout);
    let (digest, id) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("unexpected {program} inspect output: {text}"))?;
    Ok(PodmanImage {
        digest: digest.to_owned(),
        id: id.to_owned(),
        storage,
    })
}
