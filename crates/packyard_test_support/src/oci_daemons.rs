//! The daemon-based OCI clients, each started for one test on private paths: `dockerd` (with the
//! containerd it manages) and a standalone `containerd` driven by `ctr`. Each has its own socket, data
//! root, exec or state root and pid file in a temporary folder, so it never meets a daemon the machine
//! runs; dockerd runs without iptables, bridge or IP forwarding (the tests only pull). Both need root.
//!
//! A daemon runs under a shell that holds the test process's pipe on stdin: when the pipe closes (drop,
//! or the test process dying however it dies) the shell stops the daemon with SIGTERM, then SIGKILL
//! after a grace period, together with the processes it started whose pid files it was given.
//!
//! Also [`CuttingProxy`], a loopback TCP proxy that cuts each connection after a number of response
//! bytes, the way a flaky network interrupts a download; clients that resume (containerd) finish their
//! pulls through it only with `Range` answered.
//!
//! The tools come from `scripts/install-test-deps.sh` (`docker.io`, `containerd`).

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oci_registry::{missing_tools, report_missing};

const READY_DEADLINE: Duration = Duration::from_secs(60);
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// `$1` is a space-separated list of pid files of the daemon's own children, killed if the daemon
/// itself had to be killed; the rest is the daemon's command line.
const SUPERVISOR: &str = r#"children="$1"; shift
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
(
  cat <&3 >/dev/null
  kill -TERM "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    for file in $children; do [ -s "$file" ] && kill -KILL "$(cat "$file")" 2>/dev/null; done
  fi
) &
exec 3<&-
wait "$pid""#;

/// A daemon under the supervisor shell; stopped when dropped.
struct Supervised {
    child: Option<Child>,
    log: PathBuf,
}

impl Supervised {
    fn spawn(name: &str, command: &[&std::ffi::OsStr], children: &[PathBuf], log: PathBuf) -> Self {
        let children: Vec<String> = children.iter().map(|p| p.display().to_string()).collect();
        let output = fs::File::create(&log).unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(name)
            .arg(children.join(" "))
            .args(command)
            .stdin(Stdio::piped())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {name}: {error}"));
        Self {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().unwrap().is_some())
    }

