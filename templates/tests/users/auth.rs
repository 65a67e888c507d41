// placeholder for tests/users/auth.rs ({{ module }}, {{ backend }}, {{ db }})
