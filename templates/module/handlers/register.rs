// placeholder for module/handlers/register.rs ({{ module }}, {{ backend }}, {{ db }})
