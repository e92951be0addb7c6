//! End to end: the real binary with the real NuGet.exe 5.8 under mono. `nuget push` publishes two
//! versions of a package built here to a group's NuGet v3 repository with the API key (a developer's
//! token); `nuget install` then installs each of them from the service index with Basic credentials from
//! the config's `packageSourceCredentials` (a group deploy token); `nuget search` finds the package; `nuget delete` unlists a version; a
//! push of the same package again succeeds and of other bytes for a version answers 409, which
//! `-SkipDuplicate` accepts; GitFlic's service-level listing
//! shows the versions, files, digests and downloads. mono and NuGet.exe come from
//! `scripts/install-test-deps.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{HostedGroup, start_with_hosted_group};
use serde_json::Value;

const ID: &str = "Packyard.Demo";

fn nuget_exe() -> PathBuf {
    let exe = PathBuf::from(
        std::env::var("PACKYARD_NUGET_EXE")
            .unwrap_or_else(|_| "/opt/packyard-nuget/nuget.exe".into()),
    );
    assert!(
        exe.is_file(),
        "{} is missing: run scripts/install-test-deps.sh",
        exe.display()
    );
    exe
}

/// NuGet.exe under mono, with a home, caches and config of its own: nothing reaches nuget.org. The
/// config is passed with `-ConfigFile` where the command takes it, and is also the user config in the
/// private home (`search` has no `-ConfigFile` in 5.8).
fn nuget(exe: &Path, home: &Path, config: &Path, args: &[&str]) -> Output {
    let user_config = home.join(".config/NuGet/NuGet.Config");
    if !user_config.exists() {
        std::fs::create_dir_all(user_config.parent().unwrap()).unwrap();
        std::fs::copy(config, &user_config).unwrap();
    }
    let mut command = Command::new("mono");
    command.arg(exe).args(args);
    if args.first() != Some(&"search") {
        command.arg("-ConfigFile").arg(config);
    }
    command
        .arg("-NonInteractive")
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("NUGET_PACKAGES", home.join("packages"))
        .env("NUGET_HTTP_CACHE_PATH", home.join("http-cache"))
        .env("NUGET_PLUGINS_CACHE_PATH", home.join("plugins-cache"))
        .env("MONO_REGISTRY_PATH", home.join("registry"))
        .output()
        .expect("mono must be installed: run scripts/install-test-deps.sh")
}

