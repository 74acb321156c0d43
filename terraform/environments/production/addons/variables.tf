variable "environment" {
  description = "Environment name; the cluster and the IRSA roles are jq-<environment>-*."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "allowed_account_ids" {
  description = "AWS accounts Terraform may touch; empty checks none."
  type        = list(string)
  default     = []
}

variable "namespace" {
  description = "Kubernetes namespace of jq."
  type        = string
}
