variable "name" {
  description = "Identifier prefix, e.g. jq-staging."
  type        = string
}

variable "instance_class" {
  description = "Instance class: db.t3.medium for staging, db.r6g.large for production."
  type        = string
}

variable "multi_az" {
  description = "A synchronous standby in another zone (production)."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (production)."
  type        = bool
  default     = true
}

variable "engine_version" {
  description = "PostgreSQL major version; RDS applies minor upgrades in the maintenance window."
  type        = string
  default     = "15"
}

variable "allocated_storage_gb" {
  description = "Initial storage, in GiB."
  type        = number
  default     = 50
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling, in GiB."
  type        = number
  default     = 500
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group that admits the EKS nodes on 5432 (the vpc module's)."
  type        = string
}
