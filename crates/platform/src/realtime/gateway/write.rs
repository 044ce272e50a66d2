//! A bound on every write to a client. A client that reads nothing fills its socket's buffers,
//! and the next write then waits for room that never comes. Its loop waited with it, for ever:
//! no heartbeat, no session end, no close, while the connection kept its task, its queue and
//! its buffers (the kernel's can grow to megabytes). One such socket per stalled client was a
//! cheap way to hold a server's memory. The bound is on progress: each step of a write (a frame
//! handed to the socket's write buffer, which waits only while a full buffer is written out,
//! or a flush) must finish within [`WRITE_TIMEOUT`]. It is a bound on time, not on memory: a
//! client that keeps reading slowly keeps its connection and its buffers. This file also holds
//! the two closes, ours and our answer to the client's.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

/// How long one step of a write may wait: the heartbeat's interval. A step moves at most the
/// socket's write buffer (16 KiB, set with the upgrade in `gateway`) and one frame, so a client
/// that takes a few hundred bytes a second keeps up; one that takes nothing is let go, well before the two unanswered pings that close
/// a client that is alive but mute (60–90 s).
const WRITE_TIMEOUT: Duration = super::HEARTBEAT;

/// Runs the write step `op`, or fails with `TimedOut` once it has waited [`WRITE_TIMEOUT`]. It
/// is polled once first, so a step that finishes at once, which is nearly every one, arms no
/// timer (timers made afresh for every delivered frame were a tenth of a busy fan-out; see the
/// loop's timers in `session`). A step that waits, for room or for the task's turn, arms one.
pub(super) async fn bounded<T>(op: impl Future<Output = Result<T, axum::Error>>) -> Result<T, axum::Error> {
    within(WRITE_TIMEOUT, op).await
}

async fn within<T>(limit: Duration, op: impl Future<Output = Result<T, axum::Error>>) -> Result<T, axum::Error> {
    let mut op = std::pin::pin!(op);
    if let Poll::Ready(done) = futures::poll!(op.as_mut()) {
        return done;
    }
    match tokio::time::timeout(limit, op).await {
        Ok(done) => done,
        Err(_) => Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "a write to the client made no progress for a heartbeat's interval",
        ))),
    }
}

/// Answers a client that began the closing handshake. Reading its Close made tungstenite queue
/// the answering Close (the client's code and reason, or 1002 for a code a client may not
/// send), but that frame goes out only with the socket's next read or flush: dropped before
/// either, the connection ended without it, and a browser reported code 1006 (not a clean
/// close) for every `close()` it made. A client that has stopped reading gets a second, then
/// the socket is dropped anyway.
pub(super) async fn answer_close(socket: &mut WebSocket) {
    use futures::SinkExt as _;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.flush()).await;
}

/// Closes the connection with `code` and `reason`.
pub(super) async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
    if bounded(socket.send(frame)).await.is_err() {
        return;
    }
    // Finish the closing handshake: read what the client still sends until its Close (for at
    // most a second). Dropping the socket with unread data would make the kernel answer with a
    // reset, and the client could lose our Close frame with its code.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_write_that_never_completes_fails_at_the_limit_and_a_slow_one_in_time_does_not() {
        let start = std::time::Instant::now();
        let stuck = tokio::time::timeout(LIMIT * 10, within(LIMIT, std::future::pending::<Result<(), axum::Error>>()))
            .await
            .expect("the limit holds");
        assert!(stuck.is_err(), "a write that never completes is given up");
        assert!(start.elapsed() >= LIMIT, "not before the limit: {:?}", start.elapsed());
        let slow = within(LIMIT, async {
            tokio::time::sleep(LIMIT / 6).await;
            Ok::<_, axum::Error>(7)
        })
        .await;
        assert_eq!(slow.unwrap(), 7, "a slow write that finishes in time is not cut off");
    }

    #[tokio::test]
    async fn a_write_that_completes_at_once_passes_its_result_through() {
        assert_eq!(bounded(async { Ok::<_, axum::Error>(3) }).await.unwrap(), 3);
        let failed = bounded(async { Err::<(), _>(axum::Error::new(std::io::Error::other("reset"))) }).await;
        assert_eq!(failed.unwrap_err().to_string(), "reset");
    }
}
