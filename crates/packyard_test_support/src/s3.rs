//! A real S3-compatible object store for tests: a Garage server on loopback, started for the test with one
//! bucket and one access key, stopped (and its data removed) when dropped. Garage is installed once per
//! machine by `scripts/install-test-deps.sh`; a machine without it fails the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where `scripts/install-test-deps.sh` installs Garage; `PACKYARD_TEST_GARAGE` overrides it.
const GARAGE: &str = "/opt/packyard-test-garage/bin/garage";

/// A running Garage server.
pub struct S3Server {
    child: Child,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The one bucket.
    pub bucket: String,
    /// Its access key id (`GK…`).
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: String,
    /// The region Garage answers as.
    pub region: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `chars` random hex digits.
fn random_hex(chars: usize) -> String {
    let mut hex = String::new();
    while hex.len() < chars {
        hex.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    hex.truncate(chars);
    hex
}

impl S3Server {
    /// The Garage binary.
    pub fn binary() -> PathBuf {
        let path = std::env::var("PACKYARD_TEST_GARAGE").unwrap_or_else(|_| GARAGE.into());
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "the S3 tests need Garage at {}: run scripts/install-test-deps.sh",
            path.display()
        );
        path
    }

    /// Starts a single-node Garage with bucket `packyard` and waits until it answers.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
metadata_fsync = false
data_fsync = false
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
                meta = dir.path().join("meta").display(),
                data = dir.path().join("data").display(),
                rpc_secret = random_hex(64),
            ),
        )
        .unwrap();
        let access_key_id = format!("GK{}", random_hex(24));
        let secret_access_key = random_hex(64);
        let bucket = "packyard".to_owned();
        let log = std::fs::File::create(dir.path().join("garage.log")).unwrap();
        let child = Command::new(Self::binary())
            .args(["-c"])
            .arg(&config)
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &access_key_id)
            .env("GARAGE_DEFAULT_SECRET_KEY", &secret_access_key)
            .env("GARAGE_DEFAULT_BUCKET", &bucket)
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            bucket,
            access_key_id,
            secret_access_key,
            region: "garage".into(),
            _dir: dir,
        };
        server.wait_until_ready().await;
        server
    }

    /// Waits until the bucket takes a write.
    async fn wait_until_ready(&self) {
        let store = self.store();
        for _ in 0..200 {
            if store.check_writable().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self._dir.path().join("garage.log")).unwrap_or_default();
        panic!("Garage did not start:\n{log}");
    }

    /// The storage URL to give packyard: the bucket with a prefix.
    pub fn storage_url(&self) -> String {
        format!("s3://{}/blobs", self.bucket)
    }

    /// How packyard reaches it.
    pub fn options(&self) -> packyard_blob::S3Options {
        packyard_blob::S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some(self.region.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            path_style: true,
            allow_http: true,
        }
    }

    /// The settings as environment variables of the packyard binary.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PACKYARD__STORAGE__URL", self.storage_url()),
            ("PACKYARD__STORAGE__S3__ENDPOINT", self.endpoint.clone()),
            ("PACKYARD__STORAGE__S3__REGION", self.region.clone()),
            (
                "PACKYARD__STORAGE__S3__ACCESS_KEY_ID",
                self.access_key_id.clone(),
            ),
            (
                "PACKYARD__STORAGE__S3__SECRET_ACCESS_KEY",
                self.secret_access_key.clone(),
            ),
            ("PACKYARD__STORAGE__S3__PATH_STYLE", "true".into()),
            ("PACKYARD__STORAGE__S3__ALLOW_HTTP", "true".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// A blob store on the bucket, as packyard opens it.
    pub fn store(&self) -> packyard_blob::BlobStore {
        packyard_blob::BlobStore::open(&self.storage_url(), &self.options()).unwrap()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
