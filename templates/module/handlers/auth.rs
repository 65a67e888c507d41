// placeholder for module/handlers/auth.rs ({{ module }}, {{ backend }}, {{ db }})
