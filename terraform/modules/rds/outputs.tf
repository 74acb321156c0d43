output "endpoint" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Database jq uses."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (managed by RDS) holding the master user's credentials."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
