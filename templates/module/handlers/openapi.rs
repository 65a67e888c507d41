//! `GET /openapi.json`: an OpenAPI 3.1 document of every route of [`crate::{{ module }}::router`],
//! with its request and response bodies, the error shape and how a request carries its
//! credential.
//!
//! The schemas are derived from the handlers' own types (`#[derive(utoipa::ToSchema)]` on each
//! request and response type), so a field added to `User` or to a request shows here at once. The
//! operations below name each route by the path constant the router uses; the generated test
//! `tests/users/openapi.rs` checks that every route the router serves is documented and that real
//! answers validate against their schemas. A route you add yourself goes into the document with
//! an operation here and its name in `paths(...)`.

use std::sync::OnceLock;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use utoipa::{
    OpenApi,
    openapi::{
        self, ContentBuilder, RefOr, ResponseBuilder,
{%- if backend == "jwt" %}
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
{%- else %}
        security::{ApiKey, ApiKeyValue, SecurityScheme},
{%- endif %}
    },
};

use crate::{{ module }}::{
    UsersState,
    config::{self, OPENAPI_PATH},
{%- if backend != "jwt" %}
    cookies,
{%- endif %}
    error::{ApiError, ErrorBody},
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new().route(OPENAPI_PATH, get(openapi_json))
}

/// The OpenAPI document as JSON: 200.
async fn openapi_json(State(state): State<UsersState>) -> Result<Response, ApiError> {
    // Built at the first request and kept: a build takes about 0.3 ms of CPU (release) for some
    // 20 KiB, too much to spend again on every anonymous request. It depends on the
    // configuration only through whether the app is on https (the credential cookie's name), so
    // there are at most two, and no lock once they are built.
    static SERVED: [OnceLock<Bytes>; 2] = [const { OnceLock::new() }, const { OnceLock::new() }];
    let served = &SERVED[usize::from(state.config.secure_cookies())];
    let json = match served.get() {
        Some(json) => json.clone(),
        None => {
            let json = serde_json::to_vec(&document(&state.config)).map_err(ApiError::internal)?;
            served.get_or_init(|| Bytes::from(json)).clone()
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// The name under which the document lists the backend's security scheme; the operations that
/// need a logged-in user require it (`security(("credential" = []))`).
pub const SECURITY_SCHEME: &str = "credential";

/// The document of every installed handler's routes.
pub fn document(config: &config::Config) -> openapi::OpenApi {
    let mut document = Base::openapi();
    // The title and version are the package's, from its Cargo.toml. Its authors are not shown
    // (utoipa would name the first, with their address, to anyone who asks), and an empty
    // description or license is left out rather than shown empty.
    document.info.contact = None;
    if document.info.description.as_deref() == Some("") {
        document.info.description = None;
    }
    if document
        .info
        .license
        .as_ref()
        .is_some_and(|license| license.name.is_empty())
    {
        document.info.license = None;
    }
{%- if "auth" in handlers %}
    document.merge(AuthApi::openapi());
{%- endif %}
{%- if "register" in handlers %}
    document.merge(RegisterApi::openapi());
{%- endif %}
{%- if "verify" in handlers %}
    document.merge(VerifyApi::openapi());
{%- endif %}
{%- if "password-reset" in handlers %}
    document.merge(PasswordResetApi::openapi());
{%- endif %}
{%- if "current-user" in handlers %}
    document.merge(CurrentUserApi::openapi());
{%- endif %}
{%- if "role-management" in handlers %}
    document.merge(RoleManagementApi::openapi());
{%- endif %}
{%- if "user-management" in handlers %}
    document.merge(UserManagementApi::openapi());
{%- endif %}
{%- if "oauth2" in handlers %}
    document.merge(Oauth2Api::openapi());
{%- endif %}
{%- if "magic-link" in handlers %}
    document.merge(MagicLinkApi::openapi());
{%- endif %}
{%- if "totp" in handlers %}
    document.merge(TotpApi::openapi());
{%- endif %}
    let components = document.components.get_or_insert_with(Default::default);
{%- if backend == "jwt" %}
    // The access token of `POST /login`, in the `Authorization` header, whatever the
    // configuration.
    let _ = config;
    let scheme = SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build(),
    );
{%- else %}
    // The `HttpOnly` cookie that `POST /login` sets. Requests that change state must also come
    // from `APP_URL`'s own pages (the `Origin` header), see `layers::csrf`.
{%- if backend == "session" %}
    let cookie = cookies::wire_name(config, config::SESSION_COOKIE);
{%- else %}
    let cookie = cookies::wire_name(config, config::ACCESS_TOKEN_COOKIE);
{%- endif %}
    let scheme = SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(cookie)));
{%- endif %}
    components.add_security_scheme(SECURITY_SCHEME, scheme);
    // Every answer that is not a success has the same body.
    let error = ResponseBuilder::new()
        .description("An error: the status, a sentence for people and a stable code.")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Error"))))
                .build(),
        )
        .build();
    components
        .responses
        .insert("Error".to_owned(), RefOr::T(error));
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            operation.responses.responses.insert(
                "default".to_owned(),
                RefOr::Ref(openapi::Ref::from_response_name("Error")),
            );
        }
    }
    document
}

