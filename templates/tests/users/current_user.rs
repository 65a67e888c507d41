// placeholder for tests/users/current_user.rs ({{ module }}, {{ backend }}, {{ db }})
