output "read_policy_arn" {
  description = "IAM policy that reads every jq entry of this environment (for the External Secrets Operator)."
  value       = aws_iam_policy.read.arn
}

output "kms_key_arn" {
  description = "KMS key of the entries."
  value       = aws_kms_key.secrets.arn
}

output "server_secret_arns" {
  description = "Entries jq-server uses (database URL, Redis AUTH token, Kafka SCRAM user)."
  value       = local.server_secret_arns
}

output "worker_secret_arns" {
  description = "Entries jq-worker uses (its API key)."
  value       = local.worker_secret_arns
}

output "redis_auth_token_secret_id" {
  description = "Secret holding the Redis AUTH token; a reference to its version, so readers wait for the value."
  value       = aws_secretsmanager_secret_version.redis_auth_token.secret_id
}

output "kafka_scram_secret_arn" {
  description = "AmazonMSK_ secret of jq's SASL/SCRAM user, for the MSK association."
  value       = aws_secretsmanager_secret_version.kafka_scram.arn
}

output "secret_names" {
  description = "Entry names, as the ExternalSecrets of deploy/k8s/overlays/<env> reference them."
  value = {
    db_url           = aws_secretsmanager_secret.db_url.name
    worker_token     = aws_secretsmanager_secret.worker_token.name
    redis_auth_token = aws_secretsmanager_secret.redis_auth_token.name
    kafka_scram      = aws_secretsmanager_secret.kafka_scram.name
  }
}

output "alertmanager_secret_arns" {
  description = "Entries Alertmanager uses (PagerDuty routing key, Slack webhook URL)."
  value       = local.alertmanager_secret_arns
}

output "grafana_admin_secret_arn" {
  description = "Entry holding the in-cluster Grafana's admin login (JSON username, password)."
  value       = aws_secretsmanager_secret.grafana_admin.arn
}
