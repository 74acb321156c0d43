# State in S3 with DynamoDB locking. Backend blocks cannot read variables, so the bucket, the
# lock table and their region are given at init time from a file kept out of the repository:
#   terraform init -backend-config=backend.hcl        (see backend.hcl.example)
terraform {
  backend "s3" {
    key     = "jq/staging/terraform.tfstate"
    encrypt = true
  }
}
