terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  # Every resource that takes tags gets these; the eks module also stamps them on the instances
  # and volumes its node group launches, which default_tags do not reach.
  default_tags {
    tags = local.tags
  }
}
