# Its own state beside the environment's: terraform init -backend-config=../backend.hcl
terraform {
  backend "s3" {
    key     = "jq/production/addons.tfstate"
    encrypt = true
  }
}
