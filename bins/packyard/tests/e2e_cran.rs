//! End to end: the real binary with the real R. `R CMD build` makes a source package (a DESCRIPTION, a
//! NAMESPACE and one R file), curl uploads it to a group's CRAN repository as GitFlic documents it
//! (`curl --upload-file … /cran/src/<file>`), and `install.packages(…, type = "source")` installs it from
//! the repository with a group deploy token in the URL; `library()` loads it and its function answers.
//! A second version moves the first to `src/contrib/Archive/`, and R then installs the second. GitFlic's
//! service-level listing shows the versions, files and digests. Last, curl uploads a Windows binary and
//! R's `available.packages` reads it from the `bin/windows/contrib/4.2` tree. R comes from
//! `scripts/install-test-deps.sh` (Debian's `r-base-core`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{HostedGroup, start_with_hosted_group};
use serde_json::Value;

fn succeed(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// R with an environment of its own: no user profile or site library, no mirror.
fn r_tool(program: &str, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("HOME", home)
        .env("R_PROFILE_USER", "/dev/null")
        .env("R_ENVIRON_USER", "/dev/null")
        .env("R_LIBS_USER", home.join("no-library"))
        .env("LANG", "C.UTF-8");
    command
}

/// `R CMD build` of a package `packyardhello` whose `hello()` answers `greeting`.
fn build_package(work: &Path, home: &Path, version: &str, greeting: &str) -> PathBuf {
    let build = work.join(format!("build-{version}"));
    let source = build.join("packyardhello");
    std::fs::create_dir_all(source.join("R")).unwrap();
    std::fs::write(
        source.join("DESCRIPTION"),
        format!(
            "Package: packyardhello\nType: Package\nTitle: Says Hello from Packyard\n\
             Version: {version}\nAuthors@R: person(\"Packyard\", \"Tests\", email = \"tests@example.com\",\n    \
             role = c(\"aut\", \"cre\"))\nDescription: A tiny package the end-to-end test builds.\n\
             Depends: R (>= 3.5.0)\nImports: utils\nLicense: MIT + file LICENSE\nEncoding: UTF-8\n"
        ),
    )
    .unwrap();
    std::fs::write(
        source.join("LICENSE"),
        "YEAR: 2026\nCOPYRIGHT HOLDER: Packyard\n",
    )
    .unwrap();
    std::fs::write(source.join("NAMESPACE"), "export(hello)\n").unwrap();
    std::fs::write(
        source.join("R/hello.R"),
        format!("hello <- function() \"{greeting}\"\n"),
    )
    .unwrap();
    succeed(
        "R CMD build",
        r_tool("R", home)
            .current_dir(&build)
            .args([
                "CMD",
                "build",
                "--no-build-vignettes",
                "--no-manual",
                "packyardhello",
            ])
            .output()
            .unwrap(),
    );
    let tarball = build.join(format!("packyardhello_{version}.tar.gz"));
    assert!(tarball.is_file(), "{} is missing", tarball.display());
    tarball
}

fn curl_upload(tarball: &Path, url: &str, user: &str, token: &str) -> Value {
    let file_name = tarball.file_name().unwrap().to_str().unwrap();
    let body = succeed(
        "curl --upload-file",
        Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-u",
                &format!("{user}:{token}"),
                "--upload-file",
            ])
            .arg(tarball)
            .arg(format!("{url}/src/{file_name}"))
            .output()
            .unwrap(),
    );
    serde_json::from_str(&body).unwrap()
}

