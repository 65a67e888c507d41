//! Extractors for your own handlers: [`CurrentUser`] (401 without a valid credential),
//! [`MaybeUser`] (anonymous callers allowed), and the role guards [`roles_accepted`] and
//! [`roles_required`] (403 without the roles). `CurrentUser::has_role`, which the guards ask, is
//! in `roles.rs`: role-management's, or a stand-in that knows no roles until it is installed.

use std::ops::Deref;

use axum::{
    extract::{FromRef, FromRequestParts, Request},
    http::request::Parts,
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{
    UsersState,
    backend::{self, Credential},
    error::ApiError,
    model::User,
};

/// The logged-in user (with their roles when role-management is installed). Answers 401 when the
/// request has no valid credential.
///
/// ```ignore
/// async fn dashboard(user: CurrentUser) -> String {
///     format!("hello {}", user.email)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The user (with `roles` filled in when role-management is installed).
    pub user: User,
    /// The credential the request came with.
    pub credential: Credential,
}

impl Deref for CurrentUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.user
    }
}

/// The logged-in user, or `None` for an anonymous caller (the reference's `AnonymousUser`).
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// Authenticates the request once; the result is kept in the request's extensions, so several
/// extractors and layers on one request cost one database query (the user, with their roles when
/// role-management is installed, if the credential is valid now). It lends the result: only the
/// extractors that hand a user to a handler copy it.
async fn resolve<'a>(
    parts: &'a mut Parts,
    state: &UsersState,
) -> Result<Option<&'a CurrentUser>, ApiError> {
    if parts.extensions.get::<Option<CurrentUser>>().is_none() {
        let current = backend::authenticate(state, &parts.headers)
            .await?
            .map(|(user, credential)| CurrentUser { user, credential });
        parts.extensions.insert(current);
    }
    Ok(parts
        .extensions
        .get::<Option<CurrentUser>>()
        .and_then(Option::as_ref))
}

/// Whether the request carries a valid credential (what `require_auth` asks); the user is kept
/// for the handler's extractors.
pub(super) async fn is_authenticated(
    parts: &mut Parts,
    state: &UsersState,
) -> Result<bool, ApiError> {
    Ok(resolve(parts, state).await?.is_some())
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    UsersState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        resolve(parts, &UsersState::from_ref(state))
            .await?
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    UsersState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let current = resolve(parts, &UsersState::from_ref(state)).await?;
        Ok(Self(current.cloned()))
    }
}

/// A layer function that lets a request through when the user has ANY of `roles`: 401 when
/// anonymous, 403 otherwise. Use it with `route_layer`:
///
/// ```ignore
/// Router::new()
///     .route("/reports", get(reports))
///     .route_layer(middleware::from_fn_with_state(state.clone(), roles_accepted(&["admin", "auditor"])))
/// ```
pub fn roles_accepted(
    roles: &'static [&'static str],
) -> impl Fn(CurrentUser, Request, Next) -> GuardFuture + Clone + Send + Sync + 'static {
    move |user, request, next| guard(roles.iter().any(|role| user.has_role(role)), request, next)
}

/// A layer function that lets a request through when the user has ALL of `roles`: 401 when
/// anonymous, 403 otherwise. Used like [`roles_accepted`].
pub fn roles_required(
    roles: &'static [&'static str],
) -> impl Fn(CurrentUser, Request, Next) -> GuardFuture + Clone + Send + Sync + 'static {
    move |user, request, next| guard(roles.iter().all(|role| user.has_role(role)), request, next)
}

/// The future a role guard returns.
pub type GuardFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

fn guard(allowed: bool, request: Request, next: Next) -> GuardFuture {
    Box::pin(async move {
        if allowed {
            next.run(request).await
        } else {
            ApiError::forbidden("missing_role", "You do not have the role this needs.")
                .into_response()
        }
    })
}
