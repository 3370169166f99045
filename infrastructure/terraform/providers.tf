locals {
  # The sandbox (moto) is selected by a non-empty aws_endpoint_url; real AWS leaves it empty and
  # then no endpoint override and no skip_* flag is set.
  sandbox  = var.aws_endpoint_url != ""
  endpoint = local.sandbox ? var.aws_endpoint_url : null
}

provider "aws" {
  region = var.region

  max_retries                 = local.sandbox ? 3 : null
  skip_credentials_validation = local.sandbox
  skip_metadata_api_check     = local.sandbox
  skip_region_validation      = local.sandbox
  s3_use_path_style           = local.sandbox

  endpoints {
    acm            = local.endpoint
    cloudwatch     = local.endpoint
    cloudwatchlogs = local.endpoint
    dynamodb       = local.endpoint
    ec2            = local.endpoint
    ecr            = local.endpoint
    eks            = local.endpoint
    elasticache    = local.endpoint
    elbv2          = local.endpoint
    iam            = local.endpoint
    kms            = local.endpoint
    rds            = local.endpoint
    route53        = local.endpoint
    s3             = local.endpoint
    secretsmanager = local.endpoint
    sns            = local.endpoint
    sts            = local.endpoint
    wafv2          = local.endpoint
  }

  default_tags {
    tags = local.tags
  }
}

# Replica region: cross-region replication of the model artifacts and, when
# db_cross_region_replica_enabled, the RDS read replica with its network.
provider "aws" {
  alias  = "replica"
  region = var.replica_region

  max_retries                 = local.sandbox ? 3 : null
  skip_credentials_validation = local.sandbox
  skip_metadata_api_check     = local.sandbox
  skip_region_validation      = local.sandbox
  s3_use_path_style           = local.sandbox

  endpoints {
    cloudwatchlogs = local.endpoint
    ec2            = local.endpoint
    iam            = local.endpoint
    kms            = local.endpoint
    rds            = local.endpoint
    s3             = local.endpoint
    sts            = local.endpoint
  }

  default_tags {
    tags = local.tags
  }
}
