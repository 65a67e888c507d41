//! Assertions on answers, phrased in the contract's terms (section 3 of `contract.md`); each
//! failure message shows the request and the whole response.

use serde_json::Value;

use super::http::Response;

/// Checks the status code, showing the whole answer when it differs.
#[track_caller]
pub fn expect_status(response: &Response, status: u16, what: &str) {
    assert_eq!(
        response.status, status,
        "{what}: expected HTTP {status}, got {}; the answer:\n{response}",
        response.status
    );
}

/// Checks a JSON answer: status, `Content-Type: application/json`, and no password or hash
/// anywhere in it. Returns the body.
#[track_caller]
pub fn expect_json(response: &Response, status: u16, what: &str) -> Value {
    expect_status(response, status, what);
    let content_type = response.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: the answer must be JSON (Content-Type application/json), got {content_type:?}:\n{response}"
    );
    let body = response.json();
    assert_no_secrets(&body, what);
    body
}

/// Checks an error answer: the status, and a body that is exactly
/// `{"status_code": <the status>, "detail": "<sentence>", "code": "<machine_code>"}`.
/// Returns the `code`.
#[track_caller]
pub fn expect_error(response: &Response, status: u16, what: &str) -> String {
    let body = expect_json(response, status, what);
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the error body must be a JSON object:\n{response}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "detail", "status_code"],
        "{what}: an error body has exactly `status_code`, `detail` and `code`:\n{response}"
    );
    assert_eq!(
        body["status_code"].as_u64(),
        Some(u64::from(status)),
        "{what}: `status_code` must be the number {status}:\n{response}"
    );
    let non_empty = |key: &str| {
        body[key]
            .as_str()
            .is_some_and(|text| !text.trim().is_empty())
    };
    assert!(
        non_empty("detail"),
        "{what}: `detail` must be a non-empty string:\n{response}"
    );
    assert!(
        non_empty("code"),
        "{what}: `code` must be a non-empty string:\n{response}"
    );
    body["code"].as_str().unwrap().to_string()
}

/// Checks an error answer with a given machine `code`, e.g. 403 `not_verified`.
#[track_caller]
pub fn expect_error_code(response: &Response, status: u16, code: &str, what: &str) {
    let actual = expect_error(response, status, what);
    assert_eq!(
        actual, code,
        "{what}: expected the error code {code:?}:\n{response}"
    );
}

/// Checks a user object: a UUID `id`, the `email`, `is_active` true, the expected
/// `is_verified`, and `roles`: a list when the app has role-management (`has_roles`), absent
/// otherwise. Returns its `id`.
#[track_caller]
pub fn expect_user(
    user: &Value,
    email: &str,
    is_verified: bool,
    has_roles: bool,
    what: &str,
) -> String {
    let id = user["id"].as_str().unwrap_or("");
    assert!(
        is_uuid(id),
        "{what}: the user's `id` must be a UUID string: {user}"
    );
    assert_eq!(user["email"], email, "{what}: the user's `email`: {user}");
    assert_eq!(
        user["is_active"], true,
        "{what}: the user's `is_active`: {user}"
    );
    assert_eq!(
        user["is_verified"], is_verified,
        "{what}: the user's `is_verified`: {user}"
    );
    assert_eq!(
        user.get("roles").map(Value::is_array),
        has_roles.then_some(true),
        "{what}: the user's `roles` (role-management installed: {has_roles}): {user}"
    );
    id.to_string()
}

/// Fails when any key anywhere in `value` names a password or hash, or any string looks like
/// a password hash.
pub fn assert_no_secrets(value: &Value, what: &str) {
    fn walk(value: &Value, path: &str, what: &str, root: &Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let lower = key.to_ascii_lowercase();
                    assert!(
                        !lower.contains("password") && !lower.contains("hash"),
                        "{what}: the answer exposes `{path}.{key}`; never a password or hash: {root}"
                    );
                    walk(inner, &format!("{path}.{key}"), what, root);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), what, root);
                }
            }
            Value::String(text) => assert!(
                !text.starts_with("$argon2"),
                "{what}: `{path}` holds a password hash: {root}"
            ),
            _ => {}
        }
    }
    walk(value, "$", what, value);
}

/// Whether `text` is a hyphenated UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_response;
    use serde_json::json;

    fn answer(status: u16, body: &str) -> Response {
        let raw = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        parse_response(raw.as_bytes()).unwrap()
    }

    fn fails(check: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(check).is_err()
    }

    #[test]
    fn a_contract_error_body_passes_and_others_fail() {
        let good = answer(
            409,
            r#"{"status_code":409,"detail":"Email taken.","code":"email_taken"}"#,
        );
        assert_eq!(expect_error(&good, 409, "t"), "email_taken");
        let extra = answer(
            409,
            r#"{"status_code":409,"detail":"x","code":"c","extra":1}"#,
        );
        assert!(fails(|| drop(expect_error(&extra, 409, "t"))));
        let wrong_number = answer(409, r#"{"status_code":400,"detail":"x","code":"c"}"#);
        assert!(fails(|| drop(expect_error(&wrong_number, 409, "t"))));
        assert!(fails(|| drop(expect_error(&answer(404, ""), 404, "t"))));
    }

    #[test]
    fn secrets_are_found_at_any_depth() {
        assert!(fails(|| assert_no_secrets(
            &json!({"user": {"password_hash": "x"}}),
            "t"
        )));
        assert!(fails(|| assert_no_secrets(
            &json!({"items": [{"p": "$argon2id$v=19$..."}]}),
            "t"
        )));
        assert_no_secrets(&json!({"user": {"email": "a@b.c", "is_active": true}}), "t");
    }

    #[test]
    fn users_and_uuids_are_recognized() {
        assert!(is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        assert!(!is_uuid("67e5504410b1426f9247bb680e5fe0c8"));
        let user = json!({"id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "email": "a@b.c",
                          "is_active": true, "is_verified": false});
        expect_user(&user, "a@b.c", false, false, "t");
        assert!(fails(|| drop(expect_user(
            &user, "a@b.c", true, false, "t"
        ))));
        // `roles` exactly when role-management is installed, and then a list.
        assert!(fails(|| drop(expect_user(
            &user, "a@b.c", false, true, "t"
        ))));
        let mut with_roles = user.clone();
        with_roles["roles"] = json!([]);
        expect_user(&with_roles, "a@b.c", false, true, "t");
        assert!(fails(|| drop(expect_user(
            &with_roles,
            "a@b.c",
            false,
            false,
            "t"
        ))));
        with_roles["roles"] = json!("admin");
        assert!(fails(|| drop(expect_user(
            &with_roles,
            "a@b.c",
            false,
            true,
            "t"
        ))));
    }
}
