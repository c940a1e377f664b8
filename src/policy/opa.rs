//! The OPA backend: OPA's REST Data API over a Unix socket
//! (`POST /v1/data/<path>` with `{"input": ...}`; `GET /health`).
//!
//! HTTP is hyper's (HTTP/1.1 client over a tokio UnixStream). The runtime is tokio's
//! current-thread one: bulwark must not start threads before libcontainer forks, and a
//! current-thread runtime runs everything on the calling thread. Every step is bounded:
//! connect and response timeouts, and a cap on the response body.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use tokio::net::UnixStream;

use crate::config::OpaConfig;

#[derive(Debug, thiserror::Error)]
pub enum OpaError {
    #[error("cannot connect to OPA at {socket}: {source}")]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("OPA at {socket} did not accept a connection within {ms} ms")]
    ConnectTimeout { socket: PathBuf, ms: u64 },
    #[error("OPA at {socket} did not answer within {ms} ms")]
    ResponseTimeout { socket: PathBuf, ms: u64 },
    #[error("talking to OPA at {socket}: {message}")]
    Http { socket: PathBuf, message: String },
    #[error("OPA's response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("OPA answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("OPA's response is not a JSON object: {0}")]
    Body(String),
    #[error("cannot start the client runtime: {0}")]
    Runtime(std::io::Error),
}

/// Asks OPA for the document at `decision_path`. None when the document is undefined
/// (200 without `result`).
pub fn query(
    config: &OpaConfig,
    decision_path: &str,
    input: &Value,
) -> Result<Option<Value>, OpaError> {
    let body = serde_json::to_vec(&serde_json::json!({ "input": input }))
        .expect("a JSON value serializes");
    // strict-builtin-errors: a builtin failing on a wrong type in policy data (an agent
    // entry that is `null`, a string ceiling) is an error OPA reports, not an undefined
    // value a rule can read as "no limit" (issue #21 item 7); regorus always fails so.
    let (status, bytes) = request(
        config,
        Method::POST,
        &format!("/v1/data/{decision_path}?strict-builtin-errors=true"),
        Bytes::from(body),
    )?;
    read_answer(status.as_u16(), &bytes)
}

/// OPA's answer to a query: the document at the decision path, None when it is
/// undefined (200 without `result`); any other status is an error. The fuzz target
/// `opa_response` drives this (through [`super::opa_decision`]) with arbitrary bodies.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Option<Value>, OpaError> {
    check_status(status, body)?;
    let document: Value =
        serde_json::from_slice(body).map_err(|e| OpaError::Body(e.to_string()))?;
    let Value::Object(mut fields) = document else {
        return Err(OpaError::Body("expected an object".into()));
    };
    Ok(fields.remove("result"))
}

/// `GET /health`: Ok when OPA answers 200.
pub fn health(config: &OpaConfig) -> Result<(), OpaError> {
    let (status, bytes) = request(config, Method::GET, "/health", Bytes::new())?;
    check_status(status.as_u16(), &bytes)
}

/// A non-200 answer is an error; OPA's error body is `{"code": ..., "message": ...}`.
fn check_status(status: u16, body: &[u8]) -> Result<(), OpaError> {
    if status == StatusCode::OK.as_u16() {
        return Ok(());
    }
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(document) => document["message"]
            .as_str()
            .or_else(|| document["code"].as_str())
            .unwrap_or("(no message)")
            .chars()
            .take(200)
            .collect(),
        Err(_) => "(the body is not JSON)".to_owned(),
    };
    Err(OpaError::Status { status, message })
}

fn request(
    config: &OpaConfig,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), OpaError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(OpaError::Runtime)?;
    runtime.block_on(exchange(config, method, path, body))
}

async fn exchange(
    config: &OpaConfig,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), OpaError> {
    let socket = &config.socket;
    let stream = tokio::time::timeout(
        Duration::from_millis(config.connect_timeout_ms),
        UnixStream::connect(socket),
    )
    .await
    .map_err(|_| OpaError::ConnectTimeout {
        socket: socket.clone(),
        ms: config.connect_timeout_ms,
    })?
    .map_err(|source| OpaError::Connect {
        socket: socket.clone(),
        source,
    })?;
    tokio::time::timeout(
        Duration::from_millis(config.response_timeout_ms),
        send(
            stream,
            socket,
            config.max_response_bytes,
            method,
            path,
            body,
        ),
    )
    .await
    .map_err(|_| OpaError::ResponseTimeout {
        socket: socket.clone(),
        ms: config.response_timeout_ms,
    })?
}

async fn send(
    stream: UnixStream,
    socket: &Path,
    limit: usize,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), OpaError> {
    let http = |e: &dyn std::fmt::Display| OpaError::Http {
        socket: socket.to_owned(),
        message: e.to_string(),
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| http(&e))?;
    // Drives the connection on this (current) thread while the request is in flight.
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        // Go's net/http (OPA) refuses HTTP/1.1 requests without a Host header.
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                OpaError::TooLarge { limit }
            } else {
                http(&e)
            }
        })?
        .to_bytes();
    Ok((status, bytes))
}
