//! Group commit of webhook deliveries.
//!
//! Every delivery must be durable before it is answered 202, and a commit waits for the
//! WAL flush; one transaction per delivery made that flush, and the statements around
//! it, the cost of every request. Here concurrent deliveries are handed to a writer task
//! that records everything waiting in one statement ([`Store::record_deliveries`]) and
//! then answers each request with its own outcome.
//!
//! Batching is natural: the writer takes whatever queued up while its batches were
//! committing (at most [`MAX_BATCH`]), so an idle server commits a lone delivery at once
//! and a busy one commits many per flush, with up to [`IN_FLIGHT`] batches committing at
//! once. If a batch fails because the database is unavailable, every delivery in it gets
//! that error (503: GitHub will redeliver). If it fails for another reason, its
//! deliveries are recorded one by one, so one bad delivery cannot fail the others.

use std::sync::Mutex;

use rfd_model::queue::DeliveryRecord;
use rfd_model::{DeliveryOutcome, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most deliveries recorded in one transaction.
pub const MAX_BATCH: usize = 256;

/// Batches committed at once (each holds a pool connection while it commits). On the
/// 2-core benchmark machine two measure as fast as one (BENCHMARKS.md), and a batch that
/// waits (on a lock held by another API process, or a slow commit) does not hold up every
/// delivery behind it; more split the waiting deliveries into smaller batches that each
/// pay a statement and a commit, and measured slower.
pub const IN_FLIGHT: usize = 2;

/// Deliveries that may wait for the writer before senders wait in turn.
const QUEUE_DEPTH: usize = 4096;

type Reply = oneshot::Sender<Result<DeliveryOutcome, StoreError>>;

struct Pending {
    delivery: DeliveryRecord,
    reply: Reply,
}

/// The intake of one API process: hands deliveries to its writer task.
pub struct Intake {
    store: Store,
    sender: mpsc::Sender<Pending>,
    /// The writer's end until the writer is started (on first use, so that building
    /// the context needs no runtime).
    receiver: Mutex<Option<mpsc::Receiver<Pending>>>,
}

impl Intake {
    /// An intake recording into `store`.
    pub fn new(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        Self { store, sender, receiver: Mutex::new(Some(receiver)) }
    }

    /// Records one delivery and its jobs, durably, together with whatever other
    /// deliveries are waiting. Returns once the transaction holding it has committed.
    pub async fn record(&self, delivery: DeliveryRecord) -> Result<DeliveryOutcome, StoreError> {
        self.start_writer();
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { delivery, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the delivery writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the delivery writer has stopped".into()))?
    }

    fn start_writer(&self) {
        let receiver = match self.receiver.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(receiver) = receiver {
            tokio::spawn(write(self.store.clone(), receiver));
        }
    }
}

/// The writer: takes whatever is waiting as one batch, and commits up to [`IN_FLIGHT`]
/// batches at once, each on its own connection, until every sender is gone.
///
/// A new batch starts as soon as a writer is free. Concurrent batches are safe (see
/// `record_deliveries`: rows are written in key order, a delivery in two batches is
/// recorded by one of them).
async fn write(store: Store, mut receiver: mpsc::Receiver<Pending>) {
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        // A free writer first, so that what waits meanwhile joins the next batch.
        while in_flight.len() >= IN_FLIGHT {
            let _finished = in_flight.join_next().await;
        }
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
            break;
        }
        let store = store.clone();
        in_flight.spawn(async move { commit(&store, batch).await });
    }
    while in_flight.join_next().await.is_some() {}
}

async fn commit(store: &Store, batch: Vec<Pending>) {
    let (deliveries, replies): (Vec<DeliveryRecord>, Vec<Reply>) =
        batch.into_iter().map(|pending| (pending.delivery, pending.reply)).unzip();
    match store.record_deliveries(&deliveries).await {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            tracing::debug!(deliveries = replies.len(), "delivery batch committed");
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The request may have gone away; its delivery is recorded all the same.
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(outcomes) => {
            // Cannot happen (one outcome per delivery); answer honestly if it does.
            tracing::error!(deliveries = replies.len(), outcomes = outcomes.len(), "outcomes do not match");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable("delivery outcome lost; redeliver".into())));
            }
        }
        Err(StoreError::Unavailable(reason)) => {
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, deliveries = replies.len(), "delivery batch failed; recording one by one");
            for (delivery, reply) in deliveries.into_iter().zip(replies) {
                let jobs: Vec<_> = delivery
                    .jobs
                    .into_iter()
                    .map(|job| rfd_model::NewJob { webhook_delivery_id: Some(delivery.id), ..job })
                    .collect();
                let outcome = store.record_delivery(delivery.id, &delivery.event, &jobs).await;
                let _ = reply.send(outcome);
            }
        }
    }
}
