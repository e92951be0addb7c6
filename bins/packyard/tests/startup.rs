//! The binary as an operator meets it: start-up mistakes that say what is wrong and exit non-zero, the
//! configuration file named by `PACKYARD_CONFIG`, host names in `server.listen`, logs as text (without
//! colour codes when not on a terminal) or JSON, a closed log pipe that does not stop the server, and a
//! blob store that takes no writes, refused at start and reported by the readiness check; TLS on the
//! listener, and its certificate and key checked at start; the allocator tuned for large documents.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    TestCertificates, TestProxy, bootstrap_admin, create_virtual_registry, free_port, packyard,
};

/// Runs a subcommand to its end.
fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// Asserts a failure whose standard error says `cause`.
fn fails_saying(output: &Output, cause: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(stderr.contains(cause), "expected {cause:?} in: {stderr}");
    assert!(!stderr.contains("FieldErrors"), "debug output: {stderr}");
}

/// Waits until `url` answers 200.
async fn wait_ok(url: &str) {
    wait_ok_with(&reqwest::Client::new(), url).await;
}

/// Waits until `url` answers 200 to `client`.
async fn wait_ok_with(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SIGTERM: a graceful stop.
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap()
}

#[test]
fn mistakes_at_start_say_what_is_wrong() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    fails_saying(
        &run(packyard(data.path(), "127.0.0.1:1")
            .arg("serve")
            .arg("--config")
            .arg(&folder)),
        "is not a file",
    );
    fails_saying(
        &run(packyard(data.path(), "127.0.0.1:1")
            .arg("migrate")
            .env("PACKYARD_CONFIG", data.path().join("missing.toml"))),
        "missing.toml does not exist",
    );
    fails_saying(
        &run(packyard(data.path(), "nowhere").arg("serve")),
        "invalid setting server.listen = \"nowhere\"",
    );
    fails_saying(
        &run(packyard(data.path(), "127.0.0.1:1").args([
            "admin",
            "bootstrap",
            "--username",
            "bad name!",
        ])),
        "username can contain only letters",
    );
    fails_saying(
        &run(packyard(data.path(), "127.0.0.1:1")
            .arg("migrate")
            .env("PACKYARD__LOG__FORMAT", "xml")),
        "found `xml`, expected ``text` or `json`` for key \"LOG.FORMAT\"",
    );
    // The database's own reason, the password hidden.
    let refused = run(packyard(data.path(), "127.0.0.1:1").arg("migrate").env(
        "PACKYARD__DATABASE__URL",
        "postgres://u:s3cret@127.0.0.1:1/db",
    ));
    fails_saying(&refused, "Connection refused");
    fails_saying(&refused, "postgres://u:***@127.0.0.1:1/db");
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("s3cret"));
}

