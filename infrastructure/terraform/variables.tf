# Root module inputs. The names are a published interface (the terraform_apply role writes a
# -var-file from the inventory): keep them stable, see docs/terraform.md.

variable "project" {
  description = "Short project name, used as a prefix of every resource name."
  type        = string
  default     = "cxr"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.project))
    error_message = "project must be 2-12 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (local, dev, staging or production)."
  type        = string
  validation {
    condition     = contains(["local", "dev", "staging", "production"], var.environment)
    error_message = "environment must be one of local, dev, staging, production."
  }
}

variable "region" {
  description = "Primary AWS region, e.g. us-east-1."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "replica_region" {
  description = "Region that receives the cross-region replica of the model artifacts bucket."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.replica_region))
    error_message = "replica_region must look like an AWS region name, e.g. us-west-2."
  }
}

variable "aws_endpoint_url" {
  description = "Endpoint of an AWS emulator (the local sandbox). Empty for real AWS: then no endpoint override and no skip_* flag is set."
  type        = string
  default     = ""
  validation {
    condition     = var.aws_endpoint_url == "" || can(regex("^https?://[^/]+/?$", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be empty or a URL like http://127.0.0.1:5000."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged over Project/Environment/ManagedBy)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------- network
variable "vpc_cidr" {
  description = "CIDR of the VPC (a /16 to /20)."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix between /16 and /20."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over (2-4)."
  type        = number
  default     = 2
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number between 2 and 4."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per AZ (resilient)."
  type        = bool
  default     = false
}

variable "flow_logs_traffic_type" {
  description = "Traffic captured by the VPC flow logs: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"
  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_logs_traffic_type)
    error_message = "flow_logs_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

# ---------------------------------------------------------------- eks
variable "cluster_version" {
  description = "Kubernetes version of the EKS control plane, e.g. 1.31."
  type        = string
  default     = "1.31"
  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.cluster_version))
    error_message = "cluster_version must look like 1.31."
  }
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint. Empty list: private endpoint only."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "cluster_endpoint_public_access_cidrs must hold valid CIDRs."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM principals (roles/users) made EKS cluster admins by access entries, besides the identity running Terraform."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_principal_arns must hold IAM role or user ARNs."
  }
}

variable "ondemand_instance_types" {
  description = "Instance types of the on-demand managed node group (critical workloads)."
  type        = list(string)
  default     = ["m6i.large"]
  validation {
    condition     = length(var.ondemand_instance_types) > 0
    error_message = "ondemand_instance_types must not be empty."
  }
}

variable "ondemand_min_size" {
  description = "Minimum size of the on-demand node group."
  type        = number
  default     = 2
}

variable "ondemand_desired_size" {
  description = "Desired size of the on-demand node group (min <= desired <= max)."
  type        = number
  default     = 2
  validation {
    condition     = var.ondemand_min_size >= 0 && var.ondemand_min_size <= var.ondemand_desired_size && var.ondemand_desired_size <= var.ondemand_max_size && var.ondemand_max_size >= 1
    error_message = "On-demand node group sizes must satisfy 0 <= ondemand_min_size <= ondemand_desired_size <= ondemand_max_size, max >= 1."
  }
}

variable "ondemand_max_size" {
  description = "Maximum size of the on-demand node group."
  type        = number
  default     = 4
}

variable "spot_instance_types" {
  description = "Instance types of the spot node group (non-critical, tainted workloads); list several for capacity."
  type        = list(string)
  default     = ["m6i.large", "m5.large", "m5a.large"]
  validation {
    condition     = length(var.spot_instance_types) > 0
    error_message = "spot_instance_types must not be empty."
  }
}

variable "spot_min_size" {
  description = "Minimum size of the spot node group."
  type        = number
  default     = 0
}

variable "spot_desired_size" {
  description = "Desired size of the spot node group (min <= desired <= max)."
  type        = number
  default     = 1
  validation {
    condition     = var.spot_min_size >= 0 && var.spot_min_size <= var.spot_desired_size && var.spot_desired_size <= var.spot_max_size && var.spot_max_size >= 1
    error_message = "Spot node group sizes must satisfy 0 <= spot_min_size <= spot_desired_size <= spot_max_size, max >= 1."
  }
}

