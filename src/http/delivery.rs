//! `POST /rest/v1/delivery`: Target's own Delivery API, so Target's clients (the SDKs
//! in server-side mode, at.js) can point at offerd. It checks what the Delivery API's
//! spec requires, answers in Target's shapes (errors as `{status, message}`, 204 for a
//! beacon), decides the execute and prefetch parts and queues the notifications.
//!
//! Where Target is known to accept more than its spec says, offerd follows Target; each
//! such place says so.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::body::parse;
use super::error::ApiError;
use crate::client::{
    GetOffersOptions, SendNotificationsOptions, TargetClient, validate_notifications,
};
use crate::config::TargetConfig;
use crate::engine::{IdGenerator, RandomIds};
use crate::model::{DeliveryRequest, DeliveryResponse, VisitorId};

/// The query: who is asking (`client` as at.js sends it, or `imsOrgId` as the SDKs do)
/// and the session that routes the visitor's profile.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryQuery {
    client: Option<String>,
    ims_org_id: Option<String>,
    session_id: Option<String>,
}

pub async fn delivery(
    client: web::Data<TargetClient>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    answer(&client, &req, &body)
        .await
        .map_err(ApiError::target_shaped)
}

async fn answer(
    client: &TargetClient,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let session_id = check_query(req.query_string(), &client.config().target)?;
    check_content_type(req)?;
    let mut request: DeliveryRequest = parse(body)?;
    check_request(&request)?;
    // Made here, not per part, so the decision and the notifications share it.
    request
        .request_id
        .get_or_insert_with(|| RandomIds.next_id());
    let beacon = request.context.as_ref().and_then(|c| c.beacon) == Some(true);

    let (response, method) = if request.execute.is_none() && request.prefetch.is_none() {
        if request
            .notifications
            .as_ref()
            .is_some_and(|n| !n.is_empty())
        {
            (notify(client, request, &session_id, None).await?, None)
        } else {
            decide_delivery_request(client, request, session_id).await?
        }
    } else {
        let notifications = request.notifications.take().filter(|n| !n.is_empty());
        let (mut response, method) =
            decide_delivery_request(client, request.clone(), session_id.clone()).await?;
        if let Some(notifications) = notifications {
            request.notifications = Some(notifications);
            let id = response.id.clone();
            response.notifications = notify(client, request, &session_id, id)
                .await?
                .notifications;
        }
        (response, method)
    };

    let mut answer = if beacon {
        // The spec: a beacon is answered 204, without a body.
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::Ok().json(response)
    };
    if let Some(method) = method {
        // For the access log line.
        answer.extensions_mut().insert(method);
    }
    Ok(answer)
}

/// Decides `request` as get_offers does, without the SDK's option checks.
async fn decide_delivery_request(
    client: &TargetClient,
    request: DeliveryRequest,
    session_id: String,
) -> Result<(DeliveryResponse, Option<crate::model::DecisioningMethod>), ApiError> {
    let options = GetOffersOptions {
        request: Box::new(request),
        session_id: Some(session_id),
        ..Default::default()
    };
    let decided = client.get_offers_unchecked(options).await?;
    Ok((*decided.response, Some(decided.meta.decisioning_method)))
}

/// Queues the request's notifications for `id`'s visitor (the decided one, when the
/// request was decided too).
async fn notify(
    client: &TargetClient,
    mut request: DeliveryRequest,
    session_id: &str,
    id: Option<VisitorId>,
) -> Result<DeliveryResponse, ApiError> {
    request.execute = None;
    request.prefetch = None;
    if id.is_some() {
        request.id = id;
    }
    let options = SendNotificationsOptions {
        request: Box::new(request),
        session_id: Some(session_id.to_string()),
        ..Default::default()
    };
    Ok(client.send_notifications(options).await?)
}

/// The query's checks; answers the session id.
fn check_query(query: &str, target: &TargetConfig) -> Result<String, ApiError> {
    let query = web::Query::<DeliveryQuery>::from_query(query)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?
        .into_inner();
    let given = |value: Option<String>| value.filter(|v| !v.is_empty());
    let (asked_client, asked_org) = (given(query.client), given(query.ims_org_id));
    // The spec requires imsOrgId; at.js sends only `client` and Target takes it, so
    // either one will do.
    if asked_client.is_none() && asked_org.is_none() {
        return Err(ApiError::bad_request(
            "the query must name the client (client=) or the organization (imsOrgId=)",
        ));
    }
    if let Some(asked) = asked_client.filter(|c| *c != target.client) {
        return Err(ApiError::bad_request(format!(
            "client {asked:?} is not served here (this offerd serves {:?})",
            target.client
        )));
    }
    if let Some(asked) = asked_org.filter(|o| *o != target.organization_id) {
        return Err(ApiError::bad_request(format!(
            "organization {asked:?} is not served here (this offerd serves {:?})",
            target.organization_id
        )));
    }
    let session_id = query
        .session_id
        .ok_or_else(|| ApiError::bad_request("the query must carry sessionId"))?;
    check_session_id(&session_id)?;
    Ok(session_id)
}

/// The spec: 1 to 128 printable characters, none of them a space, `?` or `/`.
fn check_session_id(session_id: &str) -> Result<(), ApiError> {
    let length = session_id.chars().count();
    let printable = |c: char| !c.is_control() && !c.is_whitespace() && c != '?' && c != '/';
    if !(1..=MAX_ID).contains(&length) || !session_id.chars().all(printable) {
        return Err(ApiError::bad_request(
            "sessionId must be 1 to 128 printable characters, without spaces, '?' or '/'",
        ));
    }
    Ok(())
}

