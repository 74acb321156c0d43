# What deploy/k8s/overlays/<environment> needs (its README, "Placeholders") and what the steps
# after apply use (terraform/README.md).

output "cluster_name" {
  description = "EKS cluster; `aws eks update-kubeconfig --name` it."
  value       = module.eks.cluster_name
}

output "ecr_registry" {
  description = "ECR_REGISTRY (null where this environment does not own the repositories)."
  value       = one(module.ecr[*].registry)
}

output "server_role_arn" {
  description = "IRSA role of jq-server (the overlay's ServiceAccount annotation)."
  value       = module.iam.server_role_arn
}

output "worker_role_arn" {
  description = "IRSA role of jq-worker (the overlay's ServiceAccount annotation)."
  value       = module.iam.worker_role_arn
}

output "redis_primary_endpoint" {
  description = "REDIS_PRIMARY_ENDPOINT (JQ_REDIS_ADDR is it with :6379)."
  value       = module.elasticache.primary_endpoint
}

output "msk_bootstrap_brokers_sasl_scram" {
  description = "MSK_BOOTSTRAP_BROKERS (JQ_KAFKA_BROKERS)."
  value       = module.msk.bootstrap_brokers_sasl_scram
}

output "rds_endpoint" {
  description = "PostgreSQL host, for the jq/<environment>/db-url entry."
  value       = module.rds.endpoint
}

output "rds_master_user_secret_arn" {
  description = "RDS-managed secret with the master user's credentials."
  value       = module.rds.master_user_secret_arn
}

output "secret_names" {
  description = "Secrets Manager entries the ExternalSecrets read."
  value       = module.secrets.secret_names
}
