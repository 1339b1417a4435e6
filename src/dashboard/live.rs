//! The status page's live feed: one WebSocket per open page, a status frame per tick.
//!
//! The server aggregates (counts by group, capped task runs, cumulative traffic), so a
//! frame's size depends on workers and groups, not on tasks in flight, and a slow page
//! never slows the scheduler: a frame is built only after the previous one was sent.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};

use super::source::Source;
use super::views;

/// Shortest and default time between frames.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// Streams status frames to `socket` until the page closes it or the scheduler stops.
pub(crate) async fn serve(socket: WebSocket, source: Source, interval: Duration) {
    let (mut sink, mut incoming) = socket.split();
    let mut tick = tokio::time::interval(interval.max(MIN_INTERVAL));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The page starts with the runs of the last frame's worth, not the whole history.
    let mut seen = match source.inspect(|s| s.history.total()).await {
        Ok(total) => total.saturating_sub(views::MAX_RUNS_PER_FRAME as u64),
        Err(_) => return,
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let Ok(frame) = source.inspect(move |s| views::status(s, seen)).await else { break };
                seen = frame.finished_total;
                let Ok(text) = serde_json::to_string(&frame) else { break };
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
