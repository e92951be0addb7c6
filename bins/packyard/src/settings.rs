//! Settings: defaults, then a TOML file, then `PACKYARD__<SECTION>__<KEY>` environment variables, validated
//! once at start with messages that name the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use packyard_core::{CoreSettings, JobSettings, SecretKey, UpstreamSettings};
use packyard_upstream::{AddressPolicy, Allowlist, ProxySettings};
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
    /// `[jobs]`
    pub jobs: JobsConfig,
    /// `[log]`
    pub log: LogSettings,
    /// `[metrics]`
    pub metrics: MetricsSettings,
}

/// `[metrics]`: Prometheus metrics at `/metrics` on the main listener.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` (off by default). Administrators' tokens may read it, and `token`.
    pub enabled: bool,
    /// A bearer token a scraper sends (`Authorization: Bearer <token>`); at least 16 characters.
    pub token: Option<String>,
}

/// `[log]`: where the level is `RUST_LOG`'s.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (the default; coloured only on a terminal) or `json` (one object per line).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// For log collectors: one JSON object per line.
    Json,
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
    /// Longest pause, in seconds, between two pieces of a request body before the request fails.
    pub body_idle_timeout_secs: u64,
    /// Longest time, in seconds, sent response bytes may wait for a client that stopped reading
    /// before its connection is closed.
    pub send_timeout_secs: u64,
    /// Seconds a stopping server gives running transfers, then running jobs, to finish.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client in the
    /// request log; others' is ignored.
    pub trusted_proxies: Vec<String>,
    /// `[server.tls]`: HTTPS on the listener; plain HTTP without it.
    pub tls: Option<TlsSettings>,
}

/// `[server.tls]`: the listener's certificate and key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file: the server's certificate, then any intermediates.
    pub certificate: PathBuf,
    /// PEM file: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            external_url: None,
            data_dir: PathBuf::from("./data"),
            workers: None,
            body_idle_timeout_secs: 30,
            send_timeout_secs: 60,
            shutdown_timeout_secs: 60,
            trusted_proxies: Vec::new(),
            tls: None,
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
    /// `[storage.s3]`: how to reach an `s3://` store.
    pub s3: S3Settings,
}

/// `[storage.s3]`: an S3-compatible store. Unset values come from the standard `AWS_*` variables.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The endpoint of an S3-compatible server; AWS's own when unset.
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key (better from the environment or `secret_access_key_file`).
    pub secret_access_key: Option<String>,
    /// A file holding the secret access key (a mounted secret).
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style requests (`http://host/bucket/key`), what most self-hosted servers need.
    pub path_style: bool,
    /// Allow an `http://` endpoint.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// `[upstream]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Allow upstreams on loopback, private and link-local addresses.
    pub allow_local_network: bool,
    /// Local or private destinations upstreams may have although `allow_local_network` is off: host
    /// names (`nexus.corp.example`, `*.corp.example`), addresses and CIDR ranges.
    pub allowlist: Vec<String>,
    /// The HTTP proxy for all upstream traffic (`http://[user:password@]host:port`); when unset,
    /// `HTTPS_PROXY` and `HTTP_PROXY` from the environment.
    pub proxy: Option<ProxyUrl>,
    /// Upstreams reached without the proxy (`NO_PROXY` syntax, one entry each); when unset, `NO_PROXY`
    /// from the environment.
    pub no_proxy: Option<Vec<String>>,
    /// PEM files of certificate authorities trusted for upstreams besides the system's.
    pub ca_certificates: Vec<PathBuf>,
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
    /// Check Maven files against the `.sha1`/`.sha256`/`.sha512` their upstream publishes before caching.
    pub verify_checksums: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            allow_local_network: false,
            allowlist: Vec::new(),
            proxy: None,
            no_proxy: None,
            ca_certificates: Vec::new(),
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 30,
            idle_timeout_secs: 30,
            head_timeout_secs: 5,
            parallel_heads: 3,
            verify_checksums: true,
        }
    }
}

/// A proxy URL as configured, which may carry a password: never shown whole.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProxyUrl(pub String);

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(url) => write!(f, "{:?}", packyard_upstream::redacted(&url)),
            Err(_) => f.write_str("\"(unparsable)\""),
        }
    }
}

