//! The SDK's answer to get_offers: a Delivery API response (decided on-device or by
//! Target's edge) wrapped as a `TargetDeliveryResponse`, with the cookies to set and the
//! analytics, traces and response tokens gathered in the SDKs' order. Pure.

use serde::Serialize;
use utoipa::ToSchema;

use super::cookies::{self, Cookie};
use super::prepare::PreparedRequest;
use crate::engine::RemoteDependency;
use crate::model::*;

/// How a response was decided, and what could not be decided on-device.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResponseMeta {
    pub decisioning_method: DecisioningMethod,
    pub remote_mboxes: Vec<String>,
    pub remote_views: Vec<String>,
}

/// The result of get_offers: the SDK's `TargetDeliveryResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetDeliveryResponse {
    /// Boxed for the same reason as the request (1.3 KB by value).
    #[schema(value_type = DeliveryResponse)]
    pub response: Box<DeliveryResponse>,
    pub target_cookie: Cookie,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_location_hint_cookie: Option<Cookie>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics_details: Option<Vec<AnalyticsResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub response_tokens: Option<Vec<ResponseTokens>>,
    pub meta: ResponseMeta,
}

/// Wraps a Delivery API response (on-device or from Target's edge) for the caller.
pub fn target_delivery_response(
    prepared: &PreparedRequest,
    response: DeliveryResponse,
    decisioning_method: DecisioningMethod,
    remote: RemoteDependency,
    now_ms: i64,
) -> TargetDeliveryResponse {
    let tnt_id = response.id.as_ref().and_then(|id| id.tnt_id.as_deref());
    let edge_cluster = cookies::cluster_from_edge_host(response.edge_host.as_deref());
    let cluster = prepared.cluster.clone().or(edge_cluster);
    let parts = ResponseParts::of(&response);
    TargetDeliveryResponse {
        target_cookie: cookies::target_cookie(&prepared.session_id, tnt_id, now_ms),
        target_location_hint_cookie: cookies::location_hint_cookie(cluster.as_deref()),
        analytics_details: non_empty(parts.analytics()),
        trace: non_empty(parts.traces()),
        response_tokens: non_empty(parts.response_tokens()),
        meta: ResponseMeta {
            decisioning_method,
            remote_mboxes: remote.remote_mboxes,
            remote_views: remote.remote_views,
        },
        response: Box::new(response),
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Analytics, trace and options of one decided mbox, view or page load.
type Part<'r> = (
    Option<&'r AnalyticsResponse>,
    Option<&'r serde_json::Value>,
    Option<&'r Vec<OfferOption>>,
);

/// The decided parts of a response in the SDKs' order: execute page load, execute
/// mboxes, prefetch page load, prefetch views, prefetch mboxes.
struct ResponseParts<'r> {
    parts: Vec<Part<'r>>,
}

impl<'r> ResponseParts<'r> {
    fn of(response: &'r DeliveryResponse) -> Self {
        let mut parts = Vec::new();
        let execute = response.execute.as_ref();
        let prefetch = response.prefetch.as_ref();
        let page =
            |p: &'r PageLoadResponse| (p.analytics.as_ref(), p.trace.as_ref(), p.options.as_ref());
        let mbox =
            |m: &'r MboxResponse| (m.analytics.as_ref(), m.trace.as_ref(), m.options.as_ref());
        parts.extend(execute.and_then(|e| e.page_load.as_ref()).map(page));
        parts.extend(
            execute
                .and_then(|e| e.mboxes.as_ref())
                .into_iter()
                .flatten()
                .map(mbox),
        );
        parts.extend(prefetch.and_then(|p| p.page_load.as_ref()).map(page));
        let views = prefetch
            .and_then(|p| p.views.as_ref())
            .into_iter()
            .flatten();
        parts.extend(views.map(|v| (v.analytics.as_ref(), v.trace.as_ref(), v.options.as_ref())));
        parts.extend(
            prefetch
                .and_then(|p| p.mboxes.as_ref())
                .into_iter()
                .flatten()
                .map(mbox),
        );
        Self { parts }
    }

    fn analytics(&self) -> Vec<AnalyticsResponse> {
        let non_empty = |a: &&AnalyticsResponse| {
            a.payload.as_ref().is_some_and(|p| !p.is_empty()) || !a.extra.is_empty()
        };
        self.parts
            .iter()
            .filter_map(|p| p.0)
            .filter(non_empty)
            .cloned()
            .collect()
    }

    fn traces(&self) -> Vec<serde_json::Value> {
        let non_empty = |t: &&serde_json::Value| t.as_object().is_some_and(|o| !o.is_empty());
        self.parts
            .iter()
            .filter_map(|p| p.1)
            .filter(non_empty)
            .cloned()
            .collect()
    }

    fn response_tokens(&self) -> Vec<ResponseTokens> {
        let options = self.parts.iter().filter_map(|p| p.2).flatten();
        options
            .filter_map(|o| o.response_tokens.clone())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW_MS: i64 = 1_600_000_000_000;

    fn wrap(response: serde_json::Value, cluster: Option<&str>) -> TargetDeliveryResponse {
        let prepared = PreparedRequest {
            request: Box::default(),
            session_id: "s1".into(),
            cluster: cluster.map(str::to_string),
        };
        let response = serde_json::from_value(response).expect("the test response deserializes");
        target_delivery_response(
            &prepared,
            response,
            DecisioningMethod::OnDevice,
            RemoteDependency::default(),
            NOW_MS,
        )
    }

    fn option(token: &str) -> serde_json::Value {
        json!({"options": [{"responseTokens": {"t": token}}], "analytics": {"payload": {"p": token}}})
    }

    #[test]
    fn parts_are_gathered_in_the_sdks_order() {
        let mut prefetch_mbox = option("prefetch mbox");
        prefetch_mbox["name"] = json!("b");
        let mut execute_mbox = option("execute mbox");
        execute_mbox["name"] = json!("a");
        let answer = wrap(
            json!({
                "prefetch": {"mboxes": [prefetch_mbox], "views": [option("view")],
                             "pageLoad": option("prefetch page")},
                "execute": {"mboxes": [execute_mbox], "pageLoad": option("execute page")}
            }),
            None,
        );
        let tokens: Vec<_> = answer
            .response_tokens
            .iter()
            .flatten()
            .map(|t| t["t"].clone())
            .collect();
        let order = [
            "execute page",
            "execute mbox",
            "prefetch page",
            "view",
            "prefetch mbox",
        ];
        assert_eq!(tokens, order.map(serde_json::Value::from));
        assert_eq!(answer.analytics_details.map(|a| a.len()), Some(5));
        assert_eq!(answer.trace, None);
    }

    #[test]
    fn nothing_decided_leaves_the_lists_out() {
        let answer = wrap(json!({"execute": {"mboxes": [{"name": "a"}]}}), None);
        assert_eq!(answer.response_tokens, None);
        assert!(answer.analytics_details.is_none());
        assert_eq!(answer.target_location_hint_cookie, None);
        assert!(answer.target_cookie.value.starts_with("session#s1#"));
    }

    #[test]
    fn the_cluster_comes_from_the_request_else_from_the_edge_host() {
        let edge = json!({"edgeHost": "mboxedge31.tt.omtrdc.net"});
        let hint = |a: TargetDeliveryResponse| a.target_location_hint_cookie.map(|c| c.value);
        assert_eq!(hint(wrap(edge.clone(), None)).as_deref(), Some("31"));
        assert_eq!(hint(wrap(edge, Some("28"))).as_deref(), Some("28"));
    }
}
