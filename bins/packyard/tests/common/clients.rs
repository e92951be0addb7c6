//! Shared by the end-to-end tests of the npm and PyPI clients beyond npm and pip (pnpm, yarn, uv,
//! poetry, pdm): where the installed clients are, running them, what a published file's digests are,
//! the GitFlic listing's view of a package, and small distributions built on the spot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A client installed by `scripts/install-test-deps.sh`: `$env_var` when set, else `default`. Missing
/// is a failure, never a skip.
pub fn installed_client(env_var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(env_var).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-test-deps.sh (or set {env_var})",
        path.display()
    );
    path
}

/// A command with an empty environment but `PATH` and this `HOME`: nothing from the machine's user
/// configuration reaches the client.
pub fn isolated(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("LANG", "C.UTF-8");
    command
}

/// npm with an environment of its own: this user config, this cache, no global config, no network
/// extras (audit, fund, update notifier).
pub fn npm(home: &Path, userconfig: &Path, cache: &Path) -> Command {
    let mut command = Command::new("npm");
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("npm_config_userconfig", userconfig)
        .env("npm_config_globalconfig", home.join("no-global-npmrc"))
        .env("npm_config_cache", cache)
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fetch_retries", "0")
        .env("npm_config_loglevel", "warn");
    command
}

/// Asserts that a client succeeded; its stdout.
pub fn succeed(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// md5, sha1, sha256, sha512 and size of a file.
pub fn file_digests(path: &Path) -> packyard_domain::FileDigests {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(&std::fs::read(path).unwrap());
    hashers.finish()
}

/// A GET of the management API as the administrator, expecting 200.
pub async fn admin_get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client
        .get(&url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// One version of a package as GitFlic's listing shows it: its download count and its files as
/// `(name, size, sha256)`.
#[derive(Debug, PartialEq, Eq)]
pub struct ListedVersion {
    /// The number of downloads counted.
    pub downloads: u64,
    /// `(name, size, sha256)` of each file, oldest first.
    pub files: Vec<(String, u64, String)>,
}

/// The listing's view of `version` of the package named `name` of type `package_type`.
pub async fn listed_version(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    (package_type, name, version): (&str, &str, &str),
) -> ListedVersion {
    let packages = admin_get(
        client,
        format!("{base}/registry/package?type={package_type}"),
        admin,
    )
    .await;
    let package = packages["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {packages}"))
        .clone();
    let versions = admin_get(
        client,
        format!(
            "{base}/registry/package/{}/version-list",
            package["id"].as_str().unwrap()
        ),
        admin,
    )
    .await;
    let listed = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .unwrap_or_else(|| panic!("{name} {version} is not listed: {versions}"))
        .clone();
    ListedVersion {
        downloads: listed["downloadCount"].as_u64().unwrap(),
        files: listed["packageFiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_owned(),
                    f["size"].as_u64().unwrap(),
                    f["hashSHA256"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

/// `(name, size, sha256)` of a local file, as [`ListedVersion::files`] lists it.
pub fn as_listed(path: &Path) -> (String, u64, String) {
    let digests = file_digests(path);
    (
        path.file_name().unwrap().to_str().unwrap().to_owned(),
        u64::try_from(digests.size).unwrap(),
        digests.sha256,
    )
}

/// A pure-Python project's sources: `module/__init__.py` holding `VALUE = "<value>"`.
pub struct PythonProject<'a> {
    /// The project name (`packyard-widget`).
    pub name: &'a str,
    /// Its version.
    pub version: &'a str,
    /// `Requires-Dist` lines.
    pub requires: &'a [&'a str],
    /// The import name (`packyard_widget`).
    pub module: &'a str,
    /// The string its module exports as `VALUE`.
    pub value: &'a str,
}

impl PythonProject<'_> {
    /// The module's source, as the wheel carries it and an installer must lay it down.
    pub fn module_source(&self) -> String {
        format!("VALUE = {:?}\n", self.value)
    }

    /// Builds its wheel into `out` with the standard library's zipfile (no build tool, no network):
    /// the wheel's path.
    pub fn build_wheel(&self, out: &Path) -> PathBuf {
        std::fs::create_dir_all(out).unwrap();
        let dist = self.name.replace('-', "_");
        let mut metadata = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: Built by packyard's tests\n\
             Requires-Python: >=3.8\n",
            self.name, self.version
        );
        for requirement in self.requires {
            metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
        }
        let wheel = out.join(format!("{dist}-{}-py3-none-any.whl", self.version));
        let script = r#"
import base64, hashlib, sys, zipfile
wheel, info, module, source, metadata = sys.argv[1:]
files = {f"{module}/__init__.py": source.encode(), f"{info}/METADATA": metadata.encode(),
         f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: packyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
def line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"
record = [line(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
    for path, data in files.items():
        entry = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        out.writestr(entry, data, zipfile.ZIP_DEFLATED)
"#;
        succeed(
            "building a wheel",
            Command::new("python3")
                .args(["-c", script])
                .arg(&wheel)
                .arg(format!("{dist}-{}.dist-info", self.version))
                .arg(self.module)
                .arg(self.module_source())
                .arg(metadata)
                .output()
                .unwrap(),
        );
        wheel
    }
}

/// Copies a folder tree.
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

/// The one file under `root` (searched recursively) whose path ends with `suffix`.
pub fn find_installed(root: &Path, suffix: &str) -> PathBuf {
    fn walk(dir: &Path, suffix: &str, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, suffix, found);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, suffix, &mut found);
    assert_eq!(
        found.len(),
        1,
        "one installed {suffix} under {}: {found:?}",
        root.display()
    );
    found.remove(0)
}