/// `install.packages` from the repository into `library`, then loads the package and calls `hello()`.
fn install_and_call(home: &Path, repos: &str, library: &Path) -> String {
    std::fs::create_dir_all(library).unwrap();
    let script = format!(
        "options(warn = 2); \
         install.packages(\"packyardhello\", repos = \"{repos}\", lib = \"{lib}\", type = \"source\", \
         quiet = TRUE); \
         library(packyardhello, lib.loc = \"{lib}\"); \
         cat(\"VERSION\", as.character(packageVersion(\"packyardhello\", lib.loc = \"{lib}\")), \"\\n\"); \
         cat(\"HELLO\", hello(), \"\\n\")",
        lib = library.display()
    );
    succeed(
        "install.packages",
        r_tool("Rscript", home)
            .args(["-e", &script])
            .output()
            .unwrap(),
    )
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
async fn r_installs_source_packages_uploaded_with_curl() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let first = build_package(work.path(), &home, "0.9.0", "hello from 0.9.0");
    let second = build_package(work.path(), &home, "0.10.0", "hello from 0.10.0");

    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("curl", &["write_package_registry"]), "r").await;
    let repository = format!("{}/company/acme/package/-/cran", server.base);
    let repos = format!(
        "http://{deploy_user}:{deploy_token}@{}/company/acme/package/-/cran",
        server.base.trim_start_matches("http://")
    );

    let uploaded = curl_upload(&first, &repository, "dev", &developer_token);
    assert_eq!(uploaded["hashSHA256"], digests(&first).sha256);
    assert_eq!(uploaded["packageUploadType"], "TRANSPORT");
    let installed = install_and_call(&home, &repos, &work.path().join("lib-1"));
    assert!(installed.contains("VERSION 0.9.0"), "{installed}");
    assert!(installed.contains("HELLO hello from 0.9.0"), "{installed}");

    // The second version becomes current; the first moves to the archive.
    curl_upload(&second, &repository, "dev", &developer_token);
    let installed = install_and_call(&home, &repos, &work.path().join("lib-2"));
    assert!(installed.contains("VERSION 0.10.0"), "{installed}");
    assert!(installed.contains("HELLO hello from 0.10.0"), "{installed}");
    let get = |path: &str| {
        client
            .get(format!("{repository}/{path}"))
            .basic_auth(&deploy_user, Some(&deploy_token))
            .send()
    };
    let archived = get("src/contrib/Archive/packyardhello/packyardhello_0.9.0.tar.gz")
        .await
        .unwrap();
    assert_eq!(archived.status(), 200);
    assert_eq!(
        archived.bytes().await.unwrap(),
        std::fs::read(&first).unwrap()
    );
    let moved = get("src/contrib/packyardhello_0.9.0.tar.gz").await.unwrap();
    assert_eq!(moved.status(), 404);

    // GitFlic's listing: one package, both versions, their files and digests.
    let list = admin_get(
        &client,
        format!("{}/registry/package?type=cran", server.base),
        &admin,
    )
    .await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0]["name"], "packyardhello");
    assert_eq!(packages[0]["type"], "cran");
    assert_eq!(packages[0]["version"], "0.10.0");
    assert_eq!(packages[0]["ownerType"], "COMPANY");
    let versions = admin_get(
        &client,
        format!(
            "{}/registry/package/{}/version-list",
            server.base,
            packages[0]["id"].as_str().unwrap()
        ),
        &admin,
    )
    .await;
    let versions = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap();
    assert_eq!(versions.len(), 2);
    for ((version, tarball), listed) in [("0.9.0", &first), ("0.10.0", &second)]
        .into_iter()
        .zip(versions)
    {
        assert_eq!(listed["version"], version);
        assert_eq!(listed["languageVersion"], Value::Null);
        assert_eq!(listed["packageUploadType"], "TRANSPORT");
        // Installed once by R; the first also fetched once from the archive above.
        let expected_downloads = if version == "0.9.0" { 2 } else { 1 };
        assert_eq!(listed["downloadCount"], expected_downloads, "{version}");
        let files = listed["packageFiles"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        let expected = digests(tarball);
        assert_eq!(files[0]["name"], format!("packyardhello_{version}.tar.gz"));
        assert_eq!(files[0]["hashMd5"], expected.md5);
        assert_eq!(files[0]["hashSHA1"], expected.sha1);
        assert_eq!(files[0]["hashSHA256"], expected.sha256);
    }

    // A Windows binary goes into its own tree, and R reads that tree's index.
    let zip = work.path().join("packyardhello_0.10.0.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    writer
        .start_file(
            "packyardhello/DESCRIPTION",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    std::io::Write::write_all(
        &mut writer,
        b"Package: packyardhello\nVersion: 0.10.0\nDepends: R (>= 3.5.0)\nLicense: MIT\n\
          NeedsCompilation: no\nBuilt: R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows\n",
    )
    .unwrap();
    writer.finish().unwrap();
    let uploaded = succeed(
        "curl --upload-file of a binary",
        Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-u",
                &format!("dev:{developer_token}"),
                "--upload-file",
            ])
            .arg(&zip)
            .arg(format!(
                "{repository}/bin/windows/contrib/4.2/packyardhello_0.10.0.zip"
            ))
            .output()
            .unwrap(),
    );
    assert!(uploaded.contains("\"hashSHA256\""), "{uploaded}");
    let available = succeed(
        "available.packages of the Windows tree",
        r_tool("Rscript", &home)
            .args([
                "-e",
                &format!(
                    "options(warn = 2); \
                     a <- available.packages(contriburl = contrib.url(\"{repos}\", \"win.binary\"), \
                     filters = list()); \
                     cat(\"BINARY\", a[\"packyardhello\", \"Version\"], a[\"packyardhello\", \"MD5sum\"], \"\\n\")"
                ),
            ])
            .output()
            .unwrap(),
    );
    assert!(
        available.contains(&format!("BINARY 0.10.0 {}", digests(&zip).md5)),
        "{available}"
    );
    drop(server);
}
