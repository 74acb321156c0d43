output "server_role_arn" {
  description = "IRSA role of jq-server; the overlay's jq-server ServiceAccount annotation."
  value       = aws_iam_role.this["server"].arn
}

output "worker_role_arn" {
  description = "IRSA role of jq-worker; the overlay's jq-worker ServiceAccount annotation."
  value       = aws_iam_role.this["worker"].arn
}

output "external_secrets_role_arn" {
  description = "IRSA role of the External Secrets Operator."
  value       = aws_iam_role.this["external-secrets"].arn
}

output "aws_load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = aws_iam_role.this["aws-load-balancer-controller"].arn
}
