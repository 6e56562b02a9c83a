//! An OpenTelemetry collector played on 127.0.0.1:0: an OTLP/HTTP receiver
//! (`POST /v1/traces`, protobuf) that decodes each `ExportTraceServiceRequest` with the
//! `opentelemetry-proto` types and keeps every span with its resource's attributes.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One exported span, as the collector received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub span: Span,
    /// The attributes of the resource that sent it (`service.name`, ...).
    pub resource: Vec<KeyValue>,
}

impl Received {
    /// The span's trace id, as hex.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// A span attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        find(&self.span.attributes, key)
    }

    /// A resource attribute, as text.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        find(&self.resource, key)
    }

    /// Every attribute value of the span, as text.
    pub fn attribute_values(&self) -> Vec<String> {
        let values = self
            .span
            .attributes
            .iter()
            .filter_map(|kv| kv.value.as_ref());
        values.map(text).collect()
    }
}

fn find(attributes: &[KeyValue], key: &str) -> Option<String> {
    let attribute = attributes.iter().find(|kv| kv.key == key)?;
    attribute.value.as_ref().map(text)
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The receiver; stopped when dropped.
pub struct OtlpReceiver {
    pub base_url: String,
    spans: Arc<Mutex<Vec<Received>>>,
    handle: ServerHandle,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("bound address").port();
        let data = web::Data::from(spans.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/v1/traces", web::post().to(traces))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen on the receiver")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            spans,
            handle,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn traces(spans: web::Data<Mutex<Vec<Received>>>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut received = spans.lock().unwrap_or_else(|e| e.into_inner());
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| r.attributes);
        let resource = resource.unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                received.push(Received {
                    span,
                    resource: resource.clone(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}
