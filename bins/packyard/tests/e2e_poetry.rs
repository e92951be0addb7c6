//! End to end: the real binary with poetry. `poetry build` makes a project's wheel and sdist and
//! `poetry publish -r packyard` sends them to a group's PyPI repository, with the repository and a
//! developer's token set by `poetry config`; a second project names packyard as its primary source with
//! a deploy token in `POETRY_HTTP_BASIC_*` variables (as CI passes them), `poetry lock` resolves from
//! the index's core metadata without downloading a distribution, and `poetry install` installs the
//! locked wheel, whose hash the lock file records, byte for byte. poetry comes from
//! `scripts/install-test-deps.sh`; its only index is packyard, its cache and configuration are fresh.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use common::clients::{
    as_listed, file_digests, find_installed, installed_client, isolated, listed_version, succeed,
};
use common::{HostedGroup, start_with_hosted_group};

/// poetry with its own configuration and cache folders, no keyring and no prompts.
fn poetry(poetry: &Path, home: &Path) -> Command {
    let mut command = isolated(poetry, home);
    command
        .env("POETRY_CONFIG_DIR", home.join("poetry-config"))
        .env("POETRY_CACHE_DIR", home.join("poetry-cache"))
        .env("POETRY_DATA_DIR", home.join("poetry-data"))
        .env("POETRY_NO_INTERACTION", "1")
        .env("POETRY_VIRTUALENVS_IN_PROJECT", "true")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poetry_publishes_locks_and_installs_through_packyard() {
    let poetry_bin = installed_client(
        "PACKYARD_TEST_POETRY",
        "/opt/packyard-test-poetry/bin/poetry",
    );
    let work = tempfile::tempdir().unwrap();
    let publisher_home = work.path().join("publisher-home");
    let consumer_home = work.path().join("consumer-home");

    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("poetry", &["write_package_registry"]), "poetry-ci").await;
    let repository = format!("{}/company/acme/package/-/pypi", server.base);

    // A poetry project, built by poetry itself (poetry-core builds in process, offline).
    let gadget = work.path().join("gadget");
    std::fs::create_dir_all(gadget.join("packyard_gadget")).unwrap();
    std::fs::write(
        gadget.join("pyproject.toml"),
        "[project]\nname = \"packyard-gadget\"\nversion = \"0.3.0\"\n\
         description = \"Published with poetry\"\nrequires-python = \">=3.8\"\n\n\
         [build-system]\nrequires = [\"poetry-core>=2.0\"]\n\
         build-backend = \"poetry.core.masonry.api\"\n",
    )
    .unwrap();
    let module_source = "VALUE = \"gadget published by poetry\"\n";
    std::fs::write(gadget.join("packyard_gadget/__init__.py"), module_source).unwrap();
    let publisher = || {
        let mut command = poetry(&poetry_bin, &publisher_home);
        command.current_dir(&gadget);
        command
    };
    succeed("poetry build", publisher().arg("build").output().unwrap());
    let wheel = gadget.join("dist/packyard_gadget-0.3.0-py3-none-any.whl");
    let sdist = gadget.join("dist/packyard_gadget-0.3.0.tar.gz");

    // poetry config, then poetry publish -r.
    succeed(
        "poetry config repositories",
        publisher()
            .args(["config", "repositories.packyard", &repository])
            .output()
            .unwrap(),
    );
    succeed(
        "poetry config http-basic",
        publisher()
            .args(["config", "http-basic.packyard", "dev", &developer_token])
            .output()
            .unwrap(),
    );
    succeed(
        "poetry publish -r packyard",
        publisher()
            .args(["publish", "-r", "packyard"])
            .output()
            .unwrap(),
    );
    let listed = || {
        listed_version(
            &client,
            &server.base,
            &admin,
            ("pypi", "packyard-gadget", "0.3.0"),
        )
    };
    let published = listed().await;
    let mut files = published.files.clone();
    files.sort();
    let mut expected = vec![as_listed(&wheel), as_listed(&sdist)];
    expected.sort();
    assert_eq!(files, expected, "what poetry published");

    // A project whose primary source is packyard, with the deploy token in the environment.
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
             dependencies = [\"packyard-gadget (>=0.3)\"]\n\n\
             [tool.poetry]\npackage-mode = false\n\n\
             [[tool.poetry.source]]\nname = \"packyard\"\nurl = \"{repository}/simple/\"\n\
             priority = \"primary\"\n"
        ),
    )
    .unwrap();
    let consumer = || {
        let mut command = poetry(&poetry_bin, &consumer_home);
        command
            .current_dir(&app)
            .env("POETRY_HTTP_BASIC_PACKYARD_USERNAME", &deploy_user)
            .env("POETRY_HTTP_BASIC_PACKYARD_PASSWORD", &deploy_token);
        command
    };
    succeed("poetry lock", consumer().arg("lock").output().unwrap());
    assert_eq!(
        listed().await.downloads,
        0,
        "poetry lock reads the core metadata, not the distributions"
    );
    let lock = std::fs::read_to_string(app.join("poetry.lock")).unwrap();
    for (file, sha256) in [
        (
            "packyard_gadget-0.3.0-py3-none-any.whl",
            file_digests(&wheel).sha256,
        ),
        ("packyard_gadget-0.3.0.tar.gz", file_digests(&sdist).sha256),
    ] {
        assert!(
            lock.contains(&format!(
                "{{file = \"{file}\", hash = \"sha256:{sha256}\"}}"
            )),
            "{file} with its sha256 in poetry.lock:\n{lock}"
        );
    }

    succeed(
        "poetry install",
        consumer().arg("install").output().unwrap(),
    );
    let installed = find_installed(
        &app.join(".venv"),
        "site-packages/packyard_gadget/__init__.py",
    );
    assert_eq!(std::fs::read_to_string(installed).unwrap(), module_source);
    assert_eq!(listed().await.downloads, 1, "the wheel, once");
}
