//! Group commit: many concurrent callers, one database round trip. Requests that arrive while
//! a batch is in flight form the next batch, so batches grow with load and a lone request on
//! an idle system goes through at once.

use tokio::sync::{mpsc, oneshot};

type Reply<Resp> = oneshot::Sender<Resp>;

/// A handle to submit requests to a batching loop.
pub struct Batcher<Req, Resp> {
    tx: mpsc::UnboundedSender<(Req, Reply<Resp>)>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher {
            tx: self.tx.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the loop: `process` gets up to `max` requests at a time and returns one response
    /// per request, in order; up to `parallel` batches run at once (one round trip's latency
    /// would otherwise cap throughput at `max` per round trip).
    pub fn spawn<F, Fut>(max: usize, parallel: usize, process: F) -> Batcher<Req, Resp>
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Req, Reply<Resp>)>();
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
        let process = std::sync::Arc::new(process);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Wait for a free slot first: requests arriving meanwhile join this batch.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < max {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                let (requests, replies): (Vec<Req>, Vec<Reply<Resp>>) = batch.into_iter().unzip();
                let process = process.clone();
                tokio::spawn(async move {
                    let responses = process(requests).await;
                    for (reply, response) in replies.into_iter().zip(responses) {
                        // The caller may have gone (shutdown); its answer is not needed then.
                        let _ = reply.send(response);
                    }
                    drop(permit);
                });
            }
        });
        Batcher { tx }
    }

    /// Submits one request and waits for its response; `None` if the loop has stopped.
    pub async fn submit(&self, request: Req) -> Option<Resp> {
        let (reply, response) = oneshot::channel();
        self.tx.send((request, reply)).ok()?;
        response.await.ok()
    }
}
