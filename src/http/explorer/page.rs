//! The explorer's HTML, in maud templates: every string from the artifact or the
//! request goes through maud's escaping (`(value)` in a template), never `PreEscaped`.

use maud::{DOCTYPE, Markup, html};

use crate::client::TargetDeliveryResponse;
use crate::explorer::outcome::{ActivityOutcome, Outcome, Verdict};
use crate::explorer::view::{Activity, ArtifactView, Experience, Location};
use crate::model::DeliveryRequest;

/// The whole page: the artifact (when one is loaded) and the try-a-request form.
pub fn page(view: Option<&ArtifactView>, offers_url: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "offerd decision explorer" }
                // No favicon request (a 404 in the console): an empty one, inline.
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/explorer/assets/explorer.css";
                script src="/explorer/assets/explorer.js" defer {}
            }
            body {
                header.top {
                    h1 { "offerd decision explorer" }
                    p.lead { "What the loaded artifact contains, and why a visitor gets what they get. Read-only: trying a request sends nothing to Target and counts no decision." }
                }
                main {
                    @match view {
                        Some(view) => {
                            (provenance(view))
                            (form(view, offers_url))
                            (artifact(view))
                        }
                        None => p.notice role="status" { "No artifact is loaded yet (or offerd decides server-side only): nothing to explore. Reload once /health/ready answers 200." }
                    }
                }
            }
        }
    }
}

fn provenance(view: &ArtifactView) -> Markup {
    let p = &view.provenance;
    html! {
        section.card aria-labelledby="artifact-heading" {
            h2 #artifact-heading { "Artifact" }
            dl.facts {
                dt { "Version" } dd { (p.version) }
                dt { "Generated at" } dd { (p.generated_at) }
                dt { "ETag" } dd { code { (p.etag) } }
                dt { "Source" } dd { code { (p.source) } }
                dt { "Loaded at" } dd { (p.fetched_at) }
                dt { "Last refresh" } dd { (p.last_success) }
                dt { "Last error" } dd { (p.last_error) }
                dt { "Polling" } dd { (p.polling) " (" (p.refreshes) ")" }
                dt { "Activities" } dd #activity-count { (view.activity_count) }
            }
        }
    }
}

fn form(view: &ArtifactView, offers_url: &str) -> Markup {
    let first_mbox = view
        .locations
        .iter()
        .find(|l| l.kind.as_str() == "mbox")
        .map(|l| l.name.as_str())
        .unwrap_or_default();
    let first_view = view
        .locations
        .iter()
        .find(|l| l.kind.as_str() == "view")
        .map(|l| l.name.as_str())
        .unwrap_or_default();
    html! {
        section.card aria-labelledby="try-heading" {
            h2 #try-heading { "Try a request" }
            form #try-form data-offers-url=(offers_url) novalidate {
                fieldset {
                    legend { "What to decide" }
                    div.choices {
                        label { input type="radio" name="kind" value="mboxes" checked; " Mboxes" }
                        label { input type="radio" name="kind" value="pageLoad"; " Page load" }
                        label { input type="radio" name="kind" value="view"; " View" }
                    }
                    (field("mboxes", "Mbox names (comma-separated)", first_mbox, "text"))
                    (field("view", "View name", first_view, "text"))
                }
                fieldset {
                    legend { "Visitor" }
                    div.grid {
                        (field("visitor", "Visitor id (tntId)", "explorer-visitor-1", "text"))
                        (field("url", "Page URL", "https://www.example.com/", "url"))
                        (field("referrer", "Referrer", "", "url"))
                        (field("userAgent", "User agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "text"))
                        (field("country", "Country code", "", "text"))
                        (field("region", "Region (state) code", "", "text"))
                        (field("city", "City", "", "text"))
                        (field("propertyToken", "Property token", "", "text"))
                        (field("at", "Time (RFC 3339, empty = now)", "", "text"))
                    }
                    label for="f-params" { "Mbox parameters (key=value, one a line)" }
                    textarea #f-params name="params" rows="3" {}
                }
                div.actions {
                    button type="submit" { "Decide" }
                    button type="button" #copy-curl { "Copy as curl" }
                    button type="button" #share-link { "Share link" }
                }
                p #form-status role="status" aria-live="polite" {}
                pre #curl-text hidden {}
            }
            div #result aria-live="polite" {}
        }
    }
}

fn field(name: &str, label: &str, value: &str, kind: &str) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input #(id) type=(kind) name=(name) value=(value) autocomplete="off";
        }
    }
}

fn artifact(view: &ArtifactView) -> Markup {
    html! {
        section.card aria-labelledby="rules-heading" {
            h2 #rules-heading { "Mboxes and views" }
            div.field {
                label for="search" { "Search mbox, activity and offer names" }
                input #search type="search" autocomplete="off";
            }
            p #search-count role="status" aria-live="polite" {}
            @for location in &view.locations {
                (location_section(location))
            }
            @if !view.remote_only.is_empty() {
                section.location {
                    h3 { "Decided by Target" }
                    p { "These have no rules in the artifact: Target's edge decides them (hybrid or server-side)." }
                    ul {
                        @for (kind, name) in &view.remote_only {
                            li.remote-only data-search=(name.to_lowercase()) { (kind.as_str()) " " code { (name) } " " span.badge.remote { "decided by Target" } }
                        }
                    }
                }
            }
        }
    }
}

