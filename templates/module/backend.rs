// placeholder for module/backend.rs ({{ module }}, {{ backend }}, {{ db }})
