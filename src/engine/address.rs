//! PLACEHOLDER until the real port lands.
#[derive(Default)]
pub struct UrlContext {
    pub url: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
    pub subdomain: String,
    pub domain: String,
    pub top_level_domain: String,
}
pub fn url_context(url: &str) -> UrlContext {
    UrlContext { url: url.to_string(), ..Default::default() }
}
impl UrlContext {
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("url".into(), self.url.clone().into());
        m.insert("domain".into(), self.domain.clone().into());
        m
    }
}
