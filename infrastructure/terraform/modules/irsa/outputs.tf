output "role_arns" {
  description = "IRSA role ARNs by purpose: aws_load_balancer_controller, cluster_autoscaler, aws_for_fluent_bit, external_dns, backup_postgres, backup_kube_config, backup_appdata."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "role_names" {
  description = "IRSA role names by purpose."
  value       = { for k, r in aws_iam_role.this : k => r.name }
}

output "service_accounts" {
  description = "The Kubernetes service account each role trusts, as <namespace>/<name>, by purpose."
  value       = { for k, sa in var.service_accounts : k => "${sa.namespace}/${sa.name}" }
}
