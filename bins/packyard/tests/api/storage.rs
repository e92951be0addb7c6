//! Blob storage as every store behaves: what a crash leaves behind is collected, and nothing of a write in
//! progress, on local disk and on S3.

use std::time::Duration;

use crate::{Backend, TestApp, every_store};

/// Another instance's view of the app's storage (another process sharing the disk or the bucket).
fn same_store_elsewhere(app: &TestApp) -> packyard_blob::BlobStore {
    match &app.s3 {
        Some(s3) => s3.store(),
        None => packyard_blob::BlobStore::from_url(&app.settings.storage_url()).unwrap(),
    }
}

async fn crash_leftovers_are_collected_but_not_live_writes(backend: Backend) {
    // No job workers: on SQLite they collect every leftover at start, which would race this test's own
    // leftover; the test calls the collection itself.
    let Some(app) = TestApp::start_with(backend, |settings| settings.jobs.worker = false).await
    else {
        return;
    };
    let blobs = app.core.blobs();
    // A process that died between a write's end and its publication left its staged object.
    let elsewhere = same_store_elsewhere(&app);
    let mut crashed = elsewhere.writer(1 << 20).await.unwrap();
    crashed.write(b"left by a crash").await.unwrap();
    std::mem::forget(crashed.finish().await.unwrap());
    // This instance's own write, staged and about to be published.
    let mut live = blobs.writer(1 << 20).await.unwrap();
    live.write(b"in progress").await.unwrap();
    let live = live.finish().await.unwrap();
    assert_eq!(blobs.staging_objects().await.unwrap().len(), 2);

    // Within the grace period both stay (another instance's write may be about to publish).
    assert_eq!(
        blobs
            .collect_staging(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    // Past it, only the leftover goes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(blobs.collect_staging(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(blobs.staging_objects().await.unwrap().len(), 1);
    let published = live.publish().await.unwrap();
    assert!(blobs.exists(&published.sha256).await.unwrap());
    assert!(blobs.staging_objects().await.unwrap().is_empty());
}

async fn an_abandoned_write_leaves_no_object(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let blobs = app.core.blobs();
    let mut aborted = blobs.writer(1 << 30).await.unwrap();
    aborted.write(&vec![3u8; 12 << 20]).await.unwrap();
    aborted.abort().await;
    let mut dropped = blobs.writer(1 << 30).await.unwrap();
    dropped.write(&vec![4u8; 12 << 20]).await.unwrap();
    drop(dropped);
    let mut discarded = blobs.writer(1 << 30).await.unwrap();
    discarded.write(b"discarded").await.unwrap();
    discarded.finish().await.unwrap().discard().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(blobs.staging_objects().await.unwrap().is_empty());
    for content in [
        vec![3u8; 12 << 20],
        vec![4u8; 12 << 20],
        b"discarded".to_vec(),
    ] {
        let mut hashers = packyard_blob::Hashers::default();
        hashers.update(&content);
        assert!(!blobs.exists(&hashers.finish().sha256).await.unwrap());
    }
}

every_store!(
    crash_leftovers_are_collected_but_not_live_writes,
    an_abandoned_write_leaves_no_object,
);
