// placeholder for tests/users/register.rs ({{ module }}, {{ backend }}, {{ db }})
