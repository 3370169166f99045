data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  log_groups = {
    eks       = "/aws/eks/${var.cluster_name}/cluster"
    flow_logs = "/aws/vpc/${var.name}/flow-logs"
    app       = "/${var.name}/application"
    waf       = "aws-waf-logs-${var.name}"
  }
}

data "aws_iam_policy_document" "logs_key" {
  #checkov:skip=CKV_AWS_109:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_111:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_356:KMS key policy: "*" is this key, not every resource.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsAndSnsUse"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type = "Service"
      identifiers = [
        "logs.${data.aws_region.current.name}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "sns.amazonaws.com",
      ]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${var.name}: CloudWatch Logs and alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.logs_key.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.log_groups
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.logs.id
}

resource "aws_sns_topic_subscription" "email" {
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarms = {
    rds-cpu-high = {
      namespace   = "AWS/RDS", metric = "CPUUtilization", statistic = "Average", threshold = 80,
      comparison  = "GreaterThanThreshold", dimensions = { DBInstanceIdentifier = var.alarm_targets.db_instance_id },
      description = "RDS CPU above 80 % for 15 minutes"
    }
    rds-free-storage-low = {
      namespace   = "AWS/RDS", metric = "FreeStorageSpace", statistic = "Average", threshold = 5368709120,
      comparison  = "LessThanThreshold", dimensions = { DBInstanceIdentifier = var.alarm_targets.db_instance_id },
      description = "RDS free storage below 5 GiB"
    }
    redis-cpu-high = {
      namespace   = "AWS/ElastiCache", metric = "EngineCPUUtilization", statistic = "Average", threshold = 80,
      comparison  = "GreaterThanThreshold", dimensions = { ReplicationGroupId = var.alarm_targets.redis_replication_group_id },
      description = "Redis engine CPU above 80 % for 15 minutes"
    }
    alb-5xx = {
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", statistic = "Sum", threshold = 10,
      comparison  = "GreaterThanThreshold", dimensions = { LoadBalancer = var.alarm_targets.alb_arn_suffix },
      description = "More than 10 ALB 5xx responses a minute"
    }
    alb-latency = {
      namespace   = "AWS/ApplicationELB", metric = "TargetResponseTime", statistic = "Average", threshold = 0.5,
      comparison  = "GreaterThanThreshold", dimensions = { LoadBalancer = var.alarm_targets.alb_arn_suffix },
      description = "Average target response time above 500 ms"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  dimensions          = each.value.dimensions
  period              = 300
  evaluation_periods  = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each            = var.alarm_targets.target_group_arn_suffixes
  alarm_name          = "${var.name}-${each.key}-unhealthy-targets"
  alarm_description   = "Unhealthy ${each.key} targets behind the ALB"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { LoadBalancer = var.alarm_targets.alb_arn_suffix, TargetGroup = each.value }
  period              = 60
  evaluation_periods  = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
