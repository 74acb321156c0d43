variable "cluster_name" {
  description = "EKS cluster the add-ons run in."
  type        = string
}

variable "environment" {
  description = "Environment name (staging, production): the Secrets Manager entries are jq/<environment>/*."
  type        = string
}

variable "region" {
  description = "AWS region of the cluster and of the Secrets Manager entries."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (the Load Balancer Controller needs it without IMDS access)."
  type        = string
}

variable "jq_namespace" {
  description = "Namespace of jq's pods; the only one the ClusterSecretStore serves."
  type        = string
}

variable "aws_load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller (iam module)."
  type        = string
}

variable "external_secrets_role_arn" {
  description = "IRSA role of the External Secrets Operator (iam module)."
  type        = string
}

variable "chart_versions" {
  description = "Pinned chart versions. external-secrets must serve external-secrets.io/v1 (0.16 or later); deploy/k8s vendors the CRD of the same version for its tests."
  type = object({
    aws_load_balancer_controller = string
    external_secrets             = string
    kube_prometheus_stack        = string
    prometheus_adapter           = string
  })
  default = {
    aws_load_balancer_controller = "1.13.4"
    external_secrets             = "0.16.2"
    kube_prometheus_stack        = "75.15.1"
    prometheus_adapter           = "4.14.1"
  }
}
