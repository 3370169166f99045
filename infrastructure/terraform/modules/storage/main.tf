data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_elb_service_account" "current" {}

data "aws_region" "replica" {
  provider = aws.replica
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # Bucket names are global: account and region make them unique.
  suffix = "${local.account_id}-${data.aws_region.current.name}"
  # Buckets encrypted with the storage KMS key; "logs" (S3 server access and ALB logs) must use
  # SSE-S3 because neither log delivery supports SSE-KMS.
  kms_buckets = {
    models    = "${var.name}-model-artifacts-${local.suffix}"
    data-lake = "${var.name}-data-lake-${local.suffix}"
    backups   = "${var.name}-backups-${local.suffix}"
  }
  all_buckets = merge(local.kms_buckets, { logs = "${var.name}-access-logs-${local.suffix}" })
  lifecycle_tiers = {
    models = [{ days = 30, storage_class = "INTELLIGENT_TIERING" }]
    data-lake = [
      { days = var.data_lake_ia_transition_days, storage_class = "STANDARD_IA" },
      { days = var.data_lake_glacier_transition_days, storage_class = "GLACIER_IR" },
    ]
    # Backups: dumps and archives are expired after the retention (below), so tiering them to
    # Glacier IR (90-day minimum storage) would only add early-deletion charges; only the
    # long-lived application-data copies are tiered (rule "appdata-tiering").
    backups = []
    logs    = [{ days = 30, storage_class = "STANDARD_IA" }]
  }
  expiration_days = { logs = 365 }
  noncurrent_days = { for k in keys(local.all_buckets) : k => k == "backups" ? var.backup_retention_days : var.noncurrent_version_expiration_days }

  # Extra rules of the backups bucket, each on one prefix of the backup jobs. The dumps and the
  # configuration archives expire the day after the retention window: the jobs prune first (and keep
  # the newest good set), S3 enforces the retention even when a job stops running. Application-data
  # copies never expire while their source object exists (the incremental state relies on them);
  # their replaced and deleted versions are noncurrent and expire with the bucket-wide rule.
  backup_rules = {
    expire-postgres = {
      prefix      = "${var.backup_prefixes.postgres}/"
      expire_days = var.backup_retention_days + 1
      transitions = []
    }
    expire-kube-config = {
      prefix      = "${var.backup_prefixes.kube_config}/"
      expire_days = var.backup_retention_days + 1
      transitions = []
    }
    appdata-tiering = {
      prefix      = "${var.backup_prefixes.appdata}/"
      expire_days = null
      transitions = [{ days = 30, storage_class = "GLACIER_IR" }]
    }
  }
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_111:KMS key policy: "*" is this key; the account-root statement is the AWS default that lets IAM policies delegate use.
  #checkov:skip=CKV_AWS_356:KMS key policy: "*" is this key, not every resource.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "storage" {
  description             = "${var.name}: S3 model artifacts, data lake, backups"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "storage" {
  name          = "alias/${var.name}-storage"
  target_key_id = aws_kms_key.storage.key_id
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV2_AWS_62:Event notifications are not part of this platform; consumers poll.
  #checkov:skip=CKV_AWS_144:Only the model artifacts bucket is replicated (aws_s3_bucket_replication_configuration.models); data lake and backups are rebuildable or already regional copies.
  for_each      = local.all_buckets
  bucket        = each.value
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  #checkov:skip=CKV_AWS_145:The logs bucket receives S3 server access logs and ALB access logs, which only support SSE-S3; the other buckets use the storage KMS key.
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = contains(keys(local.kms_buckets), each.key) ? "aws:kms" : "AES256"
      kms_master_key_id = contains(keys(local.kms_buckets), each.key) ? aws_kms_key.storage.arn : null
    }
    bucket_key_enabled = contains(keys(local.kms_buckets), each.key)
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = local.kms_buckets
  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.this["logs"].id
  target_prefix = "s3/${each.key}/"

  # The log delivery permission lives in the logs bucket policy.
  depends_on = [aws_s3_bucket_policy.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    id     = "tiering"
    status = "Enabled"
    filter {}

    dynamic "transition" {
      for_each = local.lifecycle_tiers[each.key]
      content {
        days          = transition.value.days
        storage_class = transition.value.storage_class
      }
    }

    dynamic "expiration" {
      for_each = contains(keys(local.expiration_days), each.key) ? [local.expiration_days[each.key]] : []
      content {
        days = expiration.value
      }
    }

    # Backups: once their noncurrent versions are gone, remove the delete markers left behind by
    # expiration and pruning (a rule with an expiration in days cannot also do this).
    dynamic "expiration" {
      for_each = each.key == "backups" ? [1] : []
      content {
        expired_object_delete_marker = true
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = local.noncurrent_days[each.key]
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = each.key == "backups" ? local.backup_rules : {}
    content {
      id     = rule.key
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }

      dynamic "transition" {
        for_each = rule.value.transitions
        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }

      dynamic "expiration" {
        for_each = rule.value.expire_days == null ? [] : [rule.value.expire_days]
        content {
          days = expiration.value
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "AlbAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/alb/*"]
      principals {
        type        = "AWS"
        identifiers = [data.aws_elb_service_account.current.arn]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ------------------------------------------------------------------ replica region
resource "aws_kms_key" "replica" {
  provider                = aws.replica
  description             = "${var.name}: replica of the model artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_s3_bucket" "replica" {
  #checkov:skip=CKV2_AWS_62:Event notifications are not part of this platform.
  #checkov:skip=CKV_AWS_144:This bucket is itself the cross-region replica.
  #checkov:skip=CKV_AWS_18:The replica receives only replicated objects; access is logged on the source bucket.
  #checkov:skip=CKV2_AWS_61:Lifecycle of replicated versions follows the source bucket's rules (replicated deletes and noncurrent expiry).
  provider      = aws.replica
  bucket        = "${var.name}-model-artifacts-replica-${local.account_id}-${data.aws_region.replica.name}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "replica" {
  provider                = aws.replica
  bucket                  = aws_s3_bucket.replica.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "replica" {
  provider = aws.replica
  bucket   = aws_s3_bucket.replica.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "replica" {
  provider = aws.replica
  bucket   = aws_s3_bucket.replica.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.replica.arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "replication_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "replication" {
  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.this["models"].arn]
  }
  statement {
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${aws_s3_bucket.this["models"].arn}/*"]
  }
  statement {
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${aws_s3_bucket.replica.arn}/*"]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.storage.arn]
  }
  statement {
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.replica.arn]
  }
}

resource "aws_iam_role" "replication" {
  name               = "${var.name}-s3-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate-model-artifacts"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "models" {
  bucket = aws_s3_bucket.this["models"].id
  role   = aws_iam_role.replication.arn

  rule {
    id     = "model-artifacts-to-replica-region"
    status = "Enabled"
    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = aws_s3_bucket.replica.arn
      storage_class = "STANDARD_IA"
      encryption_configuration {
        replica_kms_key_id = aws_kms_key.replica.arn
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this, aws_s3_bucket_versioning.replica]
}
