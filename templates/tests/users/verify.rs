// placeholder for tests/users/verify.rs ({{ module }}, {{ backend }}, {{ db }})
