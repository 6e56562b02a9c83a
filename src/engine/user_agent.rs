//! PLACEHOLDER until the real port lands.
pub struct ClientHintsView<'a> {
    pub platform: Option<&'a str>,
    pub browser_ua_with_full_version: Option<&'a str>,
    pub browser_ua_with_major_version: Option<&'a str>,
}
pub struct UserContext {
    pub browser_type: String,
    pub browser_version: i64,
    pub platform: String,
}
pub fn user_context(_ua: &str, _hints: Option<&ClientHintsView>) -> UserContext {
    UserContext { browser_type: "unknown".into(), browser_version: -1, platform: "unknown".into() }
}
