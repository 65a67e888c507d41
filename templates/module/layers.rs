// placeholder for module/layers.rs ({{ module }}, {{ backend }}, {{ db }})
