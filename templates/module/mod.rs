// placeholder for module/mod.rs ({{ module }}, {{ backend }}, {{ db }})
