//! Egress as companies run it: Target behind a TLS certificate from a private CA (made
//! at test time) and reached only through an HTTP CONNECT proxy. The real binary, told
//! the CA by `upstream.ca_file` and the proxy by `HTTPS_PROXY`, fetches the artifact,
//! gets a server-side decision and delivers a notification, all through the proxy.

use serde_json::json;

use crate::common::egress::{ConnectProxy, TestCa, TlsFront};
use crate::common::{FakeUpstream, OfferdProcess, PATIENCE, TempDir, eventually, example};

/// Starts offerd in `dir` against `front` (https on localhost) through `proxy`;
/// `ca_file` names the CA file, or none.
fn offerd(
    fake: &FakeUpstream,
    front: &TlsFront,
    proxy: &ConnectProxy,
    dir: &TempDir,
    label: &str,
    ca_file: Option<&str>,
) -> OfferdProcess {
    let base = format!("https://localhost:{}", front.port);
    let mut env = vec![
        ("OFFERD_UPSTREAM__SERVER_DOMAIN", "localhost".to_string()),
        ("OFFERD_UPSTREAM__PORT", front.port.to_string()),
        ("OFFERD_UPSTREAM__SECURE", "true".to_string()),
        ("OFFERD_ARTIFACT__LOCATION", format!("{base}/rules.json")),
        ("OFFERD_GEO__URL", format!("{base}/geo")),
        ("OFFERD_BATCHER__LINGER_MS", "20".to_string()),
        ("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port)),
        // The test's own environment must not route loopback around the proxy.
        ("NO_PROXY", String::new()),
        ("no_proxy", String::new()),
    ];
    if let Some(path) = ca_file {
        env.push(("OFFERD_UPSTREAM__CA_FILE", path.to_string()));
    }
    OfferdProcess::start(fake, dir.path(), label, &env)
}

#[actix_rt::test]
async fn through_a_connect_proxy_to_a_target_behind_a_private_ca() {
    let dir = TempDir::new("egress");
    let fake = FakeUpstream::start();
    let ca = TestCa::new();
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write the CA file");
    let front = TlsFront::start(&ca, fake.port).await;
    let proxy = ConnectProxy::start().await;
    let ca_file = ca_file.display().to_string();
    let mut offerd = offerd(&fake, &front, &proxy, &dir, "egress", Some(&ca_file));
    offerd.wait_ready(PATIENCE * 3).await;

    let mut remote = example("execute-one-mbox.json");
    remote["decisioning_method"] = json!("server-side");
    let caller = offerd.caller();
    let (status, answer) = caller
        .post_json("/v1/offers", &remote)
        .await
        .expect("answered");
    assert_eq!(status, 200, "{answer}\n{}", offerd.log());
    let local = example("execute-one-mbox.json");
    let (status, answer) = caller
        .post_json("/v1/offers", &local)
        .await
        .expect("answered");
    assert_eq!(status, 200, "{answer}");

    let delivered = eventually(PATIENCE, || async {
        !fake.notification_requests().is_empty()
    })
    .await;
    assert!(
        delivered,
        "no notification reached Target\n{}",
        offerd.log()
    );
    assert_eq!(fake.decision_requests().len(), 1);
    assert!(fake.artifact_requests() >= 1);
    let tunnels = proxy.tunnels();
    let expected = format!("localhost:{}", front.port);
    assert!(
        tunnels.len() >= 2 && tunnels.iter().all(|t| *t == expected),
        "every call goes through the proxy to {expected}: {tunnels:?}"
    );
    eprintln!(
        "egress: {} CONNECT tunnels to {expected}; the TLS fake saw {} artifact download(s), \
         {} decision request(s), {} notification request(s)",
        tunnels.len(),
        fake.artifact_requests(),
        fake.decision_requests().len(),
        fake.notification_requests().len()
    );
    offerd.kill();
}

#[actix_rt::test]
async fn without_the_ca_file_the_private_certificate_is_refused() {
    let dir = TempDir::new("egress-untrusted");
    let fake = FakeUpstream::start();
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, fake.port).await;
    let proxy = ConnectProxy::start().await;
    let mut offerd = offerd(&fake, &front, &proxy, &dir, "untrusted", None);

    // The artifact download is the first call: through the tunnel, refused at the
    // handshake, logged with the reason.
    let tried = eventually(PATIENCE * 3, || async {
        !proxy.tunnels().is_empty() && offerd.log().contains("certificate")
    })
    .await;
    assert!(tried, "offerd never tried the proxy\n{}", offerd.log());
    assert_eq!(
        fake.artifact_requests(),
        0,
        "an untrusted server got a request"
    );
    offerd.kill();
}
