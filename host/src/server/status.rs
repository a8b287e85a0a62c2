//! How a failure answers over HTTP: the one table from an error's stable code to its
//! status, and the body every failed request gets (the vocabulary's [`Failure`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Error, Failure, Timestamp};

/// The HTTP status of a failure with the stable code `code` (see [`Error::code`]).
///
/// An unknown record and one outside the caller's scope are both 404, with the same body:
/// the engine already answers them alike. 403 is only for a principal that may know the
/// record exists. Input the engine refuses is 422, JSON that is not a request 400, a value
/// over its size limit 413, a conflict with stored data 409, a rate limit or a quota 429.
pub fn status_of(code: u32) -> StatusCode {
    match code {
        // The server's own: a request that is not one (malformed JSON, wrong types), and
        // a server at its limit.
        1 => StatusCode::BAD_REQUEST,
        4 => StatusCode::SERVICE_UNAVAILABLE,
        100 | 502 => StatusCode::NOT_FOUND,
        105 => StatusCode::PAYLOAD_TOO_LARGE,
        101..=199 => StatusCode::UNPROCESSABLE_ENTITY,
        200..=299 | 501 | 600 => StatusCode::CONFLICT,
        301..=303 => StatusCode::UNAUTHORIZED,
        300..=399 => StatusCode::FORBIDDEN,
        400 | 401 => StatusCode::TOO_MANY_REQUESTS,
        // A tenant's plugin refused or failed: the request cannot be processed as given.
        500 => StatusCode::UNPROCESSABLE_ENTITY,
        908 => StatusCode::FORBIDDEN,
        902 | 903 | 909 => StatusCode::SERVICE_UNAVAILABLE,
        910 => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed request: its status from [`status_of`], the [`Failure`] as a JSON body, and
/// `Retry-After` when the failure says when to retry.
#[derive(Debug)]
pub struct ApiError {
    failure: Box<Failure>,
    /// Seconds to put in `Retry-After`.
    retry_after: Option<u64>,
}

impl ApiError {
    /// A request the server could not read as one (code 1, `invalid`): bad JSON, a body
    /// that is not UTF-8, a parameter of the wrong type.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            failure: Box::new(Failure {
                code: 1,
                name: "invalid".into(),
                message: message.into(),
                field: None,
                step: None,
                retry_after_ms: None,
                resets_at: None,
            }),
            retry_after: None,
        }
    }

    /// The server is at its limit of concurrent requests or feeds (code 4, `busy`): try
    /// again shortly.
    pub fn busy(message: impl Into<String>) -> Self {
        ApiError {
            failure: Box::new(Failure {
                code: 4,
                name: "busy".into(),
                message: message.into(),
                field: None,
                step: None,
                retry_after_ms: Some(1000),
                resets_at: None,
            }),
            retry_after: Some(1),
        }
    }

    /// A bug in ONE (code 3, `internal`): a panic or a lost worker thread.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::from(Error::Internal {
            reason: message.into(),
        })
    }

    /// The failure this error answers with.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }
}

impl ApiError {
    /// The error of `e` at time `now`: a quota that resets says when, in `Retry-After`.
    pub fn at(e: Error, now: Timestamp) -> Self {
        let mut error = ApiError::from(e);
        if let Some(resets) = error.failure.resets_at {
            let ms = resets.as_millis().saturating_sub(now.as_millis());
            error.retry_after = Some(ms.div_ceil(1000));
        }
        error
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::from(Failure::from(&e))
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        // Whole seconds, rounded up: a client that waits this long is let through.
        let retry_after = failure.retry_after_ms.map(|ms| ms.div_ceil(1000));
        ApiError {
            failure: Box::new(failure),
            retry_after,
        }
    }
}

impl From<crate::decode::Undecodable> for ApiError {
    fn from(e: crate::decode::Undecodable) -> Self {
        match e {
            crate::decode::Undecodable::Value(error) => ApiError::from(error),
            crate::decode::Undecodable::Shape(reason) => ApiError::invalid(reason),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.failure.code);
        let body = serde_json::to_vec(&self.failure).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
