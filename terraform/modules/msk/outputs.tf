output "bootstrap_brokers_sasl_scram" {
  description = "Comma-separated host:9096 list; jq-server's JQ_KAFKA_BROKERS."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}
