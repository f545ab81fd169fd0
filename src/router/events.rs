//! `GET /api/events`: the page's live updates as server-sent events. Each
//! client gets `sandbox list`'s document whenever it changes (looked at every
//! 2 s, Docker asked off the serving thread), and a comment every 15 s that keeps
//! the connection open through idle proxies.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::{Response, StatusCode, header};

use super::proxy::{Body, BoxError};
use super::shared::Shared;

/// How often the listing is looked at.
const EVERY: Duration = Duration::from_secs(2);

/// A body fed by a channel: each message is one event.
struct Events(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// Pure: one event carrying `data` (a JSON document on one line).
pub fn event(data: &str) -> String {
    format!("data: {}\n\n", data.replace('\n', ""))
}

pub fn stream(shared: Arc<Shared>) -> Response<Body> {
    let Ok(permit) = shared.streams.clone().try_acquire_owned() else {
        let mut r = super::proxy::plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            format!(
                "kinfra router: {} live pages are open already; close one\n",
                super::shared::MAX_STREAMS
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
        return r;
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        // Held while the stream lives: freed when its client is gone.
        let _permit = permit;
        let mut last = String::new();
        let mut quiet = Duration::ZERO;
        loop {
            let s = shared.clone();
            let listing =
                tokio::task::spawn_blocking(move || crate::instance::list(&s.ctx, &s.stack)).await;
            if let Ok(Ok(l)) = listing {
                let now = serde_json::to_string(&l).unwrap_or_default();
                if now != last {
                    if tx.send(Bytes::from(event(&now))).await.is_err() {
                        return;
                    }
                    last = now;
                    quiet = Duration::ZERO;
                }
            }
            if quiet >= Duration::from_secs(15) {
                if tx.send(Bytes::from_static(b": alive\n\n")).await.is_err() {
                    return;
                }
                quiet = Duration::ZERO;
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(EVERY).await;
            quiet += EVERY;
        }
    });
    let mut r = Response::new(Events(rx).boxed());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_event_per_document() {
        assert_eq!(super::event("{\"a\":\n1}"), "data: {\"a\":1}\n\n");
    }
}
