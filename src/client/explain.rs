//! The decision explorer's "try a request": get_offers on-device with a trace, that
//! owes Target nothing and counts nowhere. Used by `http::explorer` only.
//!
//! It runs the steps of [`TargetClient::get_offers`] that decide — validate, `prepare`,
//! the admission gate and this worker's DecisionActor ([`on_device::decide_and_answer`]) —
//! and leaves out every step with an effect outside the answer: the display
//! notifications the decision owes are dropped instead of handed to `owe`, no telemetry
//! entry is recorded (it would ride to Target with the next notification), the geo
//! lookup is skipped (the form names the visitor's location; the page needs no network),
//! and neither `offerd_decisions_total` nor the decision latency is observed, so
//! trying requests leaves dashboards alone.
//!
//! [`on_device::decide_and_answer`]: crate::sdk::on_device::decide_and_answer

use std::sync::Arc;

use crate::actors::decision::Decide;
use crate::clock::now_ms;
use crate::model::{DecisioningMethod, Trace};
use crate::sdk::validate::validate_request;
use crate::store::LoadedArtifact;

use super::{ClientError, GetOffersOptions, TargetClient, TargetDeliveryResponse};

impl TargetClient {
    /// Decides `options` on-device against the loaded artifact with a trace, at `at_ms`
    /// (epoch milliseconds; now when `None`), owing no notification and counting no
    /// decision. Whatever only Target could decide is named in `meta.remote_*`. The
    /// artifact it decided with comes back too, to explain the answer against.
    pub async fn explain(
        &self,
        mut options: GetOffersOptions,
        at_ms: Option<i64>,
    ) -> Result<(TargetDeliveryResponse, Arc<LoadedArtifact>), ClientError> {
        validate_request(&options.request)?;
        let artifact = self.inner.store.current().ok_or(ClientError::NotReady)?;
        options.request.trace.get_or_insert_with(Trace::default);
        options.decisioning_method = Some(DecisioningMethod::OnDevice);
        let now = at_ms.unwrap_or_else(now_ms);
        let prepared = self.prepare(options, now);
        let msg = Decide {
            artifact: artifact.clone(),
            prepared,
            client_code: self.inner.client_code.clone(),
            now_ms: now,
        };
        // The owed notifications (`decided.notifications`) are dropped here, on purpose.
        let decided = self.run_decision(msg).await?;
        Ok((decided.response, artifact))
    }
}
