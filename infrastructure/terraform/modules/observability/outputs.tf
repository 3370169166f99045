output "kms_key_arn" {
  description = "KMS key of the log groups and the alarm topic."
  value       = aws_kms_key.logs.arn
}

output "log_group_names" {
  description = "Log group names by purpose: eks, flow_logs, app, waf."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "Log group ARNs by purpose."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "CloudWatch alarm names."
  value       = concat([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name], [for a in aws_cloudwatch_metric_alarm.unhealthy_targets : a.alarm_name])
}
