# A region and an account id written in code: checkNoHardcodedIDs must object to both.
provider "aws" {
  region = "us-east-1"
  default_tags {
    tags = {
      Project     = "jq"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_iam_role" "x" {
  name = "arn:aws:iam::123456789012:role/x"
}