#[tokio::test]
async fn the_config_file_comes_from_the_environment_and_listen_takes_host_names() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = data.path().join("packyard.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"localhost:{port}\"\n[log]\nformat = \"json\"\n"),
    )
    .unwrap();
    // The environment's listen setting would win over the file's: this one has none.
    let mut command = packyard(data.path(), "unused:1");
    command.env_remove("PACKYARD__SERVER__LISTEN");
    let mut child = command
        .arg("serve")
        .env("PACKYARD_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .env(
            "PACKYARD__SERVER__TRUSTED_PROXIES",
            "[\"127.0.0.1\", \"::1\"]",
        )
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let health = format!("http://localhost:{port}/-/health");
    wait_ok(&health).await;
    let client = reqwest::Client::new();
    let traced = client
        .get(&health)
        .header("X-Request-Id", "build-42.step:7")
        .header("X-Forwarded-For", "203.0.113.9, 127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "build-42.step:7");
    let fresh = client
        .get(&health)
        .header("X-Request-Id", "not sane!")
        .send()
        .await
        .unwrap();
    let fresh_id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(fresh_id, "not sane!");
    assert_eq!(terminate(&mut child).code(), Some(0));
    // JSON logs: one object per line, the request line with its fields.
    let lines: Vec<serde_json::Value> = BufReader::new(stderr)
        .lines()
        .map(|line| {
            let line = line.unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .collect();
    let request_line = |id: &str| {
        lines
            .iter()
            .find(|line| line["message"] == "request" && line["request_id"] == id)
            .unwrap_or_else(|| panic!("no request line for {id} in {lines:?}"))
    };
    let traced = request_line("build-42.step:7");
    assert_eq!(traced["path"], "/-/health");
    assert_eq!(traced["method"], "GET");
    assert_eq!(traced["status"], 200);
    assert_eq!(traced["bytes"], 2, "the body \"ok\"");
    assert_eq!(traced["complete"], true);
    assert!(traced["ms"].is_u64());
    assert_eq!(traced["level"], "INFO");
    assert!(traced["timestamp"].is_string());
    // The proxy on 127.0.0.1 is trusted: the client is the address it forwarded for.
    assert_eq!(traced["client"], "203.0.113.9");
    let fresh = request_line(&fresh_id);
    assert!(
        fresh["client"] == "127.0.0.1" || fresh["client"] == "::1",
        "{fresh}"
    );
}

#[tokio::test]
async fn a_closed_log_pipe_does_not_stop_the_server() {
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = packyard(data.path(), &listen)
        .arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        !first.contains('\u{1b}'),
        "colour codes in a pipe: {first:?}"
    );
    drop(stderr); // as `packyard serve 2>&1 | head -1` does
    let client = reqwest::Client::new();
    wait_ok(&format!("http://{listen}/-/health")).await;
    for _ in 0..20 {
        let response = client
            .get(format!("http://{listen}/-/readiness"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(terminate(&mut child).code(), Some(0));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, mark) in [
        ("bash", "_packyard()"),
        ("zsh", "#compdef packyard"),
        ("fish", "complete -c packyard"),
    ] {
        let output =
            run(packyard(Path::new("/nonexistent"), "127.0.0.1:1").args(["completions", shell]));
        assert!(output.status.success());
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(
            script.contains("bootstrap"),
            "{shell}: the subcommands are completed"
        );
    }
}

/// A stopping server waits `server.shutdown_timeout_secs` for running transfers, then cuts them off.
#[tokio::test]
async fn a_stopping_server_drains_for_its_shutdown_timeout() {
    let data = tempfile::tempdir().unwrap();
    let token = common::bootstrap_admin(data.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = packyard(data.path(), &listen)
        .arg("serve")
        .env("PACKYARD__SERVER__SHUTDOWN_TIMEOUT_SECS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ok(&format!("http://{listen}/-/health")).await;
    // An upload that sends half its body, then waits.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    sender.send(Ok(vec![1u8; 1000])).await.unwrap();
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let upload = tokio::spawn(
        reqwest::Client::new()
            .put(format!(
                "http://{listen}/registry/package/generic/drain/1.0.0/file.bin"
            ))
            .header("Authorization", format!("token {token}"))
            .header("Content-Length", "2000")
            .body(body)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "did not wait for the transfer: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "waited past its timeout: {took:?}"
    );
    assert!(upload.await.unwrap().is_err(), "the cut transfer fails");
    drop(sender);
}

/// A small tmpfs that can be made read-only, unmounted when dropped.
struct ReadOnlyDisk(tempfile::TempDir);

impl ReadOnlyDisk {
    fn mount(dir: &Path) -> bool {
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success())
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ReadOnlyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_blob_store_that_takes_no_writes_is_refused_at_start_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    if !ReadOnlyDisk::mount(dir.path()) {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "mounting a tmpfs needs root, which CI has"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let disk = ReadOnlyDisk(dir);
    let blobs = disk.0.path().join("blobs");
    let data = tempfile::tempdir().unwrap();
    let storage = format!("file://{}", blobs.display());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = packyard(data.path(), &listen)
        .arg("serve")
        .env("PACKYARD__STORAGE__URL", &storage)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let readiness = format!("http://{listen}/-/readiness");
    wait_ok(&readiness).await;
    disk.remount_read_only();
    let response = reqwest::get(&readiness).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.unwrap(), "storage takes no writes");
    assert_eq!(terminate(&mut child).code(), Some(0));

    let refused = run(packyard(data.path(), &listen)
        .arg("serve")
        .env("PACKYARD__STORAGE__URL", &storage));
    fails_saying(&refused, "the blob store takes no writes");
}

#[tokio::test]
async fn the_listener_speaks_tls_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::create(dir.path());
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = packyard(data.path(), &listen)
        .arg("serve")
        .env(
            "PACKYARD__SERVER__TLS__CERTIFICATE",
            &certificates.certificate,
        )
        .env(
            "PACKYARD__SERVER__TLS__PRIVATE_KEY",
            &certificates.private_key,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certificates.ca).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = format!("https://{listen}/-/health");
    wait_ok_with(&trusting, &health).await;
    let named = health.replace("127.0.0.1", "localhost");
    let answer = trusting.get(&named).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "ok");
    assert!(
        reqwest::get(&health).await.is_err(),
        "a client without the authority refuses the certificate"
    );
    assert!(
        reqwest::get(format!("http://{listen}/-/health"))
            .await
            .is_err(),
        "no plain HTTP on a TLS listener"
    );
    assert_eq!(terminate(&mut child).code(), Some(0));
}

#[test]
fn tls_mistakes_at_start_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::create(dir.path());
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = TestCertificates::create(&other_dir);
    let bad_key = dir.path().join("bad.key");
    std::fs::write(
        &bad_key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let serve = |certificate: &Path, key: &Path| {
        run(packyard(data.path(), "127.0.0.1:1")
            .arg("serve")
            .env("PACKYARD__SERVER__TLS__CERTIFICATE", certificate)
            .env("PACKYARD__SERVER__TLS__PRIVATE_KEY", key))
    };
    fails_saying(
        &serve(&certificates.certificate, &bad_key),
        &format!(
            "invalid setting server.tls.private_key: {}",
            bad_key.display()
        ),
    );
    fails_saying(
        &serve(&certificates.certificate, &dir.path().join("missing.key")),
        "invalid setting server.tls.private_key",
    );
    fails_saying(
        &serve(&certificates.private_key, &certificates.private_key),
        "invalid setting server.tls.certificate",
    );
    fails_saying(
        &serve(&certificates.certificate, &other.private_key),
        "invalid setting server.tls: ",
    );
    fails_saying(
        &run(packyard(data.path(), "127.0.0.1:1").arg("serve").env(
            "PACKYARD__UPSTREAM__CA_CERTIFICATES",
            "[\"/nowhere/ca.pem\"]",
        )),
        "invalid setting upstream.ca_certificates: /nowhere/ca.pem: No such file",
    );
}

#[tokio::test]
async fn upstreams_go_through_the_environments_proxy_except_no_proxy_hosts() {
    use packyard_test_support::{FakeUpstream, Reply};
    const JAR: &str = "org/example/app/1.0/app-1.0.jar";
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("jar", "application/java-archive"));
    let target = upstream.url.trim_start_matches("http://").parse().unwrap();
    let proxy = TestProxy::start(target).await;
    let data = tempfile::tempdir().unwrap();
    let token = bootstrap_admin(data.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = packyard(data.path(), &listen)
        .arg("serve")
        .env("HTTP_PROXY", &proxy.url)
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    wait_ok(&format!("{base}/-/health")).await;
    let client = reqwest::Client::new();
    let api = format!("{base}/api/v4");
    let group = common::create_group(&client, &api, &token, "acme").await;
    let pull = |registry: i64| {
        client
            .get(format!(
                "{api}/virtual_registries/packages/maven/{registry}/{JAR}"
            ))
            .header("PRIVATE-TOKEN", &token)
            .send()
    };

    // Only the proxy knows this name.
    let (proxied, _) = create_virtual_registry(
        &client,
        &api,
        &token,
        "packages/maven",
        group,
        &[serde_json::json!({"url": "http://maven.proxied.test"})],
    )
    .await;
    assert_eq!(pull(proxied).await.unwrap().text().await.unwrap(), "jar");
    let through_proxy = proxy.seen().len();
    assert!(through_proxy > 0);

    // NO_PROXY: straight to the upstream.
    let other = common::create_group(&client, &api, &token, "other").await;
    let (direct, _) = create_virtual_registry(
        &client,
        &api,
        &token,
        "packages/maven",
        other,
        &[serde_json::json!({"url": upstream.url})],
    )
    .await;
    let response = pull(direct).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(proxy.seen().len(), through_proxy, "{:?}", proxy.seen());
    assert_eq!(terminate(&mut child).code(), Some(0));
}

/// The `GLIBC_TUNABLES` a running process was started with (glibc cuts the variable after the first
/// tunable it reads, so only that one shows).
fn allocator_settings(child: &Child) -> Option<String> {
    let environment = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    environment
        .split(|&b| b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("GLIBC_TUNABLES=").map(str::to_owned))
}

#[tokio::test]
async fn the_server_runs_with_the_allocator_tuned_unless_the_operator_tuned_it() {
    for (given, expected) in [
        (None, "glibc.malloc.arena_max=2"),
        (Some("glibc.malloc.arena_max=4"), "glibc.malloc.arena_max=4"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let mut command = packyard(data.path(), &listen);
        command.arg("serve").env_remove("GLIBC_TUNABLES");
        if let Some(given) = given {
            command.env("GLIBC_TUNABLES", given);
        }
        let mut child = command.stderr(Stdio::null()).spawn().unwrap();
        // The same process answers: it started itself again, it did not fork.
        wait_ok(&format!("http://{listen}/-/readiness")).await;
        assert_eq!(allocator_settings(&child).as_deref(), Some(expected));
        assert_eq!(terminate(&mut child).code(), Some(0));
    }
}