/// `[jobs]`: the background job workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Run job workers in this instance.
    pub worker: bool,
    /// Worker loops: jobs run at once by this instance.
    pub concurrency: usize,
    /// Milliseconds between looks for due jobs when idle.
    pub poll_interval_ms: u64,
    /// Seconds a claim holds before another worker may take the job over (extended while it runs).
    pub lease_secs: u64,
    /// Claims of a one-off job before it is given up.
    pub max_attempts: u32,
    /// Seconds before the first retry of a failed job; doubled for each further retry.
    pub retry_base_secs: u64,
    /// The longest delay between retries, in seconds.
    pub retry_max_secs: u64,
    /// Seconds a blob stays after it was last written or found unreferenced.
    pub blob_grace_secs: u64,
    /// Seconds between looks for due cleanup policies.
    pub scheduler_interval_secs: u64,
    /// Seconds between unprompted runs of entry destruction, blob collection and job pruning.
    pub maintenance_interval_secs: u64,
    /// Days finished jobs are kept.
    pub keep_finished_days: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        let core = JobSettings::default();
        Self {
            worker: true,
            concurrency: core.concurrency,
            poll_interval_ms: core.poll_interval.as_millis() as u64,
            lease_secs: core.lease.as_secs(),
            max_attempts: core.max_attempts,
            retry_base_secs: core.retry_base.as_secs(),
            retry_max_secs: core.retry_max.as_secs(),
            blob_grace_secs: core.blob_grace.as_secs(),
            scheduler_interval_secs: core.scheduler_interval.as_secs(),
            maintenance_interval_secs: core.maintenance_interval.as_secs(),
            keep_finished_days: core.keep_finished.as_secs() / (24 * 3600),
        }
    }
}

/// `[secrets]`
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// Base64 of 32 random bytes; generated into `<data_dir>/secret.key` when absent.
    pub key: Option<String>,
}

