output "primary_endpoint" {
  description = "Primary endpoint host name; jq-server's JQ_REDIS_ADDR is this with :6379."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}
