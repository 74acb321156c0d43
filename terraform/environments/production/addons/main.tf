# The Helm add-ons of one environment's cluster, applied after the environment itself
# (terraform/README.md). A root of its own because the Helm provider needs a running cluster,
# and so that the rest validates where no Helm provider can be installed. It finds what the
# environment created by name instead of reading its state.

locals {
  name = "jq-${var.environment}"
}

data "aws_eks_cluster" "this" {
  name = local.name
}

data "aws_iam_role" "aws_load_balancer_controller" {
  name = "${local.name}-aws-load-balancer-controller"
}

data "aws_iam_role" "external_secrets" {
  name = "${local.name}-external-secrets"
}

module "addons" {
  source                                = "../../../modules/eks-addons"
  environment                           = var.environment
  cluster_name                          = data.aws_eks_cluster.this.name
  region                                = var.region
  vpc_id                                = data.aws_eks_cluster.this.vpc_config[0].vpc_id
  jq_namespace                          = var.namespace
  aws_load_balancer_controller_role_arn = data.aws_iam_role.aws_load_balancer_controller.arn
  external_secrets_role_arn             = data.aws_iam_role.external_secrets.arn
}
