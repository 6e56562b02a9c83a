//! Feature-flag attributes (the SDKs' getAttributes): ask for the flag mboxes, then read
//! the JSON offers they return, merged per mbox.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::TargetDeliveryResponse;
use crate::model::{DeliveryRequest, DeliveryResponse, MboxRequest, OptionType};

/// Feature-flag attributes by mbox name, and the response they came from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attributes {
    pub attributes: Map<String, Value>,
    pub response: TargetDeliveryResponse,
}

/// Adds the mboxes the request does not ask for yet to `execute.mboxes`, with indexes
/// after the highest one given, as the SDKs' getAttributes does.
pub(super) fn add_mboxes(request: &mut DeliveryRequest, names: &[String]) {
    let requested: Vec<String> = [
        request.execute.as_ref().and_then(|e| e.mboxes.as_ref()),
        request.prefetch.as_ref().and_then(|p| p.mboxes.as_ref()),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter_map(|m| m.name.clone())
    .collect();
    let execute = request.execute.get_or_insert_with(Default::default);
    let mboxes = execute.mboxes.get_or_insert_with(Vec::new);
    let mut index = mboxes.iter().filter_map(|m| m.index).max().unwrap_or(0);
    for name in names.iter().filter(|n| !requested.contains(n)) {
        // Saturating: a caller's index may be i64::MAX.
        index = index.saturating_add(1);
        mboxes.push(MboxRequest {
            name: Some(name.clone()),
            index: Some(index),
            ..Default::default()
        });
    }
}

/// JSON offers merged per mbox name, prefetch first then execute, as the SDKs do.
pub(crate) fn attributes_of(response: &DeliveryResponse) -> Map<String, Value> {
    let mut by_mbox: HashMap<String, Map<String, Value>> = HashMap::new();
    let mut order = Vec::new();
    let prefetch = response.prefetch.as_ref().and_then(|p| p.mboxes.as_ref());
    let execute = response.execute.as_ref().and_then(|e| e.mboxes.as_ref());
    for mbox in prefetch
        .into_iter()
        .flatten()
        .chain(execute.into_iter().flatten())
    {
        let Some(name) = &mbox.name else { continue };
        for option in mbox.options.iter().flatten() {
            if let (Some(OptionType::Json), Some(Value::Object(content))) =
                (option.kind, &option.content)
            {
                if !by_mbox.contains_key(name) {
                    order.push(name.clone());
                }
                let entry = by_mbox.entry(name.clone()).or_default();
                entry.extend(content.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|name| by_mbox.remove(&name).map(|m| (name, Value::Object(m))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_mboxes_are_added_after_the_highest_index() {
        let mut request: DeliveryRequest = serde_json::from_value(json!({
            "execute": {"mboxes": [{"name": "a", "index": 4}]},
            "prefetch": {"mboxes": [{"name": "b", "index": 1}]}
        }))
        .unwrap();
        add_mboxes(
            &mut request,
            &["a".into(), "b".into(), "c".into(), "d".into()],
        );
        let mboxes = request.execute.unwrap().mboxes.unwrap();
        let names: Vec<_> = mboxes
            .iter()
            .map(|m| (m.name.clone().unwrap(), m.index.unwrap()))
            .collect();
        assert_eq!(names, [("a".into(), 4), ("c".into(), 5), ("d".into(), 6)]);
    }

    #[test]
    fn the_highest_index_does_not_overflow() {
        let mut request: DeliveryRequest = serde_json::from_value(json!({
            "execute": {"mboxes": [{"name": "a", "index": i64::MAX}]}
        }))
        .unwrap();
        add_mboxes(&mut request, &["b".into(), "c".into()]);
        let mboxes = request.execute.unwrap().mboxes.unwrap();
        let indexes: Vec<_> = mboxes.iter().map(|m| m.index.unwrap()).collect();
        assert_eq!(indexes, [i64::MAX; 3]);
    }

    #[test]
    fn json_offers_merge_per_mbox() {
        let response: DeliveryResponse = serde_json::from_value(json!({
            "prefetch": {"mboxes": [{"name": "f", "options": [{"type": "json", "content": {"a": 1, "b": 1}}]}]},
            "execute": {"mboxes": [
                {"name": "f", "options": [{"type": "json", "content": {"b": 2}}]},
                {"name": "h", "options": [{"type": "html", "content": "<p>"}]}
            ]}
        }))
        .unwrap();
        assert_eq!(
            Value::Object(attributes_of(&response)),
            json!({"f": {"a": 1, "b": 2}})
        );
    }
}
