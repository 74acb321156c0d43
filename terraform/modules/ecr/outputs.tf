output "repository_urls" {
  description = "Repository URL per image name."
  value       = { for name, r in aws_ecr_repository.this : name => r.repository_url }
}

output "registry" {
  description = "Registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com); ECR_REGISTRY in deploy/k8s."
  value       = split("/", values(aws_ecr_repository.this)[0].repository_url)[0]
}
