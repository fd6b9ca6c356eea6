//! The HTTP side: routes, the embedded page, the guard every request passes (Host, Origin,
//! token), and the security headers on every response.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::api::{self, App};
use crate::exit::Failure;

/// The header every API request carries the run's token in.
pub const TOKEN_HEADER: &str = "x-relaykit-token";

const INDEX_HTML: &str = include_str!("page/index.html");
const STYLE_CSS: &str = include_str!("page/style.css");
const APP_JS: &str = include_str!("page/app.js");

/// No inline script or style, nothing from elsewhere, no framing, no form posts anywhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A fresh random token: 32 bytes from the OS, as hex.
pub fn new_token() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Failure::usage(format!("dialog: no random token: {e}")))?;
    Ok(hex::encode(bytes))
}

/// `127.0.0.1:PORT` or `[::1]:PORT`, as it appears in the URL and the Host header.
pub fn authority(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        // No icon: an empty answer rather than a 404 in the browser's console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/profile", get(api::load))
        .route("/api/validate", post(api::validate))
        .route("/api/save", post(api::save))
        .route("/api/test", post(api::test))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Every request: the Host must be this loopback port (421 otherwise: DNS rebinding), an
/// Origin, when sent, this page's origin (403), and API requests must carry the token (403).
/// Then the security headers go on the response, whatever it is.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut resp = match check(&app, req.headers(), req.uri().path()) {
        Ok(()) => next.run(req).await,
        Err((status, why)) => (status, why).into_response(),
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// Why a request was refused: its status and a body that says which check failed (never the
/// token).
type Refusal = (StatusCode, &'static str);

fn check(app: &App, headers: &HeaderMap, path: &str) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let allowed = ["127.0.0.1", "localhost", "[::1]"].map(|h| format!("{h}:{}", app.port));
    if !allowed.contains(&host) {
        return Err((
            StatusCode::MISDIRECTED_REQUEST,
            "this page answers only to 127.0.0.1, localhost or [::1] on its own port",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.to_str().ok().map(str::to_ascii_lowercase) != Some(format!("http://{host}")) {
            return Err((StatusCode::FORBIDDEN, "requests from another origin are refused"));
        }
    }
    if path.starts_with("/api/") {
        let given = headers.get(TOKEN_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if !constant_time_eq(given, app.token.as_bytes()) {
            return Err((StatusCode::FORBIDDEN, "missing or wrong token: open the URL relaykit printed"));
        }
    }
    Ok(())
}

/// Compares without stopping at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_64_hex_digits() {
        let (a, b) = (new_token().unwrap_or_default(), new_token().unwrap_or_default());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), b.as_bytes()));
        assert!(!constant_time_eq(b"", a.as_bytes()));
    }
}
