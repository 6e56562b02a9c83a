//! One notification request to Target: the body as bytes, built once and resent
//! as it is on every retry (same request id, same notification ids), and what the
//! Batcher needs to settle it: counts, spool records, ages.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

use super::queue::{Batch, Key};
use crate::model::TelemetryEntry;
use crate::notify::owed::request_body;

/// A request ready to send (or waiting to be retried).
#[derive(Debug)]
pub struct Job {
    pub key: Arc<Key>,
    pub body: Bytes,
    /// The spool record of each notification, in body order (0 without a spool).
    pub seqs: Vec<u64>,
    /// When each notification was owed, in body order.
    pub owed_at_ms: Vec<i64>,
    /// Telemetry entries riding along.
    pub telemetry: usize,
    /// Attempts made so far.
    pub attempt: u32,
}

impl Job {
    /// The request for `batch`, with `telemetry` riding along.
    pub fn new(batch: Batch, telemetry: &[TelemetryEntry]) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        let raws: Vec<&RawValue> = batch.items.iter().map(|i| &*i.body).collect();
        let body = request_body(
            &request_id,
            batch.key.visitor.as_deref(),
            &batch.envelope,
            &raws,
            telemetry,
        );
        Self {
            seqs: batch.items.iter().map(|i| i.seq).collect(),
            owed_at_ms: batch.items.iter().map(|i| i.owed_at_ms).collect(),
            key: batch.key,
            body: Bytes::from(body),
            telemetry: telemetry.len(),
            attempt: 0,
        }
    }

    /// Notifications in the request.
    pub fn notifications(&self) -> usize {
        self.seqs.len()
    }

    /// When its newest notification was owed (`i64::MIN` for telemetry only).
    pub fn newest_owed_ms(&self) -> i64 {
        self.owed_at_ms.iter().copied().max().unwrap_or(i64::MIN)
    }

    /// Target refused the request as a whole (a 4xx): cut it in two halves, each
    /// retried on its own, so one bad notification is found in log2(n) steps. A
    /// request of one notification with telemetry loses the telemetry instead (the
    /// bad part may be there). `None` when there is nothing left to cut.
    pub fn split(&self) -> Option<(Job, Option<Job>)> {
        let mut body: Value = serde_json::from_slice(&self.body).ok()?;
        let object = body.as_object_mut()?;
        let n = self.seqs.len();
        if n <= 1 {
            object.remove("telemetry")?;
            let job = Job {
                key: self.key.clone(),
                body: Bytes::from(serde_json::to_vec(&body).ok()?),
                seqs: self.seqs.clone(),
                owed_at_ms: self.owed_at_ms.clone(),
                telemetry: 0,
                attempt: 0,
            };
            return Some((job, None));
        }
        let Some(Value::Array(mut notifications)) = object.remove("notifications") else {
            return None;
        };
        let half = n / 2;
        let second_half = notifications.split_off(half.min(notifications.len()));
        let telemetry = object.remove("telemetry");
        let mut first_body = body.clone();
        first_body["notifications"] = Value::Array(notifications);
        if let Some(telemetry) = telemetry {
            // Telemetry stays with the first half.
            first_body["telemetry"] = telemetry;
        }
        let mut second_body = body;
        second_body["notifications"] = Value::Array(second_half);
        let (mut seqs, mut owed) = (self.seqs.clone(), self.owed_at_ms.clone());
        let (seqs_2, owed_2) = (seqs.split_off(half), owed.split_off(half));
        let first = Job {
            key: self.key.clone(),
            body: Bytes::from(serde_json::to_vec(&first_body).ok()?),
            seqs,
            owed_at_ms: owed,
            telemetry: self.telemetry,
            attempt: 0,
        };
        let second = Job {
            key: self.key.clone(),
            body: Bytes::from(serde_json::to_vec(&second_body).ok()?),
            seqs: seqs_2,
            owed_at_ms: owed_2,
            telemetry: 0,
            attempt: 0,
        };
        Some((first, Some(second)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::queue::Queue;
    use super::*;
    use crate::model::{DeliveryRequest, Notification};
    use crate::notify::owed::Owed;

    fn job(n: usize, telemetry: usize) -> Job {
        let notifications: Vec<Notification> = (0..n)
            .map(|i| Notification {
                id: Some(format!("n{i}")),
                ..Default::default()
            })
            .collect();
        let owed = Owed::new(&DeliveryRequest::default(), &notifications, "s", None, 5).unwrap();
        let mut q = Queue::new(100);
        q.push(owed, 9, Instant::now());
        let mut out = Vec::new();
        q.take_all(&mut out);
        let entries = vec![TelemetryEntry::default(); telemetry];
        Job::new(out.remove(0), &entries)
    }

    fn ids(job: &Job) -> Vec<String> {
        let body: Value = serde_json::from_slice(&job.body).unwrap();
        body["notifications"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| n["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn splits_in_halves_keeping_ids_and_telemetry_with_the_first() {
        let (a, b) = job(5, 2).split().unwrap();
        let b = b.unwrap();
        assert_eq!(ids(&a), ["n0", "n1"]);
        assert_eq!(ids(&b), ["n2", "n3", "n4"]);
        assert_eq!((a.telemetry, b.telemetry), (2, 0));
        assert_eq!((a.seqs.len(), b.seqs.len()), (2, 3));
        let first: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(first["telemetry"]["entries"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_single_notification_sheds_its_telemetry_then_cannot_split() {
        let (a, b) = job(1, 1).split().unwrap();
        assert!(b.is_none());
        assert_eq!(a.telemetry, 0);
        assert_eq!(ids(&a), ["n0"]);
        assert!(a.split().is_none());
    }
}
