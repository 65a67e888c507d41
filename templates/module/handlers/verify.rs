// placeholder for module/handlers/verify.rs ({{ module }}, {{ backend }}, {{ db }})
