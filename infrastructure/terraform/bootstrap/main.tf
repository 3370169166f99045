# Creates the remote state bucket and the DynamoDB lock table used by the root module's
# backend "s3". Run once per account with local state (the chicken-and-egg step):
#   terraform -chdir=infrastructure/terraform/bootstrap init
#   terraform -chdir=infrastructure/terraform/bootstrap apply -var state_bucket_name=... -var lock_table_name=...
terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "region" {
  description = "Region of the state bucket and lock table."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "state_bucket_name" {
  description = "Name of the S3 bucket holding Terraform state."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "lock_table_name" {
  description = "Name of the DynamoDB lock table."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.lock_table_name))
    error_message = "lock_table_name must be a valid DynamoDB table name."
  }
}

variable "aws_endpoint_url" {
  description = "AWS emulator endpoint (sandbox); empty for real AWS."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags of the state resources."
  type        = map(string)
  default     = { Project = "cxr", ManagedBy = "terraform-bootstrap" }
}

locals {
  sandbox  = var.aws_endpoint_url != ""
  endpoint = local.sandbox ? var.aws_endpoint_url : null
}

provider "aws" {
  region                      = var.region
  max_retries                 = local.sandbox ? 3 : null
  skip_credentials_validation = local.sandbox
  skip_metadata_api_check     = local.sandbox
  skip_region_validation      = local.sandbox
  s3_use_path_style           = local.sandbox

  endpoints {
    dynamodb = local.endpoint
    iam      = local.endpoint
    kms      = local.endpoint
    s3       = local.endpoint
    sts      = local.endpoint
  }

  default_tags {
    tags = var.tags
  }
}

resource "aws_kms_key" "state" {
  #checkov:skip=CKV2_AWS_64:The default key policy (account root administers) is the intended policy for the state key.
  description             = "Terraform state and lock table"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:State is versioned; cross-region replication of state is an operator choice per account.
  #checkov:skip=CKV_AWS_18:Access to the state bucket is audited by CloudTrail data events, not S3 server access logs.
  #checkov:skip=CKV2_AWS_62:No event notifications on the state bucket.
  #checkov:skip=CKV2_AWS_61:State versions are kept forever on purpose (rollback of state).
  bucket = var.state_bucket_name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_dynamodb_table" "lock" {
  name         = var.lock_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.state.arn
  }
}

output "state_bucket_name" {
  description = "State bucket."
  value       = aws_s3_bucket.state.id
}

output "lock_table_name" {
  description = "Lock table."
  value       = aws_dynamodb_table.lock.name
}

output "state_kms_key_arn" {
  description = "KMS key of the state bucket and lock table."
  value       = aws_kms_key.state.arn
}
