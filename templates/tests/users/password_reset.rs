// placeholder for tests/users/password_reset.rs ({{ module }}, {{ backend }}, {{ db }})