fn location_section(location: &Location) -> Markup {
    html! {
        section.location data-name=(location.name) {
            h3 {
                span.kind { (location.kind.as_str()) } " " (location.name)
                @if location.remote { " " span.badge.remote { "partly decided by Target" } }
            }
            @for activity in &location.activities {
                (activity_card(location, activity))
            }
        }
    }
}

fn activity_card(location: &Location, activity: &Activity) -> Markup {
    let offers: Vec<&str> = activity
        .experiences
        .iter()
        .flat_map(|e| e.offers.iter().map(|o| o.name.as_str()))
        .collect();
    let search = format!("{} {} {}", location.name, activity.name, offers.join(" ")).to_lowercase();
    html! {
        article.activity data-search=(search) data-activity-id=(activity.id) {
            h4 { (activity.name) " " span.badge { (activity.kind) } }
            p.meta {
                "activity " (activity.id)
                @if !activity.property_tokens.is_empty() { " · property tokens: " (activity.property_tokens.join(", ")) }
                " · " (activity.time_frame.as_deref().unwrap_or("no time frame"))
            }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Experience" } th scope="col" { "Allocation" } th scope="col" { "Audience" } th scope="col" { "Offer" } } }
                    tbody {
                        @for experience in &activity.experiences { (experience_row(experience)) }
                    }
                }
            }
        }
    }
}

fn experience_row(experience: &Experience) -> Markup {
    html! {
        tr {
            td { (experience.name) }
            td { (range(experience.allocation)) }
            td {
                (experience.audience)
                details { summary { "JsonLogic" } pre { (experience.condition_json) } }
            }
            td {
                @for offer in &experience.offers {
                    div.offer {
                        (offer.name) " " span.badge { (offer.kind) }
                        details { summary { "content" } pre { (offer.content) } }
                    }
                }
            }
        }
    }
}

fn range(range: Option<(f64, f64)>) -> String {
    match range {
        Some((lo, hi)) => format!("{}–{} %", number(lo), number(hi)),
        None => "100 % (not split)".into(),
    }
}

fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

/// The explanation of one tried request: an HTML fragment the page inserts.
pub fn outcome(
    outcome: &Outcome,
    request: &DeliveryRequest,
    answer: &TargetDeliveryResponse,
) -> Markup {
    let request_json = serde_json::to_string_pretty(request).unwrap_or_default();
    let answer_json = serde_json::to_string_pretty(answer).unwrap_or_default();
    html! {
        div.outcome {
            h3 { "Offers" }
            @if outcome.offers.is_empty() { p { "No offer." } }
            ul.offers {
                @for offer in &outcome.offers {
                    li { strong { (offer.location) } " " span.badge { (offer.kind) } pre { (offer.content) } }
                }
            }
            @if !outcome.remote.is_empty() {
                p.notice { "Decided by Target, not here: " (outcome.remote.join(", ")) }
            }
            h3 { "Response tokens" }
            @if outcome.response_tokens.is_empty() { p { "None." } }
            @else {
                @for tokens in &outcome.response_tokens {
                    dl.facts.tokens {
                        @for (key, value) in tokens { dt { (key) } dd { (value) } }
                    }
                }
            }
            h3 { "Why" }
            @for location in &outcome.locations {
                section.location {
                    h4 { (location.kind.as_str()) " " (location.name) }
                    @if !location.known { p { "The artifact has no rules for it." } }
                    @else if !location.traced {
                        p.notice { "No trace for it: nothing matched here (like Target's SDKs, offerd attaches a page-load or view trace only to a match). The clauses below are not evaluated; check the property token and the conditions." }
                    }
                    @for activity in &location.activities { (activity_outcome(activity)) }
                }
            }
            details { summary { "Request (as sent to /v1/offers)" } pre.raw-request { (request_json) } }
            details { summary { "Answer (with trace)" } pre.raw-response { (answer_json) } }
        }
    }
}

fn activity_outcome(activity: &ActivityOutcome) -> Markup {
    html! {
        article.activity.explained data-activity-id=(activity.id) {
            h5 { (activity.name) " " span.badge { (activity.kind) } }
            @if let Some(excluded) = &activity.excluded { p.notice { (excluded) } }
            p.meta {
                "bucket: " (activity.bucket.map_or_else(|| "not evaluated".to_owned(), number))
                " · winner: " strong.winner { (activity.winner.as_deref().unwrap_or("none")) }
            }
            ul.experiences {
                @for experience in &activity.experiences {
                    li class=(verdict_class(experience.verdict)) {
                        strong { (experience.name) } " — " (experience.verdict.as_str())
                        @if let Some(r) = experience.range {
                            " · range " (range(Some(r)))
                            @match experience.in_range { Some(true) => " (bucket inside)", Some(false) => " (bucket outside)", None => "" }
                        }
                        ul.clauses {
                            @for clause in &experience.clauses {
                                li {
                                    @match clause.holds {
                                        Some(true) => span.ok { "✓ matched" },
                                        Some(false) => span.bad { "✗ failed" },
                                        None => span.unknown { "? not evaluated" },
                                    }
                                    " " (clause.text)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Won => "won",
        Verdict::Failed => "failed",
        Verdict::NotEvaluated => "skipped",
    }
}
