variable "name" {
  description = "Role name prefix, e.g. jq-staging. deploy/k8s's overlays annotate their ServiceAccounts with <name>-server and <name>-worker."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of jq's pods (job-queue-staging or job-queue-prod)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the EKS cluster (eks module)."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer host and path, without https:// (eks module)."
  type        = string
}

variable "server_secret_arns" {
  description = "Secrets Manager entries jq-server may read."
  type        = list(string)
}

variable "worker_secret_arns" {
  description = "Secrets Manager entries jq-worker may read."
  type        = list(string)
}

variable "secrets_kms_key_arn" {
  description = "KMS key of those entries."
  type        = string
}

variable "secrets_read_policy_arn" {
  description = "Policy (secrets module) that the External Secrets Operator's role gets."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of jq's CloudWatch log groups."
  type        = number
  default     = 30
}