impl std::fmt::Debug for SecretsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsSettings")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment, and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("configuration file {} does not exist", file.display());
            }
            if !file.is_file() {
                bail!(
                    "configuration file {} is not a file: give the path of a TOML file",
                    file.display()
                );
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
        self.trusted_proxies()?;
        let db = self.database_url();
        if packyard_db::Backend::from_url(&db).is_err() {
            let db = packyard_db::redacted_url(&db);
            bail!("invalid setting database.url = {db:?}: use sqlite://PATH or postgres://...");
        }
        let storage = self.storage_url();
        if !(storage.starts_with("file://")
            || storage.starts_with("s3://") && storage.len() > "s3://".len()
            || storage == "memory://")
        {
            bail!(
                "invalid setting storage.url = {storage:?}: use file:///PATH, s3://BUCKET[/PREFIX] or memory://"
            );
        }
        if let Some(endpoint) = &self.storage.s3.endpoint {
            let parsed = url::Url::parse(endpoint)
                .with_context(|| format!("invalid setting storage.s3.endpoint = {endpoint:?}"))?;
            if parsed.scheme() == "http" && !self.storage.s3.allow_http {
                bail!(
                    "invalid setting storage.s3.endpoint = {endpoint:?}: an http:// endpoint needs storage.s3.allow_http = true"
                );
            }
        }
        if let Some(key) = &self.secrets.key {
            SecretKey::from_base64(key)
                .map_err(|e| anyhow::anyhow!("invalid setting secrets.key: {e}"))?;
        }
        if let Some(url) = &self.server.external_url {
            url::Url::parse(url)
                .with_context(|| format!("invalid setting server.external_url = {url:?}"))?;
        }
        self.upstream_proxies(env_var)?;
        self.upstream_allowlist()?;
        for path in &self.upstream.ca_certificates {
            packyard_upstream::read_ca_certificates(path)
                .map_err(|e| anyhow::anyhow!("invalid setting upstream.ca_certificates: {e}"))?;
        }
        self.tls_config()?;
        if let Some(token) = &self.metrics.token
            && token.trim().len() < 16
        {
            bail!("invalid setting metrics.token: use at least 16 random characters");
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
            (
                "server.body_idle_timeout_secs",
                self.server.body_idle_timeout_secs,
            ),
            ("server.send_timeout_secs", self.server.send_timeout_secs),
        ] {
            if value == 0 {
                bail!("invalid setting {name}: must be at least 1 second");
            }
        }
        self.validate_jobs()
    }

    fn validate_jobs(&self) -> anyhow::Result<()> {
        let jobs = &self.jobs;
        for (name, value) in [
            ("jobs.concurrency", jobs.concurrency as u64),
            ("jobs.poll_interval_ms", jobs.poll_interval_ms),
            ("jobs.lease_secs", jobs.lease_secs),
            ("jobs.max_attempts", u64::from(jobs.max_attempts)),
            ("jobs.retry_base_secs", jobs.retry_base_secs),
            ("jobs.retry_max_secs", jobs.retry_max_secs),
            ("jobs.blob_grace_secs", jobs.blob_grace_secs),
            ("jobs.scheduler_interval_secs", jobs.scheduler_interval_secs),
            (
                "jobs.maintenance_interval_secs",
                jobs.maintenance_interval_secs,
            ),
            ("jobs.keep_finished_days", jobs.keep_finished_days),
        ] {
            if value == 0 {
                bail!("invalid setting {name}: must be at least 1");
            }
        }
        if jobs.retry_max_secs < jobs.retry_base_secs {
            bail!("invalid setting jobs.retry_max_secs: must be at least jobs.retry_base_secs");
        }
        if jobs.lease_secs < 3 {
            bail!("invalid setting jobs.lease_secs: must be at least 3 seconds");
        }
        Ok(())
    }

    /// The listen address: an IP address or a host name, with a port (a name is resolved once, at
    /// start, and its first address taken).
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        use std::net::ToSocketAddrs;
        let listen = &self.server.listen;
        let invalid = || {
            format!(
                "invalid setting server.listen = {listen:?}: expected HOST:PORT, such as \
                 127.0.0.1:8080, [::1]:8080 or localhost:8080"
            )
        };
        listen
            .to_socket_addrs()
            .with_context(invalid)?
            .next()
            .with_context(invalid)
    }

    /// `server.trusted_proxies` parsed: an address stands for itself alone.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.server
            .trusted_proxies
            .iter()
            .map(|text| {
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| {
                        format!(
                            "invalid setting server.trusted_proxies: {text:?} is neither an IP \
                             address nor a CIDR range"
                        )
                    })
            })
            .collect()
    }

    /// The outbound proxies in force: `upstream.proxy` for every upstream when it is set, else the
    /// environment's `HTTPS_PROXY` for https upstreams and `HTTP_PROXY` for http ones (upper case
    /// before lower case); `upstream.no_proxy` when it is set, else `NO_PROXY`. `env` reads a variable.
    pub fn upstream_proxies(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ProxySettings> {
        let env = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                env(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        let parse = |name: &str, text: &str| {
            ProxySettings::parse_url(text)
                .map_err(|e| anyhow::anyhow!("invalid setting {name}: {e}"))
        };
        let (http, https) = match &self.upstream.proxy {
            Some(ProxyUrl(text)) => {
                let url = parse("upstream.proxy", text)?;
                (Some(url.clone()), Some(url))
            }
            None => {
                let from_env = |names| {
                    env(names)
                        .map(|(name, value)| parse(&format!("(environment) {name}"), &value))
                        .transpose()
                };
                (
                    from_env(["HTTP_PROXY", "http_proxy"])?,
                    from_env(["HTTPS_PROXY", "https_proxy"])?,
                )
            }
        };
        let no_proxy = match &self.upstream.no_proxy {
            Some(entries) => Some(entries.join(",")),
            None => env(["NO_PROXY", "no_proxy"]).map(|(_, value)| value),
        };
        Ok(ProxySettings {
            http,
            https,
            no_proxy,
        })
    }

    /// `upstream.allowlist` parsed.
    pub fn upstream_allowlist(&self) -> anyhow::Result<Allowlist> {
        Allowlist::parse(&self.upstream.allowlist)
            .map_err(|e| anyhow::anyhow!("invalid setting upstream.allowlist: {e}"))
    }

    /// The listener's TLS configuration when `[server.tls]` is set, its files read and checked.
    pub fn tls_config(&self) -> anyhow::Result<Option<rustls::ServerConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let Some(tls) = &self.server.tls else {
            return Ok(None);
        };
        let certificate = tls.certificate.display();
        let certificates = CertificateDer::pem_file_iter(&tls.certificate)
            .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                anyhow::anyhow!("invalid setting server.tls.certificate: {certificate}: {e}")
            })?;
        if certificates.is_empty() {
            bail!(
                "invalid setting server.tls.certificate: {certificate}: holds no PEM certificate"
            );
        }
        let private_key = tls.private_key.display();
        let key = PrivateKeyDer::from_pem_file(&tls.private_key).map_err(|e| {
            anyhow::anyhow!("invalid setting server.tls.private_key: {private_key}: {e}")
        })?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        // Loaded once on its own so that a key rustls can't use is told apart from a mismatch.
        provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| {
                anyhow::anyhow!("invalid setting server.tls.private_key: {private_key}: {e}")
            })?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .map_err(|e| {
                anyhow::anyhow!(
                    "invalid setting server.tls: {private_key} is not the key of {certificate}: {e}"
                )
            })?;
        Ok(Some(config))
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

    /// How to reach an `s3://` store, the secret read from its file when one is named.
    pub fn s3_options(&self) -> anyhow::Result<packyard_blob::S3Options> {
        let s3 = &self.storage.s3;
        let secret_access_key = match &s3.secret_access_key_file {
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| {
                        format!(
                            "reading storage.s3.secret_access_key_file {}",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => s3.secret_access_key.clone(),
        };
        Ok(packyard_blob::S3Options {
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key,
            path_style: s3.path_style,
            allow_http: s3.allow_http,
        })
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
                addresses: AddressPolicy {
                    allow_local_network: upstream.allow_local_network,
                    allowlist: self.upstream_allowlist().unwrap_or_default(),
                },
                proxy: self.upstream_proxies(env_var).unwrap_or_default(),
                ca_certificates: upstream.ca_certificates.clone(),
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
            jobs: self.job_settings(),
            verify_upstream_checksums: upstream.verify_checksums,
            trusted_proxies: self.trusted_proxies().unwrap_or_default(),
            metrics: packyard_core::MetricsAccess {
                enabled: self.metrics.enabled,
                token: self.metrics.token.clone(),
            },
        }
    }

    /// The limits every connection gets.
    pub fn connection_limits(&self) -> packyard_http::ConnectionLimits {
        packyard_http::ConnectionLimits {
            body_idle_timeout: Duration::from_secs(self.server.body_idle_timeout_secs),
            max_body_size: self.core_settings().max_request_body(),
        }
    }

    /// The job system's settings.
    pub fn job_settings(&self) -> JobSettings {
        let jobs = &self.jobs;
        JobSettings {
            concurrency: jobs.concurrency,
            poll_interval: Duration::from_millis(jobs.poll_interval_ms),
            lease: Duration::from_secs(jobs.lease_secs),
            max_attempts: jobs.max_attempts,
            retry_base: Duration::from_secs(jobs.retry_base_secs),
            retry_max: Duration::from_secs(jobs.retry_max_secs),
            blob_grace: Duration::from_secs(jobs.blob_grace_secs),
            scheduler_interval: Duration::from_secs(jobs.scheduler_interval_secs),
            maintenance_interval: Duration::from_secs(jobs.maintenance_interval_secs),
            keep_finished: Duration::from_secs(jobs.keep_finished_days.saturating_mul(24 * 3600)),
        }
    }
}

