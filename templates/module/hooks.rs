// placeholder for module/hooks.rs ({{ module }}, {{ backend }}, {{ db }})
