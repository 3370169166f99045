# Root module: one instance per environment; inputs come from the inventory (terraform_apply role).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  name         = "${var.project}-${var.environment}"
  cluster_name = "${local.name}-eks"
  # Key prefixes of the backup jobs in the backups bucket (roles/backup_cronjobs defaults
  # backup_cronjobs_postgres_prefix, _kube_prefix, _appdata_prefix): lifecycle rules and IRSA scope.
  backup_prefixes = {
    postgres    = "postgres"
    kube_config = "kube-config"
    appdata     = "appdata"
  }
  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

module "observability" {
  source                   = "./modules/observability"
  name                     = local.name
  cluster_name             = local.cluster_name
  log_retention_days       = var.log_retention_days
  alarm_email              = var.alarm_email
  kms_deletion_window_days = var.kms_deletion_window_days
  alarm_targets = {
    db_instance_id             = module.data.db_identifier
    redis_replication_group_id = module.data.redis_replication_group_id
    alb_arn_suffix             = module.edge.alb_arn_suffix
    target_group_arn_suffixes  = module.edge.target_group_arn_suffixes
  }
}

module "network" {
  source                 = "./modules/network"
  name                   = local.name
  cluster_name           = local.cluster_name
  vpc_cidr               = var.vpc_cidr
  az_count               = var.az_count
  single_nat_gateway     = var.single_nat_gateway
  flow_logs_traffic_type = var.flow_logs_traffic_type
  flow_log_group_arn     = module.observability.log_group_arns["flow_logs"]
  service_port           = var.service_port
}

module "eks" {
  source                       = "./modules/eks"
  name                         = local.name
  cluster_name                 = local.cluster_name
  cluster_version              = var.cluster_version
  subnet_ids                   = module.network.private_subnet_ids
  node_security_group_id       = module.network.security_group_ids["nodes"]
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs
  control_plane_log_group_name = module.observability.log_group_names["eks"]
  admin_principal_arns         = var.cluster_admin_principal_arns
  kms_deletion_window_days     = var.kms_deletion_window_days
  ondemand = {
    instance_types = var.ondemand_instance_types
    min_size       = var.ondemand_min_size
    desired_size   = var.ondemand_desired_size
    max_size       = var.ondemand_max_size
  }
  spot = {
    instance_types = var.spot_instance_types
    min_size       = var.spot_min_size
    desired_size   = var.spot_desired_size
    max_size       = var.spot_max_size
  }
}

module "data" {
  source                   = "./modules/data"
  name                     = local.name
  subnet_ids               = module.network.private_subnet_ids
  db_security_group_id     = module.network.security_group_ids["postgres"]
  redis_security_group_id  = module.network.security_group_ids["redis"]
  kms_deletion_window_days = var.kms_deletion_window_days
  redis_auth_token         = var.redis_auth_token
  db = {
    instance_class          = var.db_instance_class
    engine_version          = var.db_engine_version
    allocated_storage       = var.db_allocated_storage
    max_allocated_storage   = var.db_max_allocated_storage
    multi_az                = var.db_multi_az
    name                    = var.db_name
    username                = var.db_username
    backup_retention_period = var.db_backup_retention_period
    deletion_protection     = var.db_deletion_protection
  }
  redis = {
    node_type          = var.redis_node_type
    num_cache_clusters = var.redis_num_cache_clusters
    engine_version     = var.redis_engine_version
  }
}

module "storage" {
  source = "./modules/storage"
  providers = {
    aws         = aws
    aws.replica = aws.replica
  }
  name                               = local.name
  kms_deletion_window_days           = var.kms_deletion_window_days
  force_destroy                      = var.force_destroy_buckets
  data_lake_ia_transition_days       = var.data_lake_ia_transition_days
  data_lake_glacier_transition_days  = var.data_lake_glacier_transition_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  backup_retention_days              = var.backup_retention_days
  backup_prefixes                    = local.backup_prefixes
}

module "edge" {
  source                = "./modules/edge"
  name                  = local.name
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  alb_security_group_id = module.network.security_group_ids["alb"]
  domain_name           = var.domain_name
  route53_zone_id       = var.route53_zone_id
  blue_weight           = var.blue_weight
  green_weight          = var.green_weight
  waf_rate_limit        = var.waf_rate_limit
  deletion_protection   = var.alb_deletion_protection
  waf_log_group_arn     = module.observability.log_group_arns["waf"]
  access_logs_bucket    = module.storage.logs_bucket_name
  service_port          = var.service_port
}

module "registry" {
  source                   = "./modules/registry"
  name                     = local.name
  repositories             = var.ecr_repositories
  kms_deletion_window_days = var.kms_deletion_window_days
  node_role_arns           = values(module.eks.node_role_arns)
}

module "irsa" {
  source                    = "./modules/irsa"
  name                      = local.name
  cluster_name              = module.eks.cluster_name
  vpc_id                    = module.network.vpc_id
  oidc_provider_arn         = module.eks.oidc_provider_arn
  oidc_issuer_url           = module.eks.oidc_issuer_url
  fluent_bit_log_group_arns = [module.observability.log_group_arns["app"]]
  external_dns_zone_ids     = var.external_dns_zone_ids
  backup = {
    bucket_arn            = module.storage.bucket_arns["backups"]
    kms_key_arn           = module.storage.kms_key_arn
    source_bucket_arn     = module.storage.bucket_arns["data-lake"]
    db_secret_arn         = module.data.db_master_secret_arn
    db_secret_kms_key_arn = module.data.kms_key_arn
    prefixes              = local.backup_prefixes
  }
}

module "db_replica" {
  source = "./modules/db_replica"
  count  = var.db_cross_region_replica_enabled ? 1 : 0
  providers = {
    aws = aws.replica
  }
  name                     = local.name
  source_db_arn            = module.data.db_arn
  parameter_group_family   = module.data.db_parameter_group_family
  parameters               = module.data.db_parameters
  instance_class           = var.db_instance_class
  max_allocated_storage    = var.db_max_allocated_storage
  backup_retention_period  = var.db_backup_retention_period
  deletion_protection      = var.db_deletion_protection
  monitoring_role_arn      = module.data.monitoring_role_arn
  vpc_cidr                 = var.db_replica_vpc_cidr
  kms_deletion_window_days = var.kms_deletion_window_days
  log_retention_days       = var.log_retention_days
}
