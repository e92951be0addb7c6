//! What every connection gets: a declared body above the cap refused at once, a stalled body timed out,
//! a connection closed after an error that may leave a body unread, and a client that stops reading
//! dropped after the send timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Backend, TestApp, both_backends};

const FILE: &str = "/registry/package/generic/demo/1.0.0/demo.bin";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (failing after `within`); returns what it sent.
async fn answer_then_close(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server kept the connection open; it sent {:?}",
                String::from_utf8_lossy(&answer)
            )
        })
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn slow_or_oversized_bodies_get_an_answer_and_a_closed_connection(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |settings| {
        settings.server.body_idle_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    let head = |length: &str| {
        format!(
            "PUT {FILE} HTTP/1.1\r\nHost: x\r\nAuthorization: token {}\r\n{length}\r\n",
            app.admin_token
        )
    };

    // A declared length above the cap: 413 before any body byte is sent.
    let mut stream = connect(&app).await;
    stream
        .write_all(head("Content-Length: 1000000000000000\r\n").as_bytes())
        .await
        .unwrap();
    let answer = answer_then_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the request body is larger than"),
        "{answer}"
    );

    // A body that stops arriving: the request fails after the idle timeout and the connection closes.
    let mut stream = connect(&app).await;
    let mut request = head("Content-Length: 1000\r\n").into_bytes();
    request.extend(b"only ten b");
    stream.write_all(&request).await.unwrap();
    let answer = answer_then_close(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // An early error on a chunked upload nobody reads (no credentials): answered, then closed.
    let mut stream = connect(&app).await;
    stream
        .write_all(
            format!(
                "PUT {FILE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = answer_then_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

async fn a_client_that_stops_reading_is_dropped(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |settings| {
        settings.server.send_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    // Larger than what the kernel buffers on both sides of a loopback connection.
    let size = 64 * 1024 * 1024;
    let response = app
        .client
        .put(app.url(FILE))
        .header("Authorization", format!("token {}", app.admin_token))
        .body(vec![7u8; size])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let mut stream = connect(&app).await;
    stream
        .write_all(
            format!(
                "GET {FILE} HTTP/1.1\r\nHost: x\r\nAuthorization: token {}\r\n\r\n",
                app.admin_token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Stop reading long enough for the send timeout to run out, then read what is left.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received += read,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was still open");
    assert!(
        received < size,
        "the whole file arrived: the client was never dropped"
    );
}

both_backends!(
    slow_or_oversized_bodies_get_an_answer_and_a_closed_connection,
    a_client_that_stops_reading_is_dropped,
);
