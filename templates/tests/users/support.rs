// placeholder for tests/users/support.rs ({{ module }}, {{ backend }}, {{ db }})
