// placeholder for tests/users.rs ({{ module }}, {{ backend }}, {{ db }})
