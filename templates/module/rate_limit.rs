// placeholder for module/rate_limit.rs ({{ module }}, {{ backend }}, {{ db }})
