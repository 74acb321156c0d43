variable "environment" {
  description = "Environment name: names resources (jq-<environment>), tags them and scopes the Secrets Manager entries."
  type        = string
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
}

variable "allowed_account_ids" {
  description = "AWS accounts Terraform may touch; empty checks none. Set it (TF_VAR_allowed_account_ids) so a wrong profile fails fast."
  type        = list(string)
  default     = []
}

variable "namespace" {
  description = "Kubernetes namespace of jq (deploy/k8s/overlays/<environment>)."
  type        = string
}

variable "eks_public_access_cidrs" {
  description = "Networks that may reach the Kubernetes API from the internet; empty keeps it private."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone."
  type        = bool
}

variable "eks_node_min_size" {
  description = "Fewest EKS nodes."
  type        = number
}

variable "eks_node_max_size" {
  description = "Most EKS nodes."
  type        = number
}

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "rds_multi_az" {
  description = "RDS Multi-AZ standby."
  type        = bool
}

variable "rds_deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_multi_az" {
  description = "ElastiCache replica with automatic failover."
  type        = bool
}

variable "msk_broker_count" {
  description = "MSK brokers (a multiple of the zones used, at least 2)."
  type        = number
}

variable "msk_instance_type" {
  description = "MSK broker instance type."
  type        = string
}

variable "create_ecr" {
  description = "Create the ECR repositories here. Environments sharing one AWS account create them once and share them."
  type        = bool
  default     = true
}
