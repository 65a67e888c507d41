// placeholder for module/cli.rs ({{ module }}, {{ backend }}, {{ db }})
