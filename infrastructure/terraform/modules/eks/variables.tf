variable "name" {
  description = "Name prefix."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name."
  type        = string
}

variable "cluster_version" {
  description = "Kubernetes version."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control plane ENIs and the nodes."
  type        = list(string)
}

variable "node_security_group_id" {
  description = "Security group of the worker nodes."
  type        = string
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed on the public API endpoint; empty = private endpoint only."
  type        = list(string)
}

variable "control_plane_log_group_name" {
  description = "Pre-created log group /aws/eks/<cluster>/cluster (retention and KMS set by observability)."
  type        = string
}

variable "admin_principal_arns" {
  description = "Extra IAM principals made cluster admins."
  type        = list(string)
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "ondemand" {
  description = "On-demand node group: instance_types, min_size, desired_size, max_size."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
  })
}

variable "spot" {
  description = "Spot node group: instance_types, min_size, desired_size, max_size."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
  })
}