/// A variable of this process's environment.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("packyard.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::load(Some(&path))
    }

    #[test]
    fn the_proxy_setting_wins_over_the_environment() {
        let env = |name: &str| {
            let value = match name {
                "HTTPS_PROXY" => "http://env-secure:3128",
                "http_proxy" => "http://env-plain:3128",
                "NO_PROXY" => "internal.example, 10.0.0.0/8",
                "HTTP_PROXY" => " ",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let from_env = Settings::default().upstream_proxies(env).unwrap();
        let host =
            |url: &Option<url::Url>| url.as_ref().and_then(|u| u.host_str().map(str::to_owned));
        assert_eq!(host(&from_env.https).as_deref(), Some("env-secure"));
        assert_eq!(
            host(&from_env.http).as_deref(),
            Some("env-plain"),
            "a blank HTTP_PROXY counts as unset"
        );
        assert_eq!(
            from_env.no_proxy.as_deref(),
            Some("internal.example, 10.0.0.0/8")
        );

        let mut settings = Settings::default();
        settings.upstream.proxy = Some(ProxyUrl("http://u:s3cret@proxy.corp:3128".into()));
        settings.upstream.no_proxy = Some(vec!["nexus.corp".into(), "10.1.0.0/16".into()]);
        let configured = settings.upstream_proxies(env).unwrap();
        assert_eq!(host(&configured.http).as_deref(), Some("proxy.corp"));
        assert_eq!(host(&configured.https).as_deref(), Some("proxy.corp"));
        assert_eq!(
            configured.no_proxy.as_deref(),
            Some("nexus.corp,10.1.0.0/16")
        );
        let shown = format!("{configured:?} {:?}", settings.upstream);
        assert!(!shown.contains("s3cret"), "{shown}");

        let none = Settings::default().upstream_proxies(|_| None).unwrap();
        assert!(none.http.is_none() && none.https.is_none() && none.no_proxy.is_none());
        let bad = Settings::default()
            .upstream_proxies(|name| (name == "HTTPS_PROXY").then(|| "socks5://x:1".to_owned()));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "invalid setting (environment) HTTPS_PROXY: socks5://x:1 is not an http:// or https:// URL \
             with a host"
        );
    }

    #[test]
    fn outbound_settings_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not-pem.crt");
        std::fs::write(&not_pem, "just text").unwrap();
        let missing = dir.path().join("missing.pem");
        for (toml, message) in [
            (
                "[upstream]\nallowlist = [\"10.0.0.0/8\", \"bad host!\"]\n".to_owned(),
                "invalid setting upstream.allowlist: \"bad host!\" is neither a host name, \
                 *.domain, an IP address nor a CIDR range"
                    .to_owned(),
            ),
            (
                "[upstream]\nproxy = \"proxy:3128\"\n".to_owned(),
                "invalid setting upstream.proxy: proxy:3128 is not an http:// or https:// URL with a \
                 host"
                    .to_owned(),
            ),
            (
                format!("[upstream]\nca_certificates = [{:?}]\n", missing),
                format!(
                    "invalid setting upstream.ca_certificates: {}: No such file or directory (os \
                     error 2)",
                    missing.display()
                ),
            ),
            (
                format!("[upstream]\nca_certificates = [{:?}]\n", not_pem),
                format!(
                    "invalid setting upstream.ca_certificates: {}: holds no PEM certificate",
                    not_pem.display()
                ),
            ),
        ] {
            assert_eq!(load(&toml).unwrap_err().to_string(), message, "{toml}");
        }
    }

    #[test]
    fn s3_settings_read_the_secret_from_a_file_and_never_show_it() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s3-secret");
        std::fs::write(&secret, "  very-secret-key\n").unwrap();
        let settings = load(&format!(
            "[secrets]\nkey = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n\
             [storage]\nurl = \"s3://blobs/prod\"\n[storage.s3]\nendpoint = \"https://s3.example.internal\"\n\
             access_key_id = \"GK1\"\nsecret_access_key = \"inline-secret\"\n\
             secret_access_key_file = {secret:?}\npath_style = true\n"
        ))
        .unwrap();
        let options = settings.s3_options().unwrap();
        assert_eq!(
            options.secret_access_key.as_deref(),
            Some("very-secret-key")
        );
        assert_eq!(
            options.endpoint.as_deref(),
            Some("https://s3.example.internal")
        );
        assert!(options.path_style && !options.allow_http);
        for shown in [format!("{settings:?}"), format!("{options:?}")] {
            assert!(
                !shown.contains("secret-key")
                    && !shown.contains("inline-secret")
                    && !shown.contains("AAAAAAAA"),
                "{shown}"
            );
            assert!(shown.contains("[redacted]"), "{shown}");
        }

        for (toml, message) in [
            (
                "[storage]\nurl = \"s3://\"\n",
                "invalid setting storage.url = \"s3://\": use file:///PATH, s3://BUCKET[/PREFIX] or memory://",
            ),
            (
                "[storage]\nurl = \"s3://b\"\n[storage.s3]\nendpoint = \"http://10.0.0.5:3900\"\n",
                "invalid setting storage.s3.endpoint = \"http://10.0.0.5:3900\": an http:// endpoint needs \
                 storage.s3.allow_http = true",
            ),
        ] {
            assert_eq!(load(toml).unwrap_err().to_string(), message, "{toml}");
        }
    }

    #[test]
    fn jobs_settings_have_defaults_and_are_validated() {
        let defaults = Settings::default().job_settings();
        assert_eq!(defaults.blob_grace, Duration::from_secs(900));
        assert_eq!(defaults.keep_finished, Duration::from_secs(7 * 24 * 3600));
        assert!(Settings::default().jobs.worker);

        let settings =
            load("[jobs]\nworker = false\nblob_grace_secs = 60\npoll_interval_ms = 250\n").unwrap();
        assert!(!settings.jobs.worker);
        let jobs = settings.core_settings().jobs;
        assert_eq!(jobs.blob_grace, Duration::from_secs(60));
        assert_eq!(jobs.poll_interval, Duration::from_millis(250));
        assert_eq!(jobs.max_attempts, 5);

        for (toml, message) in [
            (
                "[jobs]\nconcurrency = 0\n",
                "invalid setting jobs.concurrency: must be at least 1",
            ),
            (
                "[jobs]\nretry_base_secs = 100\nretry_max_secs = 10\n",
                "invalid setting jobs.retry_max_secs: must be at least jobs.retry_base_secs",
            ),
            (
                "[jobs]\nlease_secs = 2\n",
                "invalid setting jobs.lease_secs: must be at least 3 seconds",
            ),
        ] {
            assert_eq!(load(toml).unwrap_err().to_string(), message, "{toml}");
        }
        assert!(
            load("[jobs]\nworkers = 3\n").is_err(),
            "unknown keys are refused"
        );
    }
}
