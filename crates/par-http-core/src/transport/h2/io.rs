//! The one place where the core's byte streams meet tokio's IO traits.
//!
//! The `h2` crate reads and writes through `tokio::io::AsyncRead`/`AsyncWrite`; every
//! stream of the core ([`BoxIo`]: TCP from either runtime, TLS) speaks `futures-io`.
//! [`TokioIo`] adapts one to the other. Only the traits are used, never a tokio runtime:
//! the connection future runs on whatever executor the client was built with.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::runtime::BoxIo;

/// A `futures-io` stream seen through tokio's IO traits.
pub(crate) struct TokioIo(pub(crate) BoxIo);

impl tokio::io::AsyncRead for TokioIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Zeroes only the part of the buffer never initialised before.
        let unfilled = buf.initialize_unfilled();
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, unfilled))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for TokioIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn bytes_pass_both_ways() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut ours = TokioIo(Box::new(async_io::Async::new(ours).unwrap()));
        let mut theirs = TokioIo(Box::new(async_io::Async::new(theirs).unwrap()));
        future::block_on(async {
            ours.write_all(b"ping").await.unwrap();
            ours.flush().await.unwrap();
            let mut got = [0u8; 4];
            theirs.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
            ours.shutdown().await.unwrap();
        });
    }
}