variable "spot_max_size" {
  description = "Maximum size of the spot node group."
  type        = number
  default     = 4
}

# ---------------------------------------------------------------- data
variable "db_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.t4g.medium"
  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.medium."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major(.minor) version."
  type        = string
  default     = "16.4"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB (20-65536)."
  type        = number
  default     = 50
  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 65536
    error_message = "db_allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (>= db_allocated_storage)."
  type        = number
  default     = 200
  validation {
    condition     = var.db_max_allocated_storage >= var.db_allocated_storage
    error_message = "db_max_allocated_storage must be >= db_allocated_storage."
  }
}

variable "db_multi_az" {
  description = "Multi-AZ RDS deployment (must be true in production)."
  type        = bool
  default     = true
  validation {
    condition     = var.db_multi_az || var.environment != "production"
    error_message = "db_multi_az must be true in production."
  }
}

variable "db_name" {
  description = "Name of the application database."
  type        = string
  default     = "cxr"
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and hold only lower-case letters, digits and '_'."
  }
}

variable "db_username" {
  description = "Master user name; the password is generated and kept by RDS in Secrets Manager."
  type        = string
  default     = "cxr_admin"
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.db_username)) && !contains(["admin", "postgres", "rdsadmin"], var.db_username)
    error_message = "db_username must be 1-16 lower-case letters, digits or '_', start with a letter, and not be a reserved name."
  }
}

variable "db_backup_retention_period" {
  description = "Days of automated backups (point-in-time recovery window). The RPO of 1 h relies on it."
  type        = number
  default     = 30
  validation {
    condition     = var.db_backup_retention_period >= 7 && var.db_backup_retention_period <= 35
    error_message = "db_backup_retention_period must be between 7 and 35 days."
  }
}

variable "db_cross_region_replica_enabled" {
  description = "Create a cross-region read replica of the database in replica_region (with its own KMS key and an isolated database VPC) for regional failover. Off by default: roughly the primary's single-AZ instance price again (docs/terraform.md)."
  type        = bool
  default     = false
  validation {
    condition     = !var.db_cross_region_replica_enabled || var.replica_region != var.region
    error_message = "db_cross_region_replica_enabled needs a replica_region different from region."
  }
}

variable "db_replica_vpc_cidr" {
  description = "CIDR of the isolated database VPC in replica_region that holds the cross-region replica (/16 to /22; keep it apart from the VPCs it may be peered with)."
  type        = string
  default     = "10.60.0.0/20"
  validation {
    condition     = can(cidrhost(var.db_replica_vpc_cidr, 0)) && tonumber(split("/", var.db_replica_vpc_cidr)[1]) >= 16 && tonumber(split("/", var.db_replica_vpc_cidr)[1]) <= 22
    error_message = "db_replica_vpc_cidr must be a valid IPv4 CIDR with a prefix between /16 and /22."
  }
}

variable "db_deletion_protection" {
  description = "RDS deletion protection (must be true in production)."
  type        = bool
  default     = true
  validation {
    condition     = var.db_deletion_protection || var.environment != "production"
    error_message = "db_deletion_protection must be true in production."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must look like cache.t4g.small."
  }
}

variable "redis_num_cache_clusters" {
  description = "Number of Redis nodes in the replication group (1-6; >= 2 enables automatic failover and Multi-AZ)."
  type        = number
  default     = 2
  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be between 1 and 6."
  }
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_auth_token" {
  description = "Redis AUTH token (16-128 printable characters, no '@', '\"', '/' or spaces). Keep it in Ansible Vault; pass it as TF_VAR_redis_auth_token, not in a var-file."
  type        = string
  sensitive   = true
  # No validation block on purpose: Terraform 1.11 prints the offending value of a failed
  # validation even for a sensitive variable. The terraform_apply role checks it (no_log).
}

# ---------------------------------------------------------------- storage
variable "data_lake_ia_transition_days" {
  description = "Days before data-lake objects move to STANDARD_IA (>= 30)."
  type        = number
  default     = 30
  validation {
    condition     = var.data_lake_ia_transition_days >= 30
    error_message = "data_lake_ia_transition_days must be >= 30 (S3 minimum for STANDARD_IA)."
  }
}

