//! What differs between the auth backends, seen from a client: how login hands out the
//! credential and how a request presents it. Everything else in the walk is shared.

use serde_json::Value;

use super::http::{RequestBuilder, Response};

/// The auth backends `cargo users new --backend` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Session,
    Jwt,
    JwtCookie,
}

impl Backend {
    /// The name on the command line (`--backend <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Session => "session",
            Backend::Jwt => "jwt",
            Backend::JwtCookie => "jwt-cookie",
        }
    }

    /// Whether the credential travels in a cookie (and so the backend must refuse cross-site
    /// state-changing requests).
    pub fn uses_cookies(self) -> bool {
        !matches!(self, Backend::Jwt)
    }

    /// Checks the backend-specific parts of a successful `POST /login` answer and returns the
    /// credential it hands out.
    pub fn credential_from_login(self, login: &Response) -> Credential {
        if self.uses_cookies() {
            return Credential::Cookies(login_cookies(login));
        }
        let body = login.json();
        let token = body["access_token"]
            .as_str()
            .filter(|token| !token.is_empty())
            .unwrap_or_else(|| panic!("jwt login: no `access_token` string in the body:\n{login}"))
            .to_string();
        assert_eq!(
            body["token_type"], "bearer",
            "jwt login: `token_type` must be \"bearer\":\n{login}"
        );
        assert!(
            body["expires_in"]
                .as_u64()
                .is_some_and(|seconds| seconds > 0),
            "jwt login: `expires_in` must be a positive number of seconds:\n{login}"
        );
        let header = login
            .header("authorization")
            .unwrap_or_else(|| panic!("jwt login: no `Authorization` response header:\n{login}"));
        assert_eq!(
            header,
            format!("Bearer {token}"),
            "jwt login: the `Authorization` header must be `Bearer <access_token>`:\n{login}"
        );
        Credential::Bearer(token)
    }
}

/// The cookies a cookie backend's login sets, each checked to be HttpOnly and SameSite=Lax.
fn login_cookies(login: &Response) -> Vec<(String, String)> {
    let cookies: Vec<_> = login
        .set_cookies()
        .into_iter()
        .filter(|c| !c.is_removal())
        .collect();
    assert!(!cookies.is_empty(), "login set no cookie:\n{login}");
    for cookie in &cookies {
        assert_eq!(
            cookie.attribute("httponly"),
            Some(None),
            "cookie {:?} must be HttpOnly: {}",
            cookie.name,
            cookie.raw
        );
        assert!(
            cookie
                .attribute("samesite")
                .flatten()
                .is_some_and(|v| v.eq_ignore_ascii_case("lax")),
            "cookie {:?} must be SameSite=Lax: {}",
            cookie.name,
            cookie.raw
        );
    }
    cookies
        .into_iter()
        .map(|cookie| (cookie.name, cookie.value))
        .collect()
}

/// What a logged-in client presents: the cookies login set, or a bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `(name, value)` pairs, sent back in one `Cookie` header.
    Cookies(Vec<(String, String)>),
    Bearer(String),
}

impl Credential {
    /// The header that carries the credential: `(name, value)`.
    pub fn header(&self) -> (String, String) {
        match self {
            Credential::Cookies(cookies) => {
                let pairs = cookies
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>();
                ("Cookie".to_string(), pairs.join("; "))
            }
            Credential::Bearer(token) => ("Authorization".to_string(), format!("Bearer {token}")),
        }
    }

    /// Adds the credential to a request.
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Cookies(cookies) => {
                let header = cookies
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                request.header("Cookie", &header)
            }
            Credential::Bearer(token) => {
                request.header("Authorization", &format!("Bearer {token}"))
            }
        }
    }

    /// The same kind of credential carrying `token` instead, e.g. a verification token
    /// presented as if it were a session: every cookie gets the value.
    pub fn forged_with(&self, token: &str) -> Credential {
        match self {
            Credential::Cookies(cookies) => Credential::Cookies(
                cookies
                    .iter()
                    .map(|(name, _)| (name.clone(), token.to_string()))
                    .collect(),
            ),
            Credential::Bearer(_) => Credential::Bearer(token.to_string()),
        }
    }

    /// Checks that a logout answer clears every cookie of this credential (cookie backends).
    pub fn assert_cleared_by(&self, logout: &Response) {
        let Credential::Cookies(cookies) = self else {
            return;
        };
        let set = logout.set_cookies();
        for (name, _) in cookies {
            assert!(
                set.iter()
                    .any(|cookie| cookie.name == *name && cookie.is_removal()),
                "logout must clear the cookie {name:?} (a Set-Cookie with an empty value or Max-Age=0):\n{logout}"
            );
        }
    }
}

/// The user object inside a login answer's body (`{"user": {...}, ...}`).
pub fn login_user(login: &Response) -> Value {
    let body = login.json();
    assert!(
        body["user"].is_object(),
        "the login body must have a `user` object:\n{login}"
    );
    body["user"].clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_response;

    fn response(raw: &str) -> Response {
        parse_response(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_cookie_login_yields_its_cookies_and_a_logout_must_clear_them() {
        let login = response(
            "HTTP/1.1 201 Created\r\nset-cookie: sid=abc; HttpOnly; SameSite=Lax; Path=/\r\n\r\n{\"user\":{}}",
        );
        let credential = Backend::Session.credential_from_login(&login);
        assert_eq!(
            credential,
            Credential::Cookies(vec![("sid".into(), "abc".into())])
        );
        let cleared =
            response("HTTP/1.1 204 No Content\r\nset-cookie: sid=; Max-Age=0; Path=/\r\n\r\n");
        credential.assert_cleared_by(&cleared);
        let not_cleared = response("HTTP/1.1 204 No Content\r\n\r\n");
        assert!(std::panic::catch_unwind(|| credential.assert_cleared_by(&not_cleared)).is_err());
    }

    #[test]
    fn a_cookie_without_http_only_is_refused() {
        let login = response("HTTP/1.1 201 Created\r\nset-cookie: sid=abc; SameSite=Lax\r\n\r\n{}");
        assert!(
            std::panic::catch_unwind(|| Backend::JwtCookie.credential_from_login(&login)).is_err()
        );
    }

    #[test]
    fn a_jwt_login_yields_the_bearer_token_of_body_and_header() {
        let login = response(
            "HTTP/1.1 201 Created\r\nauthorization: Bearer t.o.k\r\n\r\n\
             {\"access_token\":\"t.o.k\",\"token_type\":\"bearer\",\"expires_in\":900,\"user\":{}}",
        );
        let credential = Backend::Jwt.credential_from_login(&login);
        assert_eq!(credential, Credential::Bearer("t.o.k".into()));
        assert_eq!(credential.forged_with("x"), Credential::Bearer("x".into()));
    }
}
