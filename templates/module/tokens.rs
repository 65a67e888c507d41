// placeholder for module/tokens.rs ({{ module }}, {{ backend }}, {{ db }})
