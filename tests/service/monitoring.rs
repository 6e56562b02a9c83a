//! The alert rules and the dashboard name only metrics offerd serves: every
//! `offerd_*` name in `deploy/monitoring/alerts.yml` and `dashboard.json` is in
//! `/metrics` after some traffic, so a renamed metric breaks the build, not the pager.
//! And the Helm chart's copy of the rules is the plain file, byte for byte.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;

use crate::common::{PATIENCE, TempDir, TestApp, eventually, example};

fn repo(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `offerd_*` metric names a rules file or dashboard mentions.
fn names_in(text: &str) -> BTreeSet<String> {
    let name = regex::Regex::new(r"\bofferd_[a-z0-9_]*[a-z0-9]").expect("a valid pattern");
    name.find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// The sample names of a Prometheus text exposition (histograms as their `_bucket`,
/// `_sum` and `_count` series).
fn names_served(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[actix_rt::test]
async fn every_metric_the_alerts_and_the_dashboard_name_is_served() {
    let spool = TempDir::new("monitoring");
    let app = TestApp::ready(|c| c.spool.dir = Some(spool.path().to_path_buf())).await;
    // Traffic that makes every labelled family appear: an on-device decision (a
    // notification owed and sent), a server-side one (a Delivery API call), a 404.
    let local = example("execute-one-mbox.json");
    assert_eq!(app.post_json("/v1/offers", &local).await.0, 200);
    let mut remote = local.clone();
    remote["decisioning_method"] = json!("server-side");
    assert_eq!(app.post_json("/v1/offers", &remote).await.0, 200);
    assert_eq!(app.get("/no-such-page").await.0, 404);
    let sent = eventually(PATIENCE, || async {
        app.metric_total("offerd_notifications_sent_total").await >= 1.0
    })
    .await;
    assert!(sent, "the notification was not sent");

    let (_, exposition) = app.get("/metrics").await;
    let served = names_served(&exposition);
    for file in [
        "deploy/monitoring/alerts.yml",
        "deploy/monitoring/dashboard.json",
    ] {
        let text = repo(file);
        if file.ends_with(".json") {
            let dashboard: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert!(
                dashboard["panels"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
            );
        }
        let named = names_in(&text);
        assert!(named.len() >= 8, "{file} names only {named:?}");
        let missing: Vec<_> = named.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics offerd does not serve: {missing:?}\nserved: {served:?}"
        );
    }
    assert!(served.contains("offerd_spool_max_bytes"));
    let bound = app.metric("offerd_spool_max_bytes").await;
    assert!(
        bound.is_some_and(|b| b > 0.0),
        "the spool's bound: {bound:?}"
    );
}

#[test]
fn the_charts_rules_are_the_plain_rules_file() {
    assert_eq!(
        repo("deploy/helm/offerd/files/alerts.yml"),
        repo("deploy/monitoring/alerts.yml"),
        "copy deploy/monitoring/alerts.yml to deploy/helm/offerd/files/alerts.yml"
    );
}

#[test]
fn a_renamed_metric_would_be_caught() {
    let served =
        names_served("# HELP x\nofferd_a_total{r=\"1\"} 1\nofferd_b_seconds_bucket{le=\"1\"} 2\n");
    let named = names_in("expr: rate(offerd_a_total[5m]) / offerd_renamed_total");
    let missing: Vec<_> = named.difference(&served).collect();
    assert_eq!(missing, ["offerd_renamed_total"]);
}
