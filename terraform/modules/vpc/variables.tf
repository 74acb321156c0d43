variable "name" {
  description = "Prefix of every resource name, e.g. jq-staging."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster that uses the subnets; tagged so the AWS Load Balancer Controller finds them."
  type        = string
}

# deploy/k8s's NetworkPolicies allow PostgreSQL, Redis and Kafka in this range; a test there keeps
# the two in step.
variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread the subnets over."
  type        = number
  default     = 3
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper; staging) instead of one per zone (production)."
  type        = bool
  default     = false
}
