variable "cluster_name" {
  description = "Name of the EKS cluster, e.g. jq-staging."
  type        = string
}

# 1.30 at least: the pods' preStop hooks use the sleep action (deploy/k8s).
variable "kubernetes_version" {
  description = "Kubernetes version of the control plane and the nodes."
  type        = string
  default     = "1.31"

  validation {
    condition     = tonumber(split(".", var.kubernetes_version)[1]) >= 30 && split(".", var.kubernetes_version)[0] == "1"
    error_message = "kubernetes_version must be 1.30 or later (the manifests use the preStop sleep action)."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the nodes."
  type        = list(string)
}

variable "node_security_group_id" {
  description = "Security group of the nodes (the vpc module's; the data stores admit it)."
  type        = string
}

variable "endpoint_public_access_cidrs" {
  description = "Networks allowed to reach the Kubernetes API from the internet (operators, CI); empty keeps the endpoint private."
  type        = list(string)
}

variable "node_instance_type" {
  description = "Instance type of the managed node group."
  type        = string
  default     = "c5.xlarge"
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
  default     = 10
}

variable "node_disk_size_gb" {
  description = "Root volume of each node, in GiB."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags for what the provider's default_tags do not reach (instances and volumes the node group launches)."
  type        = map(string)
}
