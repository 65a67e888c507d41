// placeholder for module/error.rs ({{ module }}, {{ backend }}, {{ db }})
