// placeholder for module/mail.rs ({{ module }}, {{ backend }}, {{ db }})
