//! Serving HTTP with limits, so anonymous clients cannot hold the process's
//! file descriptors or tasks: a header-read timeout on every connection
//! (idle keep-alive ones included), a request timeout for ordinary routes
//! (not the live stream), a cap on open connections, and a shutdown that
//! finishes by a deadline even with streams open.
//!
//! `axum::serve` has no header timeout, so this is our own accept loop over
//! hyper's HTTP/1 connection builder.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// A connection that has not sent a whole request head in this time is
    /// closed (`HTTP_HEADER_TIMEOUT_SECS`); an idle keep-alive one too.
    pub header_timeout: Duration,
    /// An ordinary request that has no response by then gets 408
    /// (`HTTP_REQUEST_TIMEOUT_SECS`); the live stream is exempt.
    pub request_timeout: Duration,
    /// At most this many open connections (`HTTP_MAX_CONNECTIONS`); further
    /// ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// After the shutdown signal, connections still open after this long are
    /// closed (`SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, lets in-flight requests finish, and closes whatever is still
/// open (live streams) once `limits.shutdown_grace` has passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: beyond the cap, clients wait
        // in the kernel's backlog instead of costing us a descriptor each.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors (EMFILE) or an aborted handshake:
                    // back off briefly rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let http = http.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit = permit;
            // Server functions read the client address from `ConnectInfo`.
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                router.clone().oneshot(request.map(Body::new))
            });
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    // Finish the request in flight, then close (no keep-alive).
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.send_replace(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open_at_signal = open,
            still_open = connections.len(),
            grace_secs = limits.shutdown_grace.as_secs(),
            "shutdown deadline passed: closing the connections still open (live streams)"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Ordinary requests get `408 Request Timeout` when no response is ready
/// within the limit (a slow body upload or a stuck handler); the live call
/// stream is meant to stay open and is exempt. Streaming bodies (CSV exports)
/// are bounded by the time to their first byte only.
pub async fn request_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == crate::call_events::PATH {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, %path, limit_secs = limit.as_secs(), "request timed out");
            (StatusCode::REQUEST_TIMEOUT, "The request took too long.").into_response()
        }
    }
}
