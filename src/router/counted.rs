//! A connection whose bytes, either way, count as use of an instance (idle
//! stop): a checked-out port's, and an upgraded one by name (a WebSocket, a dev
//! server's hot reload) that may carry traffic for hours after its one request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Called when bytes pass (at most once a second per connection).
pub type OnUse = Arc<dyn Fn() + Send + Sync>;

/// `inner`, with `on_use` called as its bytes pass.
pub struct Counted<S> {
    inner: S,
    on_use: OnUse,
    last: Instant,
}

impl<S> Counted<S> {
    pub fn new(inner: S, on_use: OnUse) -> Counted<S> {
        Counted {
            inner,
            on_use,
            last: Instant::now(),
        }
    }

    fn used(&mut self) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            (self.on_use)();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.used();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.used();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