/// The document's own route and the error shape.
#[derive(OpenApi)]
#[openapi(paths(operations::openapi_json), components(schemas(ErrorBody)))]
struct Base;
{%- if "auth" in handlers %}

/// `auth`: logging in and out.
#[derive(OpenApi)]
#[openapi(paths(operations::login, operations::logout))]
struct AuthApi;
{%- endif %}
{%- if "register" in handlers %}

/// `register`: creating an account.
#[derive(OpenApi)]
#[openapi(paths(operations::register))]
struct RegisterApi;
{%- endif %}
{%- if "verify" in handlers %}

/// `verify`: proving the email address.
#[derive(OpenApi)]
#[openapi(paths(operations::verify, operations::verify_resend))]
struct VerifyApi;
{%- endif %}
{%- if "password-reset" in handlers %}

/// `password-reset`: a new password by mailed link.
#[derive(OpenApi)]
#[openapi(paths(operations::forgot_password, operations::reset_password))]
struct PasswordResetApi;
{%- endif %}
{%- if "current-user" in handlers %}

/// `current-user`: the logged-in user.
#[derive(OpenApi)]
#[openapi(paths(operations::me, operations::update_me))]
struct CurrentUserApi;
{%- endif %}
{%- if "role-management" in handlers %}

/// `role-management`: roles and who holds them (admins only).
#[derive(OpenApi)]
#[openapi(paths(
    operations::list_roles,
    operations::create_role,
    operations::update_role,
    operations::delete_role,
    operations::assign_role,
    operations::revoke_role
))]
struct RoleManagementApi;
{%- endif %}
{%- if "user-management" in handlers %}

/// `user-management`: every account (admins only).
#[derive(OpenApi)]
#[openapi(paths(
    operations::list_users,
    operations::get_user,
    operations::update_user,
    operations::delete_user
))]
struct UserManagementApi;
{%- endif %}
{%- if "oauth2" in handlers %}

/// `oauth2`: logging in with a provider.
#[derive(OpenApi)]
#[openapi(paths(operations::oauth2_authorize, operations::oauth2_callback))]
struct Oauth2Api;
{%- endif %}
{%- if "magic-link" in handlers %}

/// `magic-link`: logging in by mailed link.
#[derive(OpenApi)]
#[openapi(paths(operations::magic_link, operations::magic_link_login))]
struct MagicLinkApi;
{%- endif %}
{%- if "totp" in handlers %}

/// `totp`: two-factor login, turning it on and off and the second step of a login.
#[derive(OpenApi)]
#[openapi(paths(
    operations::totp_start,
    operations::totp_confirm,
    operations::totp_turn_off,
    operations::login_totp
))]
struct TotpApi;
{%- endif %}

/// One function per operation, for its `#[utoipa::path]`: nothing calls them, the handlers that
/// serve the routes are in the handler modules.
#[allow(dead_code)]
mod operations {
    use crate::{{ module }}::config::*;

