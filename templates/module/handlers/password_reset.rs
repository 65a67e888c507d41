// placeholder for module/handlers/password_reset.rs ({{ module }}, {{ backend }}, {{ db }})
