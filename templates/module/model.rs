// placeholder for module/model.rs ({{ module }}, {{ backend }}, {{ db }})
