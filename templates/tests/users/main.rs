//! Tests of the user system: every installed route, driven through the router against a fresh
//! {% if db == "sqlite" %}SQLite database file{% else %}database{% endif %} per test, with mails caught in memory.
//!
//! One test crate (`cargo test --test users`), one module per file of this folder.

{% for line in module_lines["tests/users/main.rs"] %}{{ line }}
{% endfor %}// cargo-users: test modules
