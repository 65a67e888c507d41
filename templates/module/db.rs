// placeholder for module/db.rs ({{ module }}, {{ backend }}, {{ db }})
