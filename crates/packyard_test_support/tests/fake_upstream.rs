//! The fake upstream's directory serving.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use packyard_test_support::FakeUpstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_of_a_served_file_answers_without_reading_it() {
    let root = tempfile::tempdir().unwrap();
    // Sparse: costs no disk, but reading it whole would take seconds and gigabytes.
    let size = 8u64 << 30;
    std::fs::File::create(root.path().join("big.jar"))
        .unwrap()
        .set_len(size)
        .unwrap();
    let fake = FakeUpstream::serve_directory(root.path()).await;
    let head = tokio::time::timeout(
        Duration::from_secs(2),
        reqwest::Client::new()
            .head(format!("{}/big.jar", fake.url))
            .send(),
    )
    .await
    .expect("the HEAD took as long as reading the file")
    .unwrap();
    assert_eq!(head.status(), 200);
}
