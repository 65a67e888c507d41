// placeholder for module/config.rs ({{ module }}, {{ backend }}, {{ db }})