fn succeed(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A minimal package: the nuspec, the OPC parts NuGet writes, and one library file.
fn build_nupkg(dir: &Path, version: &str, marker: &str) -> PathBuf {
    let path = dir.join(format!("{ID}.{version}.nupkg"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(format!("{ID}.nuspec"), options).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{ID}</id>
    <version>{version}</version>
    <authors>packyard</authors>
    <description>A demo package published through packyard.</description>
    <tags>demo packyard</tags>
    <dependencies><group targetFramework=".NETStandard2.0" /></dependencies>
  </metadata>
</package>"#
    )
    .unwrap();
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" /><Default Extension="nuspec" ContentType="application/octet" /><Default Extension="txt" ContentType="application/octet" /></Types>"#,
    )
    .unwrap();
    zip.start_file("_rels/.rels", options).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/{ID}.nuspec" Id="R1" /></Relationships>"#
    )
    .unwrap();
    zip.start_file("lib/netstandard2.0/readme.txt", options)
        .unwrap();
    zip.write_all(marker.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

fn digests(path: &Path) -> packyard_domain::FileDigests {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(&std::fs::read(path).unwrap());
    hashers.finish()
}

async fn admin_get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client
        .get(&url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nuget_pushes_and_installs_through_packyard() {
    let exe = nuget_exe();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let first = build_nupkg(work.path(), "1.0.0", "first version");
    let second = build_nupkg(work.path(), "1.1.0", "second version");

    // The server, a group with a developer who pushes and a deploy token that installs.
    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("nuget", &["write_package_registry"]), "nuget").await;
    let source = format!("{}/company/acme/package/-/nuget/index.json", server.base);

    // A config with this one source and its credentials (other sources cleared).
    let config = work.path().join("NuGet.Config");
    std::fs::write(
        &config,
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="packyard" value="{source}" />
  </packageSources>
  <packageSourceCredentials>
    <packyard>
      <add key="Username" value="{deploy_user}" />
      <add key="ClearTextPassword" value="{deploy_token}" />
    </packyard>
  </packageSourceCredentials>
</configuration>
"#
        ),
    )
    .unwrap();

    // Push both versions with the API key.
    for package in [&first, &second] {
        let package = package.to_str().unwrap();
        succeed(
            &format!("nuget push {package}"),
            nuget(
                &exe,
                &home,
                &config,
                &[
                    "push",
                    package,
                    "-Source",
                    &source,
                    "-ApiKey",
                    &developer_token,
                ],
            ),
        );
    }
    // The same package again is an idempotent success (a retried CI job); other bytes for an existing
    // version are a conflict (409), which -SkipDuplicate accepts.
    succeed(
        "a second nuget push of the same package",
        nuget(
            &exe,
            &home,
            &config,
            &[
                "push",
                first.to_str().unwrap(),
                "-Source",
                &source,
                "-ApiKey",
                &developer_token,
            ],
        ),
    );
    let other_dir = work.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = build_nupkg(&other_dir, "1.0.0", "other bytes");
    let push_other = |extra: &[&str]| {
        let mut args = vec!["push", other.to_str().unwrap(), "-Source", &source];
        args.extend(["-ApiKey", &developer_token]);
        args.extend(extra);
        nuget(&exe, &home, &config, &args)
    };
    let conflict = push_other(&[]);
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&conflict.stdout),
        String::from_utf8_lossy(&conflict.stderr)
    );
    assert!(
        !conflict.status.success(),
        "other bytes for 1.0.0 must be refused:\n{said}"
    );
    assert!(said.contains("409"), "{said}");
    succeed("nuget push -SkipDuplicate", push_other(&["-SkipDuplicate"]));

    // Install a pinned version, then the latest, each into a fresh folder.
    for (version, pinned, marker) in [
        ("1.0.0", true, "first version"),
        ("1.1.0", false, "second version"),
    ] {
        let out = work.path().join(format!("out-{version}"));
        let mut args = vec!["install", ID];
        if pinned {
            args.extend(["-Version", version]);
        }
        args.extend([
            "-Source",
            &source,
            "-OutputDirectory",
            out.to_str().unwrap(),
        ]);
        succeed(
            &format!("nuget install {version}"),
            nuget(&exe, &home, &config, &args),
        );
        let installed = out.join(format!("{ID}.{version}"));
        assert_eq!(
            std::fs::read_to_string(installed.join("lib/netstandard2.0/readme.txt")).unwrap(),
            marker
        );
        assert!(installed.join(format!("{ID}.{version}.nupkg")).is_file());
    }

    // Search finds the package with its latest version.
    let found = succeed(
        "nuget search",
        nuget(
            &exe,
            &home,
            &config,
            &["search", "demo", "-Source", &source],
        ),
    );
    assert!(found.contains(ID) && found.contains("1.1.0"), "{found}");

    // `nuget delete` unlists: the version stays installable, and its registration leaf says so.
    succeed(
        "nuget delete",
        nuget(
            &exe,
            &home,
            &config,
            &[
                "delete",
                ID,
                "1.0.0",
                "-Source",
                &source,
                "-ApiKey",
                &developer_token,
            ],
        ),
    );
    let registration: Value = client
        .get(format!(
            "{}/company/acme/package/-/nuget/registration/packyard.demo/index.json",
            server.base
        ))
        .basic_auth(&deploy_user, Some(&deploy_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leaves = registration["items"][0]["items"].as_array().unwrap();
    assert_eq!(leaves[0]["catalogEntry"]["version"], "1.0.0");
    assert_eq!(leaves[0]["catalogEntry"]["listed"], false);
    assert_eq!(leaves[1]["catalogEntry"]["listed"], true);

    // The service-level listing shows what the client did.
    let packages = admin_get(
        &client,
        format!("{}/registry/package?type=nuget", server.base),
        &admin,
    )
    .await;
    assert_eq!(packages["page"]["totalElements"], 1);
    let package = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], ID);
    assert_eq!(package["version"], "1.1.0");
    assert_eq!(package["ownerType"], "COMPANY");
    let versions = admin_get(
        &client,
        format!(
            "{}/registry/package/{}/version-list",
            server.base,
            package["id"].as_str().unwrap()
        ),
        &admin,
    )
    .await;
    assert_eq!(versions["page"]["totalElements"], 2);
    let listed = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap();
    for (version, path) in listed.iter().zip([&first, &second]) {
        assert_eq!(version["packageUploadType"], "TRANSPORT");
        assert_eq!(version["downloadCount"], 1, "{version}");
        assert!(version["languageVersion"].is_null(), "{version}");
        let files = version["packageFiles"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        let expected = digests(path);
        assert_eq!(
            files[0]["name"],
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
        );
        assert_eq!(files[0]["size"], expected.size);
        assert_eq!(files[0]["hashSHA256"], expected.sha256);
        assert_eq!(files[0]["hashSHA1"], expected.sha1);
        assert_eq!(files[0]["hashMd5"], expected.md5);
    }
}
