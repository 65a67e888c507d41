// placeholder for module/password.rs ({{ module }}, {{ backend }}, {{ db }})
