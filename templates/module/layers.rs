//! Middleware: [`require_auth`] (authentication on every route but an exclude list){% if backend != "jwt" %} and
//! [`csrf`] (refuses cross-site state-changing requests){% endif %}.

use axum::{
    extract::{Request, State},
{%- if backend != "jwt" %}
    http::{HeaderMap, Method, header},
{%- endif %}
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{UsersState, config::AUTH_EXCLUDE_PATHS, error::ApiError, extract::is_authenticated};

/// Answers 401 on every route it wraps unless the request is authenticated or its path is in
/// [`AUTH_EXCLUDE_PATHS`]. Add it with `route_layer`, after the routes, so unknown paths still
/// answer 404:
///
/// ```ignore
/// app.route_layer(middleware::from_fn_with_state(state.clone(), require_auth))
/// ```
pub async fn require_auth(
    State(state): State<UsersState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if AUTH_EXCLUDE_PATHS
        .iter()
        .any(|pattern| route_matches(pattern, path))
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match is_authenticated(&mut parts, &state).await {
        Ok(true) => next.run(Request::from_parts(parts, body)).await,
        Ok(false) => ApiError::unauthorized().into_response(),
        Err(error) => error.into_response(),
    }
}

/// Whether `path` is the route `pattern`, in which a `{name}` segment matches any one segment.
/// Runs on every request: a pattern without `{` is compared whole, others segment by segment in
/// one pass.
fn route_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == path;
    }
    let (mut expected, mut segments) = (pattern.split('/'), path.split('/'));
    loop {
        match (expected.next(), segments.next()) {
            (None, None) => return true,
            (Some(expected), Some(segment))
                if expected == segment
                    || (expected.starts_with('{')
                        && expected.ends_with('}')
                        && !segment.is_empty()) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod route_matching_tests {
    use super::route_matches;

    #[test]
    fn a_pattern_without_parameters_matches_only_its_own_path() {
        assert!(route_matches("/login", "/login"));
        assert!(!route_matches("/login", "/login/"));
        assert!(!route_matches("/login", "/logout"));
    }

    #[test]
    fn a_parameter_matches_exactly_one_non_empty_segment() {
        let pattern = "/oauth2/{provider}/callback";
        assert!(route_matches(pattern, "/oauth2/github/callback"));
        assert!(!route_matches(pattern, "/oauth2//callback"));
        assert!(!route_matches(pattern, "/oauth2/github/callback/more"));
        assert!(!route_matches(pattern, "/oauth2/github"));
        assert!(!route_matches(pattern, "/oauth2/github/authorize"));
    }
}
{%- if backend != "jwt" %}

/// Refuses cross-site requests that could change state (CSRF). The credential is a cookie, which
/// the browser attaches to requests that other sites make it send; this layer makes sure a `POST`,
/// `PUT`, `PATCH` or `DELETE` comes from `APP_URL`'s own pages.
///
/// The `Origin` header decides when present (it must be exactly `APP_URL`'s origin); without it,
/// `Sec-Fetch-Site` (it must not be `cross-site`). A request with neither comes from a client that
/// is not a browser and carries no ambient credentials, and is let through.
pub async fn csrf(State(state): State<UsersState>, request: Request, next: Next) -> Response {
    let changes_state = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes_state && is_cross_site(request.headers(), state.config.base_url()) {
        return ApiError::forbidden(
            "cross_site_request",
            "Cross-site requests that change state are refused.",
        )
        .into_response();
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap, app_url: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin
            .to_str()
            .map_or(true, |origin| origin != origin_of(app_url));
    }
    headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |index| index + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_apps_own_origin_is_same_site() {
        let app = "https://app.example/";
        assert!(!is_cross_site(
            &headers(&[("origin", "https://app.example")]),
            app.trim_end_matches('/')
        ));
        assert!(!is_cross_site(&headers(&[]), app));
        assert!(!is_cross_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            app
        ));
    }

    #[test]
    fn another_origin_or_a_cross_site_fetch_is_refused() {
        let app = "https://app.example";
        assert!(is_cross_site(
            &headers(&[("origin", "https://evil.example")]),
            app
        ));
        assert!(is_cross_site(
            &headers(&[("origin", "http://app.example")]),
            app
        ));
        assert!(is_cross_site(&headers(&[("origin", "null")]), app));
        assert!(is_cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            app
        ));
    }
}
{%- endif %}
