//! Every request runs under a reactive owner of its own.
//!
//! Leptos keeps "the current reactive owner" in a thread-local. Rendering a
//! page makes a new root owner and leaves it there after the render's first
//! poll; the server-function handler makes its owner a *child* of whatever is
//! current. On a multi-threaded runtime, a server function (or a plain
//! handler that looks up request context, like the page-data cache) polled
//! next on that thread would attach to another request's page render: read
//! its context, be cleaned up when that render ends, and the render's
//! response could leave without its headers (seen as pages served without
//! their Content-Security-Policy while a browser navigated away mid-page).
//!
//! This layer polls each request's future inside a fresh root owner and
//! restores the thread's previous owner after every poll, so nothing one
//! request sets as current can be seen by another.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use leptos::reactive::owner::Owner;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The middleware: `next` runs inside `Isolated`.
pub async fn isolate(request: Request, next: Next) -> Response {
    Isolated::new(next.run(request)).await
}

/// A future polled with its own root owner as the current one.
struct Isolated<F> {
    owner: Owner,
    inner: Pin<Box<F>>,
}

impl<F: Future> Isolated<F> {
    fn new(inner: F) -> Self {
        let owner = Owner::new_root(None);
        // `new_root` makes itself current: take that back at once, so only
        // polls (below) ever see it.
        owner.clone().unset();
        Self {
            owner,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Isolated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // `with` restores the previous current owner when the poll returns,
        // whatever the inner future made current meanwhile.
        this.owner.with(|| this.inner.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::Isolated;
    use leptos::prelude::{provide_context, use_context};
    use leptos::reactive::owner::Owner;

    #[tokio::test]
    async fn what_a_request_makes_current_is_not_seen_after_its_poll() {
        let leaked = Isolated::new(async {
            // What a page render does: a new root, left current.
            let root = Owner::new_root(None);
            provide_context(42_u32);
            std::mem::forget(root);
        });
        leaked.await;
        assert_eq!(
            use_context::<u32>(),
            None,
            "the next code on this thread sees nothing"
        );
        let other = Isolated::new(async { use_context::<u32>() }).await;
        assert_eq!(other, None, "nor does the next request");
    }
}
