variable "name" {
  description = "Cluster name, e.g. jq-staging."
  type        = string
}

variable "kafka_version" {
  description = "Kafka version (3.5.x)."
  type        = string
  default     = "3.5.1"

  validation {
    condition     = startswith(var.kafka_version, "3.5.")
    error_message = "jq is tested against Kafka 3.5.x."
  }
}

variable "broker_count" {
  description = "Brokers: 3 in production. MSK needs at least two zones, so the smallest cluster (staging) has 2."
  type        = number
}

variable "instance_type" {
  description = "Broker instance type, e.g. kafka.m5.large."
  type        = string
  default     = "kafka.m5.large"
}

variable "ebs_volume_size_gb" {
  description = "EBS storage per broker, in GiB."
  type        = number
  default     = 100
}

variable "subnet_ids" {
  description = "Private subnets for the brokers; broker_count must be a multiple of their number."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group that admits the EKS nodes on 9096 (the vpc module's)."
  type        = string
}

variable "scram_secret_arn" {
  description = "Secrets Manager secret (AmazonMSK_ prefix, KMS-encrypted) with jq's SASL/SCRAM user, from the secrets module."
  type        = string
}