variable "data_lake_glacier_transition_days" {
  description = "Days before data-lake objects move to GLACIER_IR (> the IA transition)."
  type        = number
  default     = 90
  validation {
    condition     = var.data_lake_glacier_transition_days > var.data_lake_ia_transition_days
    error_message = "data_lake_glacier_transition_days must be greater than data_lake_ia_transition_days."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days noncurrent object versions are kept."
  type        = number
  default     = 90
  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be >= 1."
  }
}

variable "backup_retention_days" {
  description = "Days the backup jobs' dumps and configuration archives are kept in the backups bucket (S3 expires them the day after; noncurrent versions there are kept as long). Match backup_cronjobs_retention_days."
  type        = number
  default     = 30
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number between 1 and 3650."
  }
}

variable "force_destroy_buckets" {
  description = "Allow terraform destroy to empty buckets (never in production)."
  type        = bool
  default     = false
  validation {
    condition     = !var.force_destroy_buckets || var.environment != "production"
    error_message = "force_destroy_buckets must be false in production."
  }
}

# ---------------------------------------------------------------- edge
variable "domain_name" {
  description = "DNS name served by the ALB (the ACM certificate's subject)."
  type        = string
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name must be a fully qualified domain name such as cxr.example.com."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone for DNS validation of the certificate. Empty: validate out of band."
  type        = string
  default     = ""
}

variable "blue_weight" {
  description = "Share of HTTPS traffic forwarded to the blue target group (0-100; blue_weight + green_weight = 100)."
  type        = number
  default     = 100
  validation {
    condition     = var.blue_weight >= 0 && var.blue_weight <= 100
    error_message = "blue_weight must be between 0 and 100."
  }
}

variable "green_weight" {
  description = "Share of HTTPS traffic forwarded to the green target group."
  type        = number
  default     = 0
  validation {
    condition     = var.green_weight >= 0 && var.green_weight <= 100 && var.blue_weight + var.green_weight == 100
    error_message = "green_weight must be between 0 and 100 and blue_weight + green_weight must be 100."
  }
}

variable "service_port" {
  description = "Port the inference pods listen on (ALB target groups and the ALB-to-node security group rule)."
  type        = number
  default     = 8080
  validation {
    condition     = var.service_port >= 1024 && var.service_port <= 65535
    error_message = "service_port must be between 1024 and 65535."
  }
}

variable "alb_deletion_protection" {
  description = "ALB deletion protection (must be true in production)."
  type        = bool
  default     = true
  validation {
    condition     = var.alb_deletion_protection || var.environment != "production"
    error_message = "alb_deletion_protection must be true in production."
  }
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per client IP before WAF blocks it (100-2000000000)."
  type        = number
  default     = 2000
  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 100 and 2000000000."
  }
}

variable "external_dns_zone_ids" {
  description = "Route 53 hosted zone ids ExternalDNS may change records in (its IRSA role). Empty: it may list zones and change nothing."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for z in var.external_dns_zone_ids : can(regex("^Z[A-Z0-9]{1,32}$", z))])
    error_message = "external_dns_zone_ids must hold hosted zone ids such as Z0123456789ABCDEFGHIJ (without /hostedzone/)."
  }
}

# ---------------------------------------------------------------- registry
variable "ecr_repositories" {
  description = "ECR repositories to create."
  type        = list(string)
  default     = ["cxr-inference", "cxr-training"]
  validation {
    condition     = alltrue([for r in var.ecr_repositories : can(regex("^[a-z0-9][a-z0-9._/-]{1,255}$", r))])
    error_message = "ecr_repositories must hold valid repository names (lower case)."
  }
}

# ---------------------------------------------------------------- observability
variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (a value CloudWatch accepts, >= 90 for audit)."
  type        = number
  default     = 365
  validation {
    condition     = contains([90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 90 days (90, 120, 150, 180, 365, ...)."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic."
  type        = string
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a deleted KMS key is destroyed (7-30)."
  type        = number
  default     = 30
  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
