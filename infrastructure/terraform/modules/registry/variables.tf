variable "name" {
  description = "Name prefix."
  type        = string
}

variable "repositories" {
  description = "Repository names."
  type        = list(string)
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "node_role_arns" {
  description = "Node roles allowed to pull."
  type        = list(string)
}
