//! Wake-ups of the dispatchers, so that counting a queue's window (a scan of the jobs Redis
//! holds) happens when it can pay off rather than after every finished batch.
//!
//! Two kinds of news arrive, from this process or over Redis pub/sub from any other:
//! - **new work** (an enqueue committed, the reconciler freed dispatch tokens): every queue is
//!   looked at again;
//! - **freed slots** (`n` jobs of a queue finished): the dispatcher adds them up and looks at the
//!   queue again only once enough are free to be worth a refill.
//!
//! Messages are hints; a lost one costs at most a poll interval (250 ms by default).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::queue::Queue;

/// The pub/sub message for new work.
pub(crate) const NEW_WORK: &str = "*";

/// The pub/sub message for `n` finished jobs of `queue`.
pub(crate) fn freed_message(queue: Queue, n: usize) -> String {
    format!("{} {n}", queue.as_str())
}

/// What happened since a dispatcher last looked.
#[derive(Debug, Default)]
pub(crate) struct News {
    pub new_work: bool,
    pub freed: HashMap<Queue, u64>,
}

impl News {
    pub fn freed(&self, queue: Queue) -> u64 {
        self.freed.get(&queue).copied().unwrap_or(0)
    }
}

/// News gathered for this process's dispatcher, and the signal that there is some.
#[derive(Default)]
pub(crate) struct Board {
    news: Mutex<News>,
    notify: Notify,
}

impl Board {
    pub fn new_work(&self) {
        if let Ok(mut news) = self.news.lock() {
            news.new_work = true;
        }
        self.notify.notify_one();
    }

    /// Records a pub/sub message; an unreadable one counts as new work (look at everything).
    pub fn receive(&self, message: &[u8]) {
        let parsed = std::str::from_utf8(message).ok().and_then(|m| {
            let (queue, n) = m.split_once(' ')?;
            Some((queue.parse::<Queue>().ok()?, n.parse::<u64>().ok()?))
        });
        match parsed {
            Some((queue, n)) => {
                if let Ok(mut news) = self.news.lock() {
                    *news.freed.entry(queue).or_default() += n;
                }
                self.notify.notify_one();
            }
            None => self.new_work(),
        }
    }

    /// Takes the news gathered so far.
    pub fn take(&self) -> News {
        self.news
            .lock()
            .map(|mut news| std::mem::take(&mut *news))
            .unwrap_or_default()
    }

    /// Resolves once news has arrived (at once if some arrived since the last wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_slots_add_up_per_queue_and_garbage_means_look_everywhere() {
        let board = Board::default();
        board.receive(freed_message(Queue::Default, 40).as_bytes());
        board.receive(freed_message(Queue::Default, 2).as_bytes());
        board.receive(freed_message(Queue::Sync, 5).as_bytes());
        let news = board.take();
        assert!(!news.new_work);
        assert_eq!(news.freed(Queue::Default), 42);
        assert_eq!(news.freed(Queue::Sync), 5);
        assert_eq!(news.freed(Queue::Email), 0);

        board.receive(NEW_WORK.as_bytes());
        board.receive(b"default lots");
        let news = board.take();
        assert!(news.new_work);
        assert_eq!(news.freed(Queue::Default), 0);
        assert!(!board.take().new_work, "taking the news clears it");
    }
}
