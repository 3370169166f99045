# Cross-region read replica of the RDS PostgreSQL instance, for regional disaster recovery
# (playbooks/dr_failover.yml promotes it). Everything here lives in the replica region (the root
# passes the aws.replica provider as this module's aws): its own KMS key, an isolated database VPC
# (private subnets only, no internet or NAT gateway), a subnet group, a security group, a
# parameter group mirroring the source's, VPC flow logs and the replica itself.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones are used (slice); a zone AWS adds later does not change that set.
  state = "available"
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)
  newbits    = 24 - tonumber(split("/", var.vpc_cidr)[1])
}

# ------------------------------------------------------------------ KMS (replica region)
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_111:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_356:KMS key policy: "*" is this key, not every resource.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsUse"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

# A cross-region replica of an encrypted instance must be encrypted with a key of its own region.
resource "aws_kms_key" "this" {
  description             = "${var.name}: RDS cross-region replica, Performance Insights, DR VPC flow logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-data-replica"
  target_key_id = aws_kms_key.this.key_id
}

# ------------------------------------------------------------------ isolated database network
resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name}-dr-db" }
}

# The default security group allows nothing: the replica uses its own group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name}-dr-db-default-deny" }
}

resource "aws_subnet" "this" {
  count             = length(local.azs)
  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(var.vpc_cidr, local.newbits, count.index)
  availability_zone = local.azs[count.index]
  tags = {
    Name = "${var.name}-dr-db-${local.azs[count.index]}"
    Tier = "private"
  }
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db-replica"
  subnet_ids = aws_subnet.this[*].id
}

resource "aws_security_group" "db" {
  name        = "${var.name}-postgres-replica"
  description = "postgres replica: reachable from its own VPC only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-postgres-replica" }
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  security_group_id = aws_security_group.db.id
  description       = "postgres from the DR database VPC (peer or deploy the failover platform into it)"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
}

# ------------------------------------------------------------------ flow logs
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${var.name}-dr-db/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-dr-db-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
  tags            = { Name = "${var.name}-dr-db-flow-logs" }
}

# ------------------------------------------------------------------ the replica
# Parameter groups are regional: the replica gets its own, with the source's parameters.
resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-replica-${var.parameter_group_family}"
  family = var.parameter_group_family

  # TLS only, whatever the source's group says (stated here, not only inherited).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  dynamic "parameter" {
    for_each = { for p in var.parameters : p.name => p.value if p.name != "rds.force_ssl" }
    content {
      name  = parameter.key
      value = parameter.value
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:A single-AZ standby keeps the DR cost down (issue #9); promotion (playbooks/dr_failover.yml) is the failover, and the promoted instance can be made Multi-AZ afterwards.
  identifier          = "${var.name}-postgres-replica"
  replicate_source_db = var.source_db_arn
  instance_class      = var.instance_class

  # Engine, version, database name, user and storage size come from the source.
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = false

  # Backups on the replica before promotion (AWS's recommendation): no backup is taken during the
  # promotion and the promoted primary has point-in-time recovery at once.
  backup_retention_period = var.backup_retention_period
  backup_window           = "03:00-04:00"
  maintenance_window      = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot   = true
  deletion_protection     = var.deletion_protection
  # RDS refuses a final snapshot of a read replica (the source keeps the backups).
  skip_final_snapshot = true

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = var.monitoring_role_arn
}
