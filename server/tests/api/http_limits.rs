//! HTTP limits: idle or slow clients cannot hold connections, the
//! connection cap holds, ordinary requests time out but the live stream does
//! not, and shutdown finishes by its deadline with streams open.

use crate::common::{Backend, TestApp};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the socket; returns what it sent.
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 1024];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_that_never_send_a_full_header_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HTTP_HEADER_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    for socket in [&mut silent, &mut partial] {
        assert!(
            read_until_closed(socket, Duration::from_secs(5))
                .await
                .is_some(),
            "the server kept an idle socket open"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A keep-alive connection that goes idle after a request is closed too.
    let mut keep_alive = TcpStream::connect(app.addr).await.unwrap();
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut keep_alive, Duration::from_secs(5))
        .await
        .expect("the idle keep-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_connection_cap_reached_new_clients_wait_until_idle_ones_are_closed() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("HTTP_MAX_CONNECTIONS", "2"),
            ("HTTP_HEADER_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let idle: Vec<TcpStream> = vec![
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let client = app.new_browser();
    let url = app.url("/healthz");
    let mut waiting = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    assert!(
        tokio::time::timeout(Duration::from_millis(1_200), &mut waiting)
            .await
            .is_err(),
        "a third connection was served while two idle ones held the cap"
    );
    let status = tokio::time::timeout(Duration::from_secs(6), waiting)
        .await
        .expect("served once the idle connections timed out")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_ordinary_request_gets_408_after_the_request_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    // A complete head, then a body that never arrives in full.
    slow.write_all(
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("the slow request is answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

async fn member(app: &TestApp) -> (reqwest::Client, String) {
    let client = app.new_browser();
    assert!(app
        .register(&client, "Ada Caller", "ada@example.com")
        .await
        .status()
        .is_success());
    let account = app.account(&client).await;
    let org_id = account["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (client, org_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_stays_open_past_the_request_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let (client, org_id) = member(&app).await;
    let mut stream = client
        .get(app.url(&format!("/calls/live?org_id={org_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // Still open (no end, no error) well past the request timeout.
    match tokio::time::timeout(Duration::from_millis(2_500), stream.chunk()).await {
        Err(_) => {}
        Ok(Ok(Some(_))) => {}
        Ok(other) => panic!("the live stream ended: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_within_the_grace_deadline_with_a_live_stream_open() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = TestApp::spawn_stoppable(
        Backend::Sqlite,
        &[("SHUTDOWN_GRACE_SECS", "1")],
        async move {
            let _ = stopped.await;
        },
    )
    .await;
    let (client, org_id) = member(&app).await;
    let mut stream = client
        .get(app.url(&format!("/calls/live?org_id={org_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(4), running)
        .await
        .expect("the server stopped within the deadline")
        .unwrap()
        .unwrap();
    // The live streams end as soon as shutdown begins (the shutdown token),
    // so the server stops well before the grace deadline.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The stream was closed, and nothing listens any more.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                other => break other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the stream ended");
    let _ = ended;
    assert!(TcpStream::connect(app.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_shutdown_is_answered_before_the_server_stops() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = TestApp::spawn_stoppable(
        Backend::Sqlite,
        &[("SHUTDOWN_GRACE_SECS", "5")],
        async move {
            let _ = stopped.await;
        },
    )
    .await;
    let mut in_flight = TcpStream::connect(app.addr).await.unwrap();
    in_flight
        .write_all(
            b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The rest of the body arrives after the signal: the request still gets
    // its answer (an unsigned event: 400), then the connection closes.
    in_flight.write_all(b"}").await.unwrap();
    let answer = read_until_closed(&mut in_flight, Duration::from_secs(4))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Nothing else was open, so the server stops without waiting the grace out.
    tokio::time::timeout(Duration::from_secs(3), running)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
