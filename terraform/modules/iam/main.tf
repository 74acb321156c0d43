# IRSA roles: one per Kubernetes service account that calls AWS.
#   <name>-server / <name>-worker: jq's pods (read their secrets, write their CloudWatch logs)
#   <name>-external-secrets: the External Secrets Operator (reads every jq entry)
#   <name>-aws-load-balancer-controller: the AWS Load Balancer Controller (manages the ALB)

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  service_accounts = {
    server                       = "system:serviceaccount:${var.namespace}:jq-server"
    worker                       = "system:serviceaccount:${var.namespace}:jq-worker"
    external-secrets             = "system:serviceaccount:external-secrets:external-secrets"
    aws-load-balancer-controller = "system:serviceaccount:kube-system:aws-load-balancer-controller"
  }
  log_group_arn_prefix = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/jq/${var.name}"
}

data "aws_iam_policy_document" "assume" {
  for_each = local.service_accounts
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each           = local.service_accounts
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
}

resource "aws_cloudwatch_log_group" "jq" {
  for_each          = toset(["server", "worker"])
  name              = "/jq/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "jq" {
  for_each = {
    server = var.server_secret_arns
    worker = var.worker_secret_arns
  }
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = each.value
  }
  statement {
    sid       = "DecryptOwnSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.log_group_arn_prefix}/${each.key}:*"]
  }
}

resource "aws_iam_role_policy" "jq" {
  for_each = data.aws_iam_policy_document.jq
  name     = "jq-${each.key}"
  role     = aws_iam_role.this[each.key].id
  policy   = each.value.json
}

resource "aws_iam_role_policy_attachment" "external_secrets" {
  role       = aws_iam_role.this["external-secrets"].name
  policy_arn = var.secrets_read_policy_arn
}

resource "aws_iam_role_policy" "aws_load_balancer_controller" {
  name   = "aws-load-balancer-controller"
  role   = aws_iam_role.this["aws-load-balancer-controller"].id
  policy = data.aws_iam_policy_document.aws_load_balancer_controller.json
}
