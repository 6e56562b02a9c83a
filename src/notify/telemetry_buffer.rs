//! Telemetry entries waiting to ride along with the next request to Target. Bounded,
//! unlike the SDKs' lists: when full, the oldest entry is dropped and counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::metrics::Metrics;
use crate::model::TelemetryEntry;

/// A bounded FIFO of telemetry entries shared by the client, refresher and batcher.
#[derive(Debug)]
pub struct TelemetryBuffer {
    enabled: bool,
    capacity: usize,
    entries: Mutex<VecDeque<TelemetryEntry>>,
}

impl TelemetryBuffer {
    /// `enabled = false` makes every push a no-op (the SDKs' `telemetryEnabled`).
    pub fn new(enabled: bool, capacity: usize) -> Self {
        Self {
            enabled,
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Adds an entry, dropping (and counting) the oldest one when full.
    pub fn push(&self, entry: TelemetryEntry, metrics: &Arc<Metrics>) {
        if !self.enabled || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.pop_front();
            metrics.telemetry_dropped.inc();
        }
        entries.push_back(entry);
    }

    /// Takes up to `max` entries, oldest first.
    pub fn take(&self, max: usize) -> Vec<TelemetryEntry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let n = entries.len().min(max);
        entries.drain(..n).collect()
    }

    /// Puts entries back at the front (the call they rode on failed); what no longer
    /// fits is dropped and counted, oldest first.
    pub fn restore(&self, returned: Vec<TelemetryEntry>, metrics: &Metrics) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.capacity.saturating_sub(entries.len());
        let dropped = returned.len().saturating_sub(room);
        metrics.telemetry_dropped.inc_by(dropped as u64);
        for entry in returned.into_iter().skip(dropped).rev() {
            entries.push_front(entry);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> TelemetryEntry {
        TelemetryEntry {
            request_id: Some(id.into()),
            ..Default::default()
        }
    }

    fn ids(entries: &[TelemetryEntry]) -> Vec<String> {
        entries
            .iter()
            .filter_map(|e| e.request_id.clone())
            .collect()
    }

    #[test]
    fn restored_entries_go_first_and_never_past_capacity() {
        let metrics = Arc::new(Metrics::new());
        let buffer = TelemetryBuffer::new(true, 3);
        buffer.push(entry("a"), &metrics);
        buffer.push(entry("b"), &metrics);
        let taken = buffer.take(usize::MAX);
        buffer.push(entry("c"), &metrics);
        buffer.restore(taken, &metrics);
        assert_eq!(ids(&buffer.take(usize::MAX)), ["a", "b", "c"]);

        buffer.push(entry("d"), &metrics);
        buffer.push(entry("e"), &metrics);
        buffer.restore(vec![entry("x"), entry("y")], &metrics);
        assert_eq!(
            ids(&buffer.take(usize::MAX)),
            ["y", "d", "e"],
            "full: the oldest is dropped"
        );
        assert_eq!(metrics.telemetry_dropped.get(), 1);
    }
}
