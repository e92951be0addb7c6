//! Settings: defaults, then a TOML file, then `PACKYARD__<SECTION>__<KEY>` environment variables, validated
//! once at start with messages that name the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use packyard_core::{CoreSettings, SecretKey, UpstreamSettings};
use serde::{Deserialize, Serialize};

/// All settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[storage]`
    pub storage: StorageSettings,
    /// `[upstream]`
    pub upstream: UpstreamConfig,
    /// `[secrets]`
    pub secrets: SecretsSettings,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// The URL clients use to reach this server (defaults to `http://<listen>`).
    pub external_url: Option<String>,
    /// Folder for the embedded defaults (database, blobs, spool, generated secret key).
    pub data_dir: PathBuf,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            external_url: None,
            data_dir: PathBuf::from("./data"),
            workers: None,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://...` (default: `sqlite://<data_dir>/packyard.db`).
    pub url: Option<String>,
    /// Pool size (default 10; SQLite uses at most 8).
    pub max_connections: Option<u32>,
}

/// `[storage]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `file:///PATH` or `memory://` (default: `file://<data_dir>/blobs`).
    pub url: Option<String>,
    /// Largest cacheable file in bytes (default 5 GiB).
    pub max_file_size: Option<u64>,
    /// Folder for fill spool files (default `<data_dir>/tmp`).
    pub spool_dir: Option<PathBuf>,
}

/// `[upstream]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Allow upstreams on loopback, private and link-local addresses.
    pub allow_local_network: bool,
    /// Seconds to connect.
    pub connect_timeout_secs: u64,
    /// Seconds from request to response headers.
    pub first_byte_timeout_secs: u64,
    /// Longest pause between body chunks, in seconds.
    pub idle_timeout_secs: u64,
    /// Seconds for a whole HEAD (resolution, revalidation, connection tests).
    pub head_timeout_secs: u64,
    /// Upstream HEADs sent at once during resolution.
    pub parallel_heads: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            allow_local_network: false,
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 30,
            idle_timeout_secs: 30,
            head_timeout_secs: 5,
            parallel_heads: 3,
        }
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// Base64 of 32 random bytes; generated into `<data_dir>/secret.key` when absent.
    pub key: Option<String>,
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment, and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("PACKYARD__").split("__"));
        let settings: Settings = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        let db = self.database_url();
        if packyard_db::Backend::from_url(&db).is_err() {
            bail!("invalid setting database.url = {db:?}: use sqlite://PATH or postgres://...");
        }
        let storage = self.storage_url();
        if !(storage.starts_with("file://") || storage == "memory://") {
            bail!("invalid setting storage.url = {storage:?}: use file:///PATH or memory://");
        }
        if let Some(key) = &self.secrets.key {
            SecretKey::from_base64(key)
                .map_err(|e| anyhow::anyhow!("invalid setting secrets.key: {e}"))?;
        }
        if let Some(url) = &self.server.external_url {
            url::Url::parse(url)
                .with_context(|| format!("invalid setting server.external_url = {url:?}"))?;
        }
        if self.upstream.parallel_heads == 0 {
            bail!("invalid setting upstream.parallel_heads: must be at least 1");
        }
        for (name, value) in [
            (
                "upstream.connect_timeout_secs",
                self.upstream.connect_timeout_secs,
            ),
            (
                "upstream.first_byte_timeout_secs",
                self.upstream.first_byte_timeout_secs,
            ),
            (
                "upstream.idle_timeout_secs",
                self.upstream.idle_timeout_secs,
            ),
            (
                "upstream.head_timeout_secs",
                self.upstream.head_timeout_secs,
            ),
        ] {
            if value == 0 {
                bail!("invalid setting {name}: must be at least 1 second");
            }
        }
        Ok(())
    }

    /// The listen address.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().with_context(|| {
            format!(
                "invalid setting server.listen = {:?}: expected HOST:PORT",
                self.server.listen
            )
        })
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("packyard.db").display()
            )
        })
    }

    /// The storage URL in force.
    pub fn storage_url(&self) -> String {
        self.storage
            .url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.server.data_dir.join("blobs").display()))
    }

    /// The secret key: configured, or read from (or generated into) `<data_dir>/secret.key`.
    pub fn secret_key(&self) -> anyhow::Result<SecretKey> {
        if let Some(key) = &self.secrets.key {
            return SecretKey::from_base64(key)
                .map_err(|e| anyhow::anyhow!("invalid setting secrets.key: {e}"));
        }
        let path = self.server.data_dir.join("secret.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return SecretKey::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        std::fs::create_dir_all(&self.server.data_dir)
            .with_context(|| format!("creating {}", self.server.data_dir.display()))?;
        let key = SecretKey::generate();
        write_private(&path, &key.to_base64())
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a new secret key");
        Ok(key)
    }

    /// The services' settings.
    pub fn core_settings(&self) -> CoreSettings {
        let upstream = &self.upstream;
        CoreSettings {
            max_file_size: self
                .storage
                .max_file_size
                .unwrap_or(packyard_domain::limits::MAX_FILE_SIZE),
            spool_dir: self
                .storage
                .spool_dir
                .clone()
                .unwrap_or_else(|| self.server.data_dir.join("tmp")),
            parallel_heads: upstream.parallel_heads,
            upstream: UpstreamSettings {
                allow_local_network: upstream.allow_local_network,
                connect_timeout: Duration::from_secs(upstream.connect_timeout_secs),
                first_byte_timeout: Duration::from_secs(upstream.first_byte_timeout_secs),
                idle_timeout: Duration::from_secs(upstream.idle_timeout_secs),
                head_timeout: Duration::from_secs(upstream.head_timeout_secs),
            },
            external_url: self
                .server
                .external_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
        }
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
