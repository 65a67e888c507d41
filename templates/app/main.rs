// placeholder for app/main.rs ({{ module }}, {{ backend }}, {{ db }})
