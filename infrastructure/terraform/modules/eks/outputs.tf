output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "EKS cluster ARN."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_ca" {
  description = "Base64 CA bundle of the API endpoint."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version."
  value       = aws_eks_cluster.this.version
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider for IRSA."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

output "node_role_arns" {
  description = "Node IAM role ARNs by node group (ondemand, spot)."
  value       = { for k, r in aws_iam_role.node : k => r.arn }
}

output "node_group_names" {
  description = "Managed node group names."
  value       = { for k, g in aws_eks_node_group.this : k => g.node_group_name }
}

output "secrets_kms_key_arn" {
  description = "KMS key of the secrets envelope encryption."
  value       = aws_kms_key.secrets.arn
}

output "admin_principal_arns" {
  description = "Principals with a cluster-admin access entry."
  value       = sort(tolist(local.admin_principals))
}
