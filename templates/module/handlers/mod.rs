// placeholder for module/handlers/mod.rs ({{ module }}, {{ backend }}, {{ db }})
