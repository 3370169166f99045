terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Partial configuration: bucket, key, region, dynamodb_table (and, for the sandbox, endpoints)
  # come from `terraform init -backend-config=...`; see backend/*.s3.tfbackend.example.
  backend "s3" {}
}