    /// This document.
    #[utoipa::path(get, path = OPENAPI_PATH, tag = "openapi", responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = serde_json::Value)
    ))]
    pub fn openapi_json() {}
{%- if "auth" in handlers %}

    /// Logs in with email and password.
    ///
    /// 401 for a wrong email or password (the same answer for both), 403 for an unverified or
    /// inactive account, 429 after too many attempts.
{%- if "totp" in handlers %}
    ///
    /// An account with two-factor login on gets no credential yet: 202 with the token of the
    /// second step, `POST /login/totp`.
{%- endif %}
    #[utoipa::path(post, path = LOGIN_PATH, tag = "auth",
        request_body = crate::{{ module }}::handlers::auth::LoginRequest,
        responses(
            (status = 201, description = "Logged in.",
                body = crate::{{ module }}::backend::LoginBody){% if "totp" in handlers %},
            (status = 202, description = "The password is right; the second step needs a code.",
                body = crate::{{ module }}::totp::SecondStep){% endif %}
        )
    )]
    pub fn login() {}

    /// Revokes the credential the request came with.
    #[utoipa::path(post, path = LOGOUT_PATH, tag = "auth",
        security(("credential" = [])),
        responses((status = 204, description = "Logged out."))
    )]
    pub fn logout() {}
{%- endif %}
{%- if "register" in handlers %}

    /// Creates an account.
    ///
    /// 409 when the email is taken, 422 for a bad email or password.
    #[utoipa::path(post, path = REGISTER_PATH, tag = "register",
        request_body = crate::{{ module }}::handlers::register::RegisterRequest,
        responses((status = 201, description = "The new user.", body = crate::{{ module }}::model::User))
    )]
    pub fn register() {}
{%- endif %}
{%- if "verify" in handlers %}

    /// Verifies the email address with the token of the mailed link.
    ///
    /// The token comes as `?token=` or in the body. 400 for a token that is unknown, expired or
    /// used.
    #[utoipa::path(post, path = VERIFY_PATH, tag = "verify",
        params(("token" = Option<String>, Query, description = "The token, when not in the body.")),
        request_body = Option<crate::{{ module }}::handlers::TokenRequest>,
        responses((status = 200, description = "The verified user.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn verify() {}

    /// Mails a new verification link to an unverified account; the same answer whether or not
    /// the address has one.
    #[utoipa::path(post, path = VERIFY_RESEND_PATH, tag = "verify",
        request_body = crate::{{ module }}::handlers::verify::ResendRequest,
        responses((status = 202, description = "Accepted."))
    )]
    pub fn verify_resend() {}
{%- endif %}
{%- if "password-reset" in handlers %}

    /// Mails a reset link to an active account; the same answer whether or not the address has
    /// one.
    #[utoipa::path(post, path = FORGOT_PASSWORD_PATH, tag = "password-reset",
        request_body = crate::{{ module }}::handlers::password_reset::ForgotPasswordRequest,
        responses((status = 202, description = "Accepted."))
    )]
    pub fn forgot_password() {}

    /// Sets a new password with the token of the mailed link and ends every session.
    ///
    /// 400 for a token that is unknown, expired or used, 422 for a bad password.
    #[utoipa::path(post, path = RESET_PASSWORD_PATH, tag = "password-reset",
        request_body = crate::{{ module }}::handlers::password_reset::ResetPasswordRequest,
        responses((status = 200, description = "The user.", body = crate::{{ module }}::model::User))
    )]
    pub fn reset_password() {}
{%- endif %}
{%- if "current-user" in handlers %}

    /// The logged-in user.
    #[utoipa::path(get, path = CURRENT_USER_PATH, tag = "current-user",
        security(("credential" = [])),
        responses((status = 200, description = "The logged-in user.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn me() {}

    /// Changes the logged-in user's email or password (`current_password` required for both).
    #[utoipa::path(patch, path = CURRENT_USER_PATH, tag = "current-user",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::current_user::UpdateMeRequest,
        responses((status = 200, description = "The user after the change.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn update_me() {}
{%- endif %}
{%- if "role-management" in handlers %}

    /// Every role.
    #[utoipa::path(get, path = ROLES_PATH, tag = "role-management",
        security(("credential" = [])),
        responses((status = 200, description = "The roles.",
            body = crate::{{ module }}::model::Page<crate::{{ module }}::roles::Role>))
    )]
    pub fn list_roles() {}

    /// Creates a role.
    ///
    /// 409 when the name is taken.
    #[utoipa::path(post, path = ROLES_PATH, tag = "role-management",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::role_management::CreateRoleRequest,
        responses((status = 201, description = "The new role.", body = crate::{{ module }}::roles::Role))
    )]
    pub fn create_role() {}

    /// Renames a role or changes its description.
    #[utoipa::path(patch, path = ROLE_PATH, tag = "role-management",
        security(("credential" = [])),
        params(("id" = uuid::Uuid, Path, description = "The role's id.")),
        request_body = crate::{{ module }}::handlers::role_management::UpdateRoleRequest,
        responses((status = 200, description = "The role.", body = crate::{{ module }}::roles::Role))
    )]
    pub fn update_role() {}

    /// Deletes a role and takes it from everyone who held it.
    ///
    /// 409 for the `admin` role.
    #[utoipa::path(delete, path = ROLE_PATH, tag = "role-management",
        security(("credential" = [])),
        params(("id" = uuid::Uuid, Path, description = "The role's id.")),
        responses((status = 204, description = "Deleted."))
    )]
    pub fn delete_role() {}

    /// Gives a user a role.
    ///
    /// 409 when they have it already.
    #[utoipa::path(put, path = ASSIGN_ROLE_PATH, tag = "role-management",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::role_management::UserRoleRequest,
        responses((status = 200, description = "The user and their roles.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn assign_role() {}

    /// Takes a role from a user.
    ///
    /// 409 when they do not have it or are the last active admin.
    #[utoipa::path(put, path = REVOKE_ROLE_PATH, tag = "role-management",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::role_management::UserRoleRequest,
        responses((status = 200, description = "The user and their remaining roles.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn revoke_role() {}
{%- endif %}
{%- if "user-management" in handlers %}

    /// A page of users, oldest account first.
    #[utoipa::path(get, path = USERS_PATH, tag = "user-management",
        security(("credential" = [])),
        params(crate::{{ module }}::handlers::user_management::PageQuery),
        responses((status = 200, description = "A page of users.",
            body = crate::{{ module }}::model::Page<crate::{{ module }}::model::User>))
    )]
    pub fn list_users() {}

    /// One user with their roles.
    #[utoipa::path(get, path = USER_PATH, tag = "user-management",
        security(("credential" = [])),
        params(("id" = uuid::Uuid, Path, description = "The user's id.")),
        responses((status = 200, description = "The user.", body = crate::{{ module }}::model::User))
    )]
    pub fn get_user() {}

    /// Changes a user's email, password or flags.
    ///
    /// 409 when the email is taken or the change would leave no active admin.
    #[utoipa::path(patch, path = USER_PATH, tag = "user-management",
        security(("credential" = [])),
        params(("id" = uuid::Uuid, Path, description = "The user's id.")),
        request_body = crate::{{ module }}::handlers::user_management::UpdateUserRequest,
        responses((status = 200, description = "The user after the change.",
            body = crate::{{ module }}::model::User))
    )]
    pub fn update_user() {}

    /// Deletes a user.
    ///
    /// 409 for the last active admin.
    #[utoipa::path(delete, path = USER_PATH, tag = "user-management",
        security(("credential" = [])),
        params(("id" = uuid::Uuid, Path, description = "The user's id.")),
        responses((status = 204, description = "Deleted."))
    )]
    pub fn delete_user() {}
{%- endif %}
{%- if "oauth2" in handlers %}

    /// Starts a login with the provider: the URL to send the browser to, and a short-lived cookie
    /// that binds the login to this browser.
    #[utoipa::path(get, path = OAUTH2_AUTHORIZE_PATH, tag = "oauth2",
        params(("provider" = String, Path, description = "The provider's name, e.g. `github`.")),
        responses((status = 200, description = "Where to send the browser.",
            body = crate::{{ module }}::handlers::oauth2::AuthorizeBody))
    )]
    pub fn oauth2_authorize() {}

    /// Finishes a login where the provider sends the browser back; logged in as with `POST /login`.
    ///
    /// 400 for a bad, expired or missing state or a refusal by the provider.
{%- if "totp" in handlers %}
    ///
    /// An account with two-factor login on gets 202 with the token of the second step,
    /// `POST /login/totp`.
{%- endif %}
    #[utoipa::path(get, path = OAUTH2_CALLBACK_PATH, tag = "oauth2",
        params(
            ("provider" = String, Path, description = "The provider's name, e.g. `github`."),
            crate::{{ module }}::handlers::oauth2::CallbackQuery
        ),
        responses(
            (status = 201, description = "Logged in.",
                body = crate::{{ module }}::backend::LoginBody){% if "totp" in handlers %},
            (status = 202, description = "The provider said who it is; the second step needs a code.",
                body = crate::{{ module }}::totp::SecondStep){% endif %}
        )
    )]
    pub fn oauth2_callback() {}
{%- endif %}
{%- if "magic-link" in handlers %}

    /// Mails a login link to an active account; the same answer whether or not the address has
    /// one.
    #[utoipa::path(post, path = MAGIC_LINK_PATH, tag = "magic-link",
        request_body = crate::{{ module }}::handlers::magic_link::MagicLinkRequest,
        responses((status = 202, description = "Accepted."))
    )]
    pub fn magic_link() {}

    /// Logs in with the token of a login link, given as `?token=` or in the body.
    ///
    /// 400 for a token that is unknown, expired, used or superseded; 403 for an inactive account.
{%- if "totp" in handlers %}
    ///
    /// An account with two-factor login on gets 202 with the token of the second step,
    /// `POST /login/totp` (the link is spent).
{%- endif %}
    #[utoipa::path(post, path = MAGIC_LINK_LOGIN_PATH, tag = "magic-link",
        params(("token" = Option<String>, Query, description = "The token, when not in the body.")),
        request_body = Option<crate::{{ module }}::handlers::TokenRequest>,
        responses(
            (status = 201, description = "Logged in.",
                body = crate::{{ module }}::backend::LoginBody){% if "totp" in handlers %},
            (status = 202, description = "The link is right; the second step needs a code.",
                body = crate::{{ module }}::totp::SecondStep){% endif %}
        )
    )]
    pub fn magic_link_login() {}
{%- endif %}
{%- if "totp" in handlers %}

    /// Starts turning two-factor login on: a new secret for the authenticator app, not used until
    /// `POST /users/me/totp/confirm` proves the app has it (asking again replaces it).
    ///
    /// 401 for a wrong password, 409 when two-factor login is on already.
    #[utoipa::path(post, path = TOTP_PATH, tag = "totp",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::totp::PasswordRequest,
        responses((status = 200, description = "The secret and its `otpauth://` URL.",
            body = crate::{{ module }}::handlers::totp::Enrolment))
    )]
    pub fn totp_start() {}

    /// Turns two-factor login on with the app's current code; the recovery codes are shown this
    /// once.
    ///
    /// 400 for a wrong code or when no enrolment waits, 429 after too many wrong codes.
    #[utoipa::path(post, path = TOTP_CONFIRM_PATH, tag = "totp",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::totp::ConfirmRequest,
        responses((status = 200, description = "On; the recovery codes.",
            body = crate::{{ module }}::handlers::totp::RecoveryCodes))
    )]
    pub fn totp_confirm() {}

    /// Turns two-factor login off: the secret, the recovery codes and the logins waiting for a
    /// code are deleted.
    ///
    /// 401 for a wrong password, 404 when it was not on.
    #[utoipa::path(delete, path = TOTP_PATH, tag = "totp",
        security(("credential" = [])),
        request_body = crate::{{ module }}::handlers::totp::PasswordRequest,
        responses((status = 204, description = "Off."))
    )]
    pub fn totp_turn_off() {}

    /// The second step of a login with two-factor login on: the token of the first step and the
    /// app's current code (or an unused recovery code); logged in as with `POST /login`.
    ///
    /// 401 for a bad, expired or used token and for a wrong, replayed or used code (the token
    /// stays good for another try), 403 for an inactive account, 429 after too many wrong codes.
    #[utoipa::path(post, path = LOGIN_TOTP_PATH, tag = "totp",
        request_body = crate::{{ module }}::handlers::totp::SecondStepRequest,
        responses((status = 201, description = "Logged in.",
            body = crate::{{ module }}::backend::LoginBody))
    )]
    pub fn login_totp() {}
{%- endif %}
}
