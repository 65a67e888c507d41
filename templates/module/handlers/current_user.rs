// placeholder for module/handlers/current_user.rs ({{ module }}, {{ backend }}, {{ db }})
