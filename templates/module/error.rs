//! Errors as JSON: every failure leaves the server as
//! `{"status_code": N, "detail": "<sentence>", "code": "<machine_code>"}`.

use std::{borrow::Cow, time::Duration};

use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `invalid_credentials`.
    pub code: &'static str,
    /// A sentence for people.
    pub detail: Cow<'static, str>,
    /// Sent as `Retry-After` (whole seconds) with 429 and 503 answers.
    pub retry_after: Option<Duration>,
}

/// The JSON body of every error answer, e.g.
/// `{"status_code": 401, "detail": "Log in first.", "code": "not_authenticated"}`.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
{%- if "openapi" in handlers %}
#[schema(as = Error)]
{%- endif %}
pub struct ErrorBody<'a> {
    /// The HTTP status, repeated.
    status_code: u16,
    /// A sentence for people.
    detail: &'a str,
    /// A stable machine-readable code, e.g. `invalid_credentials`.
    code: &'a str,
}

impl ApiError {
    /// An error with the given status, code and sentence.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401: no valid credential came with the request.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "Authentication is required.",
        )
    }

    /// 401 for a failed login. Deliberately the same for an unknown email and a wrong password, so
    /// the answer does not tell which accounts exist.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The email or password is wrong.",
        )
    }

    /// 403.
    pub fn forbidden(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 409.
    pub fn conflict(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422: the request is well-formed but a value is not acceptable.
    pub fn unprocessable(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts; try again later.",
            )
        }
    }

    /// 503 with `Retry-After`: the server is too busy to take this request now (for instance the
    /// password hashing queue is full).
    pub fn busy(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The server is busy; try again shortly.",
            )
        }
    }

    /// 413: the request body is over the limit of the users routes.
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "The request body is too large.",
        )
    }

    /// 500. The cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            // Round up, so a client that waits exactly this long is let through.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // Transactions that waited on each other (the database ended this one), or a pool with no
        // free connection: nothing is wrong with the request, and sending it again will do.
        if is_transient(&error) {
            tracing::warn!(%error, "database busy; answered 503");
            return Self::busy(Duration::from_secs(1));
        }
        Self::internal(error)
    }
}

/// Whether the database refused `error`'s statement only for the moment: a deadlock or
/// serialization failure (the transaction was rolled back), a lock it could not get in time, or
/// no free connection in the pool.
fn is_transient(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return matches!(error, sqlx::Error::PoolTimedOut);
    };
{%- if db == "sqlite" %}
    // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
    matches!(
        error.code().as_deref(),
        Some("5" | "6" | "261" | "262" | "517" | "773")
    )
{%- elif db == "postgres" %}
    // serialization_failure, deadlock_detected, lock_not_available.
    matches!(error.code().as_deref(), Some("40001" | "40P01" | "55P03"))
{%- else %}
    // ER_LOCK_WAIT_TIMEOUT and ER_LOCK_DEADLOCK.
    error
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|error| matches!(error.number(), 1205 | 1213))
{%- endif %}
}

/// A JSON request body, like `axum::Json`, whose rejections are [`ApiError`]s: malformed JSON is
/// 400, a missing or ill-typed field 422, a missing `application/json` content type 415, a body
/// over the limit 413, a NUL character in any string 422.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read as a JSON value first (axum checks the content type, the size and the syntax), so
        // that text no column can store is refused before any handler sees it.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state)
            .await
            .map_err(json_rejection)?;
        refuse_nul_characters(&value, None)?;
        serde_json::from_value(value).map(Self).map_err(|error| {
            ApiError::unprocessable(
                "invalid_body",
                format!("Failed to deserialize the JSON body into the target type: {error}"),
            )
        })
    }
}

/// 422 for a string with a NUL character anywhere in the body: PostgreSQL cannot store one in
/// text (it would be a 500) and no person types one. `invalid_email` when it is in an `email`.
fn refuse_nul_characters(value: &serde_json::Value, field: Option<&str>) -> Result<(), ApiError> {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Err(match field {
            Some("email") => {
                ApiError::unprocessable("invalid_email", "This is not a valid email address.")
            }
            _ => ApiError::unprocessable("invalid_text", "Text must not contain NUL characters."),
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_nul_characters(item, field)),
        serde_json::Value::Object(fields) => fields
            .iter()
            .try_for_each(|(name, item)| refuse_nul_characters(item, Some(name))),
        _ => Ok(()),
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            ApiError::unprocessable("invalid_body", error.body_text())
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("malformed_json", "The request body is not valid JSON.")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        // Over the body limit of the users routes (`DefaultBodyLimit` in `router`).
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(),
        other => ApiError::new(other.status(), "invalid_body", other.body_text()),
    }
}

/// Path parameters, like `axum::extract::Path`, whose rejection is an [`ApiError`]: a parameter
/// that does not parse (say an id that is not a UUID) cannot name anything that exists, so it is
/// a 404 like an unknown id. For your own routes too.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::not_found("There is nothing at this path.")),
        }
    }
}

/// The fallback for unknown routes: a JSON 404. Install it on your application router with
/// `.fallback(not_found)`.
pub async fn not_found() -> ApiError {
    ApiError::not_found("There is nothing at this path.")
}
