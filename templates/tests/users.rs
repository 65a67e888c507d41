//! Tests of the user system: every installed route, driven through the router against a fresh
//! {% if db == "sqlite" %}SQLite database file{% else %}database{% endif %} per test, with mails caught in memory.

#[path = "users/support.rs"]
mod support;
{% if "auth" in handlers %}
#[path = "users/auth.rs"]
mod auth;
{%- endif %}
{%- if "current-user" in handlers %}
#[path = "users/current_user.rs"]
mod current_user;
{%- endif %}
#[path = "users/health.rs"]
mod health;
{%- if "auth" in handlers or "register" in handlers %}
#[path = "users/limits.rs"]
mod limits;
{%- endif %}
{%- if "oauth2" in handlers %}
#[path = "users/oauth2.rs"]
mod oauth2;
{%- endif %}
{%- if "password-reset" in handlers %}
#[path = "users/password_reset.rs"]
mod password_reset;
{%- endif %}
{%- if "register" in handlers %}
#[path = "users/register.rs"]
mod register;
{%- endif %}
{%- if "role-management" in handlers %}
#[path = "users/role_management.rs"]
mod role_management;
{%- endif %}
{%- if "auth" in handlers %}
#[path = "users/shared_limits.rs"]
mod shared_limits;
{%- endif %}
{%- if "verify" in handlers or "password-reset" in handlers %}
#[path = "users/tokens.rs"]
mod tokens;
{%- endif %}
{%- if "user-management" in handlers %}
#[path = "users/user_management.rs"]
mod user_management;
{%- endif %}
{%- if "verify" in handlers %}
#[path = "users/verify.rs"]
mod verify;
{%- endif %}