    /// Waits until `ready` holds; fails the test with the daemon's log if it exits or takes too long.
    fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + READY_DEADLINE;
        while !ready() {
            assert!(!self.exited(), "{what} exited; its log:\n{}", self.log());
            assert!(
                Instant::now() < deadline,
                "{what} not ready after {READY_DEADLINE:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

fn run(mut command: Command) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|error| format!("could not run {command:?}: {error}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        // ctr redraws its progress table on stdout many times a second: its end is what matters.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let tail = stdout
            .char_indices()
            .rev()
            .nth(2000)
            .map_or(&*stdout, |(start, _)| &stdout[start..]);
        Err(format!(
            "{command:?} failed ({}):\n…{tail}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Checks that `dockerd` and `docker` are installed, like [`crate::oci_registry::tools_available`]:
/// a SKIPPED message and `false` when one is missing, a failure under `CI=true`.
pub fn docker_available() -> bool {
    report_missing(&missing_tools(&[
        ("dockerd", "--version"),
        ("docker", "--version"),
    ]))
}

/// Checks that `containerd` and `ctr` are installed, like [`docker_available`].
pub fn containerd_available() -> bool {
    report_missing(&missing_tools(&[
        ("containerd", "--version"),
        ("ctr", "--version"),
    ]))
}

/// A `dockerd` of its own, trusting plain HTTP from the given registries (`insecure-registries` in its
/// `daemon.json`), with the vfs storage driver (no overlay mounts needed), and a `docker` client
/// configuration folder of its own (`--config`, where `docker login` writes `config.json`).
pub struct DockerDaemon {
    // Stopped before its folder is removed: fields drop in this order.
    daemon: Supervised,
    dir: tempfile::TempDir,
}

/// What `docker image inspect` says of a pulled image.
#[derive(Debug, Clone)]
pub struct DockerImage {
    /// The image ID: the digest of its config.
    pub id: String,
    /// `name@sha256:…` of every manifest or index it was pulled by.
    pub repo_digests: Vec<String>,
    /// The diff IDs of its layers, as extracted and verified by the daemon.
    pub layers: Vec<String>,
    /// `amd64`, `arm64`…
    pub architecture: String,
}

impl DockerDaemon {
    /// Starts the daemon and waits until it answers `/_ping`. `None` (with a SKIPPED message) when the
    /// tools are missing, except under `CI=true`, where it fails the test.
    pub fn start(insecure_registries: &[&str]) -> Option<Self> {
        if !docker_available() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("dockerd")
            .tempdir()
            .unwrap();
        let path = |name: &str| dir.path().join(name);
        fs::create_dir_all(path("client")).unwrap();
        let config = serde_json::json!({
            "insecure-registries": insecure_registries,
            "storage-driver": "vfs",
        });
        fs::write(path("daemon.json"), config.to_string()).unwrap();
        let host = format!("unix://{}", path("docker.sock").display());
        let args: Vec<std::ffi::OsString> = vec![
            "dockerd".into(),
            "--host".into(),
            host.into(),
            "--data-root".into(),
            path("data").into(),
            "--exec-root".into(),
            path("exec").into(),
            "--pidfile".into(),
            path("docker.pid").into(),
            "--config-file".into(),
            path("daemon.json").into(),
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--ip-forward=false".into(),
            "--ip-masq=false".into(),
            "--bridge=none".into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let mut daemon = Supervised::spawn(
            "dockerd",
            &args,
            &[path("exec/containerd/containerd.pid")],
            path("dockerd.log"),
        );
        let socket = path("docker.sock");
        daemon.wait_until("dockerd", || ping(&socket));
        Some(Self { dir, daemon })
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The client's configuration folder (`config.json`).
    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    /// `docker --config <own> --host <own socket>`.
    pub fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("--config")
            .arg(self.client_config())
            .arg("--host")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ));
        command
    }

    /// `docker login <registry> --username <user> --password-stdin`.
    pub fn login(&self, registry: &str, user: &str, token: &str) -> Result<(), String> {
        let mut login = self.docker();
        login
            .args(["login", registry, "--username", user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = login
            .spawn()
            .map_err(|error| format!("could not run docker login: {error}"))?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "docker login {registry} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// `docker pull [--platform P] <reference>`, then what the daemon holds under that reference.
    pub fn pull(&self, reference: &str, platform: Option<&str>) -> Result<DockerImage, String> {
        let mut pull = self.docker();
        pull.args(["pull", "--quiet"]);
        if let Some(platform) = platform {
            pull.args(["--platform", platform]);
        }
        run({
            pull.arg(reference);
            pull
        })?;
        let mut inspect = self.docker();
        inspect.args(["image", "inspect", reference]);
        let output = run(inspect)?;
        let inspected: Value = serde_json::from_slice(&output.stdout).unwrap();
        let image = &inspected[0];
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(DockerImage {
            id: image["Id"].as_str().unwrap_or_default().to_owned(),
            repo_digests: strings(&image["RepoDigests"]),
            layers: strings(&image["RootFS"]["Layers"]),
            architecture: image["Architecture"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// `docker rmi <reference>` (the layers go with the last reference to them).
    pub fn remove(&self, reference: &str) {
        let mut rmi = self.docker();
        rmi.args(["rmi", reference]);
        if let Err(error) = run(rmi) {
            panic!("{error}");
        }
    }
}

/// `GET /_ping` over the daemon's socket answers `OK`.
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}

/// A standalone `containerd` (no CRI plugin) with its root, state and socket in a temporary folder,
/// driven with `ctr` in namespace `packyard-test`.
pub struct Containerd {
    // Stopped before its folder is removed: fields drop in this order.
    daemon: Supervised,
    dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd and waits until `ctr version` reaches it. `None` (with a SKIPPED message) when
    /// the tools are missing, except under `CI=true`, where it fails the test.
    pub fn start() -> Option<Self> {
        if !containerd_available() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("containerd")
            .tempdir()
            .unwrap();
        let path = |name: &str| dir.path().join(name);
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n\
             [ttrpc]\n  address = \"{socket}.ttrpc\"\n",
            root = path("root").display(),
            state = path("state").display(),
            socket = path("containerd.sock").display(),
        );
        fs::write(path("config.toml"), config).unwrap();
        let config = path("config.toml");
        let mut daemon = Supervised::spawn(
            "containerd",
            &[os("containerd"), os("--config"), config.as_os_str()],
            &[],
            path("containerd.log"),
        );
        let socket = path("containerd.sock");
        daemon.wait_until("containerd", || {
            ctr(&socket)
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        });
        Some(Self { dir, daemon })
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// `ctr --address <own socket> --namespace packyard-test`.
    pub fn ctr(&self) -> Command {
        ctr(&self.dir.path().join("containerd.sock"))
    }

    /// `ctr images pull --user <user:token> <how…>` (unpacked with the native snapshotter, which needs no
    /// overlay mounts), with `--all-platforms` or for this machine's platform. `how` tells ctr how to
    /// reach the registry: `--plain-http`, or `--hosts-dir` with [`Containerd::hosts_dir`].
    pub fn pull(
        &self,
        reference: &str,
        credentials: (&str, &str),
        how: &[&str],
        all_platforms: bool,
    ) -> Result<(), String> {
        let mut pull = self.ctr();
        pull.args(["images", "pull", "--snapshotter", "native"])
            .args(how)
            .arg("--user")
            .arg(format!("{}:{}", credentials.0, credentials.1));
        if all_platforms {
            pull.arg("--all-platforms");
        }
        pull.arg(reference);
        run(pull).map(|_| ())
    }

    /// A folder for `ctr --hosts-dir` (`/etc/containerd/certs.d` on a machine) where `hosts.toml` says
    /// `host` (`HOST:PORT`) speaks plain HTTP, as the documentation shows it.
    pub fn hosts_dir(&self, host: &str) -> PathBuf {
        let dir = self.dir.path().join("certs.d");
        fs::create_dir_all(dir.join(host)).unwrap();
        let hosts = format!(
            "server = \"http://{host}\"\n\n\
             [host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        fs::write(dir.join(host).join("hosts.toml"), hosts).unwrap();
        dir
    }

    /// The digest of the manifest or index the image `reference` points to (`ctr images ls`).
    pub fn image_digest(&self, reference: &str) -> Option<String> {
        let mut list = self.ctr();
        list.args(["images", "ls"]);
        let output = run(list).unwrap_or_else(|error| panic!("{error}"));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .find_map(|line| {
                let mut fields = line.split_whitespace();
                (fields.next() == Some(reference))
                    .then(|| fields.find(|field| field.starts_with("sha256:")))
                    .flatten()
                    .map(str::to_owned)
            })
    }

    /// The digest of every complete blob in the content store (containerd verifies each against its
    /// digest before committing it), and every ingest still in progress.
    pub fn content(&self) -> (Vec<String>, Vec<String>) {
        let list = |args: &[&str]| -> Vec<String> {
            let mut command = self.ctr();
            command.args(args);
            let output = run(command).unwrap_or_else(|error| panic!("{error}"));
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .skip(1)
                .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
                .collect()
        };
        (list(&["content", "ls"]), list(&["content", "active"]))
    }
}

fn ctr(socket: &Path) -> Command {
    let mut command = Command::new("ctr");
    command
        .env_remove("CONTAINERD_ADDRESS")
        .env_remove("CONTAINERD_NAMESPACE")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", "packyard-test"]);
    command
}

/// A request line a [`CuttingProxy`] forwarded, with its `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `GET /v2/… HTTP/1.1`.
    pub line: String,
    /// The `Range` header's value, if any.
    pub range: Option<String>,
}

/// A TCP proxy on 127.0.0.1 in front of `target`: while cutting, it closes each connection once it has
/// forwarded `cut_after` bytes of responses on it. It records every request line it forwards (the
/// requests are plain HTTP/1.1) and every response status line that begins a read.
pub struct CuttingProxy {
    port: u16,
    cut_after: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<ProxiedRequest>>>,
    statuses: Arc<Mutex<Vec<String>>>,
    response_bytes: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Listens on a free loopback port, forwarding to `target` (`127.0.0.1:PORT`), cutting each
    /// connection after `cut_after` response bytes (0: never).
    pub fn start(target: &str, cut_after: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            cut_after: Arc::new(AtomicU64::new(cut_after)),
            requests: Arc::default(),
            statuses: Arc::default(),
            response_bytes: Arc::default(),
            stopped: Arc::default(),
        };
        let (target, cut, requests, statuses, bytes, stopped) = (
            target.to_owned(),
            proxy.cut_after.clone(),
            proxy.requests.clone(),
            proxy.statuses.clone(),
            proxy.response_bytes.clone(),
            proxy.stopped.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let limit = cut.load(Ordering::SeqCst);
                let (requests, statuses, bytes) =
                    (requests.clone(), statuses.clone(), bytes.clone());
                let (client_read, server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || forward_requests(client_read, server_write, &requests));
                std::thread::spawn(move || {
                    forward_responses(server, client, limit, &statuses, &bytes);
                });
            }
        });
        proxy
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops cutting new connections (0) or cuts them after another number of bytes.
    pub fn cut_after(&self, bytes: u64) {
        self.cut_after.store(bytes, Ordering::SeqCst);
    }

    /// Every request forwarded so far.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Status lines of the responses that started a read from the server (`HTTP/1.1 206 Partial
    /// Content`); enough to see how ranged requests were answered.
    pub fn statuses(&self) -> Vec<String> {
        self.statuses.lock().unwrap().clone()
    }

    /// Response bytes forwarded so far, over every connection.
    pub fn response_bytes(&self) -> u64 {
        self.response_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.host());
    }
}

fn forward_requests(mut from: TcpStream, mut to: TcpStream, requests: &Mutex<Vec<ProxiedRequest>>) {
    let mut buffer = vec![0; 64 * 1024];
    // Pull requests carry no body: every request head ends with an empty line.
    let mut pending = Vec::new();
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 || to.write_all(&buffer[..read]).is_err() {
            break;
        }
        pending.extend_from_slice(&buffer[..read]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let line = lines.next().unwrap_or_default().to_owned();
            let range = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("range"))
                .map(|(_, value)| value.trim().to_owned());
            requests
                .lock()
                .unwrap()
                .push(ProxiedRequest { line, range });
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn forward_responses(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: u64,
    statuses: &Mutex<Vec<String>>,
    bytes: &AtomicU64,
) {
    let mut buffer = vec![0; 64 * 1024];
    let mut sent = 0u64;
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        if chunk.starts_with(b"HTTP/1.") {
            let line = chunk.split(|&b| b == b'\r').next().unwrap_or_default();
            statuses
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(line).into_owned());
        }
        let allowed = if limit == 0 {
            chunk.len()
        } else {
            usize::try_from(limit - sent)
                .unwrap_or(usize::MAX)
                .min(chunk.len())
        };
        if to.write_all(&chunk[..allowed]).is_err() {
            break;
        }
        sent += allowed as u64;
        bytes.fetch_add(allowed as u64, Ordering::SeqCst);
        if allowed < chunk.len() || (limit != 0 && sent >= limit) {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