/// JSON, as the spec says; `text/plain` too, since browsers send a beacon
/// (`navigator.sendBeacon` with a string) and at.js its calls that way, to avoid a CORS
/// preflight, and Target takes them.
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let essence = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json" | "text/plain") => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body must be sent as application/json, not {}",
                other.unwrap_or("without a Content-Type")
            ),
        )),
    }
}

/// The longest id the spec allows (visitor ids, request and impression ids).
const MAX_ID: usize = 128;

/// The body's checks from the spec: what is required, and how long ids may be.
fn check_request(request: &DeliveryRequest) -> Result<(), ApiError> {
    if request.extra.contains_key("request") {
        return Err(ApiError::bad_request(
            "this endpoint takes a Delivery API request itself; get_offers options ({\"request\": ...}) go to /v1/offers",
        ));
    }
    let context = request
        .context
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("context is required"))?;
    if context.channel.is_none() {
        return Err(ApiError::bad_request(
            "context.channel is required (\"web\" or \"mobile\")",
        ));
    }
    if request
        .property
        .as_ref()
        .is_some_and(|p| p.token.as_deref().is_none_or(str::is_empty))
    {
        return Err(ApiError::bad_request(
            "property.token is required when property is given",
        ));
    }
    let mut lengths = Lengths::default();
    lengths.check("requestId", request.request_id.as_deref(), MAX_ID);
    lengths.check("impressionId", request.impression_id.as_deref(), MAX_ID);
    if let Some(id) = &request.id {
        lengths.check("id.tntId", id.tnt_id.as_deref(), MAX_ID);
        lengths.check("id.thirdPartyId", id.third_party_id.as_deref(), MAX_ID);
        let mcid = id.marketing_cloud_visitor_id.as_deref();
        lengths.check("id.marketingCloudVisitorId", mcid, MAX_ID);
        let customer_ids = id.customer_ids.as_deref().unwrap_or_default();
        if customer_ids.len() > 50 {
            return Err(ApiError::bad_request("id.customerIds holds at most 50 ids"));
        }
        for customer in customer_ids {
            lengths.check("id.customerIds[].id", customer.id.as_deref(), MAX_ID);
            let code = customer.integration_code.as_deref();
            lengths.check("id.customerIds[].integrationCode", code, 50);
        }
    }
    let views = request.prefetch.as_ref().and_then(|p| p.views.as_ref());
    for view in views.into_iter().flatten() {
        lengths.check("prefetch.views[].name", view.name.as_deref(), 128);
        lengths.check("prefetch.views[].key", view.key.as_deref(), 512);
    }
    for notification in request.notifications.iter().flatten() {
        lengths.check("notifications[].id", notification.id.as_deref(), 200);
        let impression = notification.impression_id.as_deref();
        lengths.check("notifications[].impressionId", impression, MAX_ID);
        let mbox = notification.mbox.as_ref().and_then(|m| m.name.as_deref());
        lengths.check("notifications[].mbox.name", mbox, 250);
        if let Some(view) = &notification.view {
            lengths.check("notifications[].view.name", view.name.as_deref(), 128);
            lengths.check("notifications[].view.key", view.key.as_deref(), 512);
        }
    }
    lengths.result()?;
    check_mbox_names(request)?;
    validate_notifications(request).map_err(crate::client::ClientError::from)?;
    Ok(())
}

/// Target needs a name to decide an mbox. (The spec also requires `index`; Target and
/// the SDKs decide mboxes without one, so offerd does too.)
fn check_mbox_names(request: &DeliveryRequest) -> Result<(), ApiError> {
    let execute = request.execute.as_ref().and_then(|e| e.mboxes.as_ref());
    let prefetch = request.prefetch.as_ref().and_then(|p| p.mboxes.as_ref());
    let modes = [("execute", execute), ("prefetch", prefetch)];
    for (mode, mboxes) in modes {
        for (i, mbox) in mboxes.into_iter().flatten().enumerate() {
            if mbox.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                return Err(ApiError::bad_request(format!(
                    "{mode}.mboxes[{i}].name is required"
                )));
            }
            if mbox
                .name
                .as_deref()
                .is_some_and(|n| n.chars().count() > 250)
            {
                return Err(ApiError::bad_request(format!(
                    "{mode}.mboxes[{i}].name is longer than 250 characters"
                )));
            }
        }
    }
    Ok(())
}

/// The first field found too long.
#[derive(Default)]
struct Lengths {
    too_long: Option<(&'static str, usize)>,
}

impl Lengths {
    fn check(&mut self, field: &'static str, value: Option<&str>, max: usize) {
        if self.too_long.is_none() && value.is_some_and(|v| v.chars().count() > max) {
            self.too_long = Some((field, max));
        }
    }

    fn result(self) -> Result<(), ApiError> {
        match self.too_long {
            Some((field, max)) => Err(ApiError::bad_request(format!(
                "{field} is longer than {max} characters"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_follow_the_spec() {
        for good in ["s", "a-b_c.d:e", &"x".repeat(128), "séance"] {
            assert!(check_session_id(good).is_ok(), "{good:?}");
        }
        for bad in ["", "a b", "a?b", "a/b", "a\tb", &"x".repeat(129)] {
            assert!(check_session_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn either_client_or_organization_names_the_caller() {
        let target = TargetConfig::default();
        let org = &target.organization_id;
        assert!(check_query("sessionId=s", &target).is_err());
        assert!(check_query("client=demo&sessionId=s", &target).is_ok());
        assert!(check_query(&format!("imsOrgId={org}&sessionId=s"), &target).is_ok());
        assert!(check_query("client=other&sessionId=s", &target).is_err());
        assert!(check_query("imsOrgId=other&sessionId=s", &target).is_err());
        assert!(check_query("client=demo", &target).is_err());
    }
}
