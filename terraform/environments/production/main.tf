# jq on AWS for one environment. environments/staging and environments/production hold the same
# main.tf (a test keeps them identical); what differs is in terraform.tfvars and the state key.
# The Helm add-ons are applied afterwards from ./addons (README).

locals {
  name = "jq-${var.environment}"
  tags = {
    Project     = "jq"
    Environment = var.environment
    ManagedBy   = "terraform"
  }
}

module "vpc" {
  source             = "../../modules/vpc"
  name               = local.name
  cluster_name       = local.name
  single_nat_gateway = var.single_nat_gateway
}

module "eks" {
  source                       = "../../modules/eks"
  cluster_name                 = local.name
  vpc_id                       = module.vpc.vpc_id
  private_subnet_ids           = module.vpc.private_subnet_ids
  node_security_group_id       = module.vpc.node_security_group_id
  endpoint_public_access_cidrs = var.eks_public_access_cidrs
  node_min_size                = var.eks_node_min_size
  node_max_size                = var.eks_node_max_size
  tags                         = local.tags
}

module "secrets" {
  source      = "../../modules/secrets"
  environment = var.environment
}

module "rds" {
  source              = "../../modules/rds"
  name                = local.name
  instance_class      = var.rds_instance_class
  multi_az            = var.rds_multi_az
  deletion_protection = var.rds_deletion_protection
  subnet_ids          = module.vpc.private_subnet_ids
  security_group_id   = module.vpc.rds_security_group_id
}

module "elasticache" {
  source               = "../../modules/elasticache"
  name                 = local.name
  node_type            = var.redis_node_type
  multi_az             = var.redis_multi_az
  subnet_ids           = module.vpc.private_subnet_ids
  security_group_id    = module.vpc.elasticache_security_group_id
  auth_token_secret_id = module.secrets.redis_auth_token_secret_id
}

module "msk" {
  source            = "../../modules/msk"
  name              = local.name
  broker_count      = var.msk_broker_count
  instance_type     = var.msk_instance_type
  subnet_ids        = module.vpc.private_subnet_ids
  security_group_id = module.vpc.msk_security_group_id
  scram_secret_arn  = module.secrets.kafka_scram_secret_arn
}

module "ecr" {
  source = "../../modules/ecr"
  count  = var.create_ecr ? 1 : 0
}

module "iam" {
  source                  = "../../modules/iam"
  name                    = local.name
  namespace               = var.namespace
  oidc_provider_arn       = module.eks.oidc_provider_arn
  oidc_issuer             = module.eks.oidc_issuer
  server_secret_arns      = module.secrets.server_secret_arns
  worker_secret_arns      = module.secrets.worker_secret_arns
  secrets_kms_key_arn     = module.secrets.kms_key_arn
  secrets_read_policy_arn = module.secrets.read_policy_arn
}
