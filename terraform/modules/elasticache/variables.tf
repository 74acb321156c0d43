variable "name" {
  description = "Replication group id prefix, e.g. jq-staging."
  type        = string
}

variable "node_type" {
  description = "Cache node type: cache.t3.micro for staging, cache.r6g.large for production."
  type        = string
}

variable "multi_az" {
  description = "A replica in another zone with automatic failover (production)."
  type        = bool
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group that admits the EKS nodes on 6379 (the vpc module's)."
  type        = string
}

variable "auth_token_secret_id" {
  description = "Secrets Manager secret whose value is the AUTH token (the secrets module generates it)."
  type        = string
}
