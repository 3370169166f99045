variable "name" {
  description = "Name prefix; roles are <name>-<service account purpose>."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name (cluster autoscaler tag scope, node group ARNs)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (the only one the load balancer controller may create security groups in)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster (the trust policies' federated principal)."
  type        = string
}

variable "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster (https://oidc.eks.<region>.amazonaws.com/id/<id>)."
  type        = string
}

variable "fluent_bit_log_group_arns" {
  description = "Log groups Fluent Bit writes container logs to (ARNs without the trailing :*)."
  type        = list(string)
}

variable "external_dns_zone_ids" {
  description = "Route 53 hosted zones ExternalDNS may change; empty: it may list zones but change nothing."
  type        = list(string)
}

variable "backup" {
  description = "What the backup CronJobs touch: the backups bucket and its KMS key, their key prefixes, the data-lake bucket (application-data source) and the RDS master secret with its KMS key."
  type = object({
    bucket_arn            = string
    kms_key_arn           = string
    source_bucket_arn     = string
    db_secret_arn         = string
    db_secret_kms_key_arn = string
    prefixes = object({
      postgres    = string
      kube_config = string
      appdata     = string
    })
  })
}

variable "service_accounts" {
  description = "Kubernetes namespace and name of each service account (keys as in the irsa_role_arns output); they must match roles/cluster_baseline and roles/backup_cronjobs."
  type = map(object({
    namespace = string
    name      = string
  }))
  default = {
    aws_load_balancer_controller = { namespace = "kube-system", name = "aws-load-balancer-controller" }
    cluster_autoscaler           = { namespace = "kube-system", name = "cluster-autoscaler" }
    aws_for_fluent_bit           = { namespace = "amazon-cloudwatch", name = "aws-for-fluent-bit" }
    external_dns                 = { namespace = "kube-system", name = "external-dns" }
    backup_postgres              = { namespace = "cxr-backups", name = "cxr-backup-postgres" }
    backup_kube_config           = { namespace = "cxr-backups", name = "cxr-backup-kube-config" }
    backup_appdata               = { namespace = "cxr-backups", name = "cxr-backup-appdata" }
  }
  validation {
    condition = length(setsubtract(
      ["aws_load_balancer_controller", "cluster_autoscaler", "aws_for_fluent_bit", "external_dns", "backup_postgres", "backup_kube_config", "backup_appdata"],
      keys(var.service_accounts),
    )) == 0
    error_message = "service_accounts must name every role: aws_load_balancer_controller, cluster_autoscaler, aws_for_fluent_bit, external_dns, backup_postgres, backup_kube_config, backup_appdata."
  }
}
