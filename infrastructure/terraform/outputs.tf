# Outputs consumed by later roles (eks_access, helm_monitoring, backup_cronjobs, blue_green_cutover).

output "account_id" {
  description = "AWS account id."
  value       = data.aws_caller_identity.current.account_id
}

output "region" {
  description = "Primary region."
  value       = data.aws_region.current.name
}

output "replica_region" {
  description = "Replica region."
  value       = var.replica_region
}

output "environment" {
  description = "Environment name."
  value       = var.environment
}

# network
output "vpc_id" {
  description = "VPC id."
  value       = module.network.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnet ids."
  value       = module.network.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnet ids."
  value       = module.network.private_subnet_ids
}

output "security_group_ids" {
  description = "Security group ids by role (alb, nodes, postgres, redis)."
  value       = module.network.security_group_ids
}

# eks
output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_ca" {
  description = "Base64 cluster CA bundle."
  value       = module.eks.cluster_ca
}

output "cluster_arn" {
  description = "EKS cluster ARN."
  value       = module.eks.cluster_arn
}

output "cluster_version" {
  description = "Kubernetes version."
  value       = module.eks.cluster_version
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider ARN (IRSA)."
  value       = module.eks.oidc_provider_arn
}

output "irsa_role_arns" {
  description = "IRSA role ARNs by purpose: aws_load_balancer_controller, cluster_autoscaler, aws_for_fluent_bit, external_dns (cluster_baseline_irsa_role_arns), backup_postgres, backup_kube_config, backup_appdata (backup_cronjobs_*_irsa_role_arn)."
  value       = module.irsa.role_arns
}

output "irsa_role_names" {
  description = "IRSA role names by purpose (health_check_backup_role_names takes the backup_* ones)."
  value       = module.irsa.role_names
}

output "irsa_service_accounts" {
  description = "The service account (<namespace>/<name>) each IRSA role trusts, by purpose."
  value       = module.irsa.service_accounts
}

output "node_role_arns" {
  description = "Node role ARNs by node group (ondemand, spot)."
  value       = module.eks.node_role_arns
}

output "cluster_admin_principal_arns" {
  description = "Principals with a cluster-admin access entry (the Terraform identity first)."
  value       = module.eks.admin_principal_arns
}

# data
output "db_endpoint" {
  description = "RDS endpoint host:port."
  value       = module.data.db_endpoint
}

output "db_address" {
  description = "RDS host."
  value       = module.data.db_address
}

output "db_port" {
  description = "RDS port."
  value       = module.data.db_port
}

output "db_identifier" {
  description = "RDS instance identifier."
  value       = module.data.db_identifier
}

output "db_name" {
  description = "Application database name."
  value       = module.data.db_name
}

output "db_username" {
  description = "RDS master user name."
  value       = module.data.db_username
}

output "db_master_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master password."
  value       = module.data.db_master_secret_arn
}

output "db_replica" {
  description = "The cross-region read replica (identifier, arn, address, region, kms_key_arn, subnet_group_name, security_group_id); null when db_cross_region_replica_enabled is false."
  value = var.db_cross_region_replica_enabled ? {
    identifier        = module.db_replica[0].db_identifier
    arn               = module.db_replica[0].db_arn
    address           = module.db_replica[0].db_address
    region            = module.db_replica[0].region
    kms_key_arn       = module.db_replica[0].kms_key_arn
    subnet_group_name = module.db_replica[0].subnet_group_name
    security_group_id = module.db_replica[0].security_group_id
  } : null
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint (TLS + AUTH)."
  value       = module.data.redis_primary_endpoint
}

output "redis_port" {
  description = "Redis port."
  value       = module.data.redis_port
}

# storage
output "model_bucket_name" {
  description = "Model artifacts bucket."
  value       = module.storage.bucket_names["models"]
}

output "model_bucket_arn" {
  description = "Model artifacts bucket ARN."
  value       = module.storage.bucket_arns["models"]
}

output "data_lake_bucket_name" {
  description = "Data lake bucket."
  value       = module.storage.bucket_names["data-lake"]
}

output "data_lake_bucket_arn" {
  description = "Data lake bucket ARN."
  value       = module.storage.bucket_arns["data-lake"]
}

output "backup_bucket_name" {
  description = "Backups bucket (pg_dump CronJob target)."
  value       = module.storage.bucket_names["backups"]
}

output "backup_bucket_arn" {
  description = "Backups bucket ARN."
  value       = module.storage.bucket_arns["backups"]
}

output "replica_bucket_name" {
  description = "Cross-region replica of the model artifacts."
  value       = module.storage.bucket_names["replica"]
}

output "logs_bucket_name" {
  description = "Access logs bucket."
  value       = module.storage.bucket_names["logs"]
}

output "kms_key_arns" {
  description = "KMS key ARNs by purpose."
  value = {
    eks_secrets = module.eks.secrets_kms_key_arn
    data        = module.data.kms_key_arn
    storage     = module.storage.kms_key_arn
    replica     = module.storage.replica_kms_key_arn
    ecr         = module.registry.kms_key_arn
    logs        = module.observability.kms_key_arn
  }
}

# edge
output "alb_arn" {
  description = "ALB ARN."
  value       = module.edge.alb_arn
}

output "alb_dns_name" {
  description = "ALB DNS name."
  value       = module.edge.alb_dns_name
}

output "https_listener_arn" {
  description = "HTTPS listener ARN."
  value       = module.edge.https_listener_arn
}

output "target_group_arns" {
  description = "Target group ARNs by color (blue, green)."
  value       = module.edge.target_group_arns
}

output "certificate_arn" {
  description = "ACM certificate ARN."
  value       = module.edge.certificate_arn
}

output "waf_acl_arn" {
  description = "WAFv2 web ACL ARN."
  value       = module.edge.waf_acl_arn
}

# registry
output "ecr_repository_urls" {
  description = "ECR repository URLs by name."
  value       = module.registry.repository_urls
}

output "ecr_repository_url" {
  description = "URL of the first repository (the inference image)."
  value       = module.registry.repository_urls[var.ecr_repositories[0]]
}

# observability
output "log_group_names" {
  description = "Log group names by purpose (eks, flow_logs, app, waf)."
  value       = module.observability.log_group_names
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.observability.alarm_topic_arn
}
