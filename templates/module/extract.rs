// placeholder for module/extract.rs ({{ module }}, {{ backend }}, {{ db }})
