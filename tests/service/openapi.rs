//! `/openapi.json` against the routes offerd serves, so the two cannot drift.
//!
//! One direction is checked where routes are registered: `routes.rs` registers a route
//! only if it is a row of `http::openapi::ENDPOINTS`, the table the document is made
//! from (a debug assertion, so every test that starts a server checks it). These tests
//! check the other: every operation in the served document is served, with its method,
//! on the listener its tag names, and any other method there is a 405 naming it.

use std::collections::BTreeSet;

use offerd::http::openapi::{ENDPOINTS, Listener};
use reqwest::Method;
use serde_json::Value;

use crate::common::TestApp;
use crate::common::process::free_port;

/// (method, path, tag) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let tag = operation["tags"][0].as_str().unwrap_or("untagged");
            found.insert((method.to_uppercase(), path.clone(), tag.to_string()));
        }
    }
    found
}

/// The route table, in the same form.
fn table() -> BTreeSet<(String, String, String)> {
    ENDPOINTS
        .iter()
        .map(|e| {
            (
                e.verb.as_str().into(),
                e.path.into(),
                e.listener.tag().into(),
            )
        })
        .collect()
}

/// Sends `method url` (with a JSON `{}` for a POST): the status and the `Allow` header.
async fn call(method: &str, url: &str, token: Option<&str>) -> (u16, Option<String>) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method.clone(), url);
    if method == Method::POST {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), allow)
}

/// `method path` is served at `base`: not a 404 or 405, and any other method is a 405
/// naming `method`.
async fn assert_served(base: &str, method: &str, path: &str, token: Option<&str>) {
    let url = format!("{base}{path}");
    let (status, _) = call(method, &url, token).await;
    assert!(
        status != 404 && status != 405,
        "{method} {path} is documented but answers {status}"
    );
    let other = if method == "GET" { "POST" } else { "GET" };
    let (status, allow) = call(other, &url, token).await;
    assert_eq!(status, 405, "{other} {path}");
    assert_eq!(allow.as_deref(), Some(method), "{other} {path}: Allow");
}

async fn get_document(base: &str, token: Option<&str>) -> Value {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = http.get(format!("{base}/openapi.json"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    response.json().await.unwrap()
}

#[actix_rt::test]
async fn every_documented_route_is_served_with_its_method() {
    let app = TestApp::ready(|_| {}).await;
    let doc = get_document(&app.base_url, None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let documented = operations(&doc);
    assert_eq!(documented, table(), "the document is the route table");
    for (method, path, _) in &documented {
        assert_served(&app.base_url, method, path, None).await;
    }
    let (status, _) = call("GET", &format!("{}/v1/undocumented", app.base_url), None).await;
    assert_eq!(status, 404, "an unknown path is a 404");
}

#[actix_rt::test]
async fn with_an_admin_listener_each_route_is_where_its_tag_says() {
    let admin_port = free_port();
    let app = TestApp::ready(|c| {
        c.server.admin_bind = Some(format!("127.0.0.1:{admin_port}"));
    })
    .await;
    let admin = format!("http://127.0.0.1:{admin_port}");
    let (status, _) = call("GET", &format!("{}/openapi.json", app.base_url), None).await;
    assert_eq!(status, 404, "the document is served with the operations");
    let doc = get_document(&admin, None).await;
    for (method, path, tag) in operations(&doc) {
        let (here, elsewhere) = if tag == Listener::Operations.tag() {
            (&admin, &app.base_url)
        } else {
            assert_eq!(tag, Listener::Decisions.tag(), "{path}");
            (&app.base_url, &admin)
        };
        assert_served(here, &method, &path, None).await;
        let (status, _) = call(&method, &format!("{elsewhere}{path}"), None).await;
        assert_eq!(status, 404, "{method} {path} is not on the other listener");
    }
}

#[actix_rt::test]
async fn the_document_says_which_routes_need_a_token() {
    let app = TestApp::ready(|c| c.server.auth_tokens = vec!["doc-token".into()]).await;
    let doc = get_document(&app.base_url, None).await;
    let schemes = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["scheme"], "bearer", "{schemes}");
    for (method, path, tag) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let secured = operation["security"][0].get("bearer").is_some();
        assert_eq!(secured, tag == Listener::Decisions.tag(), "{method} {path}");
        let (status, _) = call(&method, &format!("{}{path}", app.base_url), None).await;
        assert_eq!(status == 401, secured, "{method} {path} answered {status}");
    }

    let app = TestApp::ready(|c| {
        c.server.auth_tokens = vec!["doc-token".into()];
        c.server.protect_operations = true;
    })
    .await;
    let (status, _) = call("GET", &format!("{}/openapi.json", app.base_url), None).await;
    assert_eq!(status, 401, "protected like /metrics");
    let doc = get_document(&app.base_url, Some("doc-token")).await;
    for (method, path, _) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        assert!(operation["responses"].get("401").is_some(), "{path}");
        assert_served(&app.base_url, &method, &path, Some("doc-token")).await;
    }
}
