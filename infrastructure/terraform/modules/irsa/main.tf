# IAM roles for service accounts (IRSA): one role per Kubernetes service account, trusted only by
# the cluster's OIDC provider for exactly system:serviceaccount:<namespace>:<name> with audience
# sts.amazonaws.com, each with an inline least-privilege policy.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  issuer     = trimprefix(var.oidc_issuer_url, "https://")

  elb_arn    = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}"
  sg_arn     = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/*"
  s3_via     = "s3.${local.region}.amazonaws.com"
  zone_arns  = [for z in var.external_dns_zone_ids : "arn:${local.partition}:route53:::hostedzone/${z}"]
  log_groups = flatten([for g in var.fluent_bit_log_group_arns : [g, "${g}:*"]])

  # The backup jobs: each writes, reads, lists and prunes (the jobs delete sets older than the
  # retention) under its own prefix of the backups bucket, and nothing else there.
  backup_prefixes = {
    backup_postgres    = var.backup.prefixes.postgres
    backup_kube_config = var.backup.prefixes.kube_config
    backup_appdata     = var.backup.prefixes.appdata
  }

  policies = {
    aws_load_balancer_controller = data.aws_iam_policy_document.load_balancer_controller.json
    cluster_autoscaler           = data.aws_iam_policy_document.cluster_autoscaler.json
    aws_for_fluent_bit           = data.aws_iam_policy_document.fluent_bit.json
    external_dns                 = data.aws_iam_policy_document.external_dns.json
    backup_postgres              = data.aws_iam_policy_document.backup["backup_postgres"].json
    backup_kube_config           = data.aws_iam_policy_document.backup["backup_kube_config"].json
    backup_appdata               = data.aws_iam_policy_document.backup["backup_appdata"].json
  }
}

# ------------------------------------------------------------------ trust
data "aws_iam_policy_document" "trust" {
  for_each = var.service_accounts

  statement {
    sid     = "ServiceAccount"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = var.service_accounts
  name                 = "${var.name}-${replace(each.key, "_", "-")}"
  description          = "IRSA: ${each.value.namespace}/${each.value.name} on ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "this" {
  for_each = var.service_accounts
  name     = replace(each.key, "_", "-")
  role     = aws_iam_role.this[each.key].id
  policy   = local.policies[each.key]
}

# ------------------------------------------------------------------ AWS Load Balancer Controller
# The controller's published policy (v2.13, docs/install/iam_policy.json), narrowed: ARNs pinned
# to this account and region, and every tag condition on elbv2.k8s.aws/cluster requires this
# cluster's name (the controller tags what it creates with it), not just any value.
data "aws_iam_policy_document" "load_balancer_controller" {
  #checkov:skip=CKV_AWS_111:The controller's published policy: creates are conditioned on this cluster's elbv2.k8s.aws/cluster tag; listener, rule and WAF/Shield changes target load balancers whose ARNs AWS generates.
  #checkov:skip=CKV_AWS_356:"*" only where the controller's published policy needs it (Describe/Get calls, tag-conditioned creates, listener/rule/WAF changes); ARNs with a resource type are pinned to this account and region.
  statement {
    sid       = "ServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools",
      "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools", "ec2:DescribeRouteTables",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
      "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeCapacityReservation",
    ]
    resources = ["*"]
  }
  statement {
    sid = "CertificatesWafShield"
    actions = [
      "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
      "iam:ListServerCertificates", "iam:GetServerCertificate",
      "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
      "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
      "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "NodeSecurityGroupIngress"
    actions   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
    resources = [local.sg_arn]
  }
  statement {
    sid       = "CreateSecurityGroup"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = [local.sg_arn, "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/${var.vpc_id}"]
  }
  statement {
    sid       = "TagNewSecurityGroup"
    actions   = ["ec2:CreateTags"]
    resources = [local.sg_arn]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "RetagOwnSecurityGroups"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = [local.sg_arn]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["true"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "ManageOwnSecurityGroups"
    actions   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"]
    resources = [local.sg_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "CreateTaggedLoadBalancers"
    actions   = ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "ListenersAndRules"
    actions   = ["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"]
    resources = ["*"]
  }
  statement {
    sid     = "RetagOwnLoadBalancers"
    actions = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = [
      "${local.elb_arn}:targetgroup/*/*",
      "${local.elb_arn}:loadbalancer/net/*/*",
      "${local.elb_arn}:loadbalancer/app/*/*",
    ]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["true"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid     = "TagListenersAndRules"
    actions = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = [
      "${local.elb_arn}:listener/net/*/*/*",
      "${local.elb_arn}:listener/app/*/*/*",
      "${local.elb_arn}:listener-rule/net/*/*/*",
      "${local.elb_arn}:listener-rule/app/*/*/*",
    ]
  }
  statement {
    sid = "ManageOwnLoadBalancers"
    actions = [
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
      "elasticloadbalancing:ModifyIpPools",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid     = "TagOnCreate"
    actions = ["elasticloadbalancing:AddTags"]
    resources = [
      "${local.elb_arn}:targetgroup/*/*",
      "${local.elb_arn}:loadbalancer/net/*/*",
      "${local.elb_arn}:loadbalancer/app/*/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "elasticloadbalancing:CreateAction"
      values   = ["CreateTargetGroup", "CreateLoadBalancer"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "Targets"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = ["${local.elb_arn}:targetgroup/*/*"]
  }
  statement {
    sid = "ListenerSettings"
    actions = [
      "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
      "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
    ]
    resources = ["*"]
  }
}

# ------------------------------------------------------------------ Cluster Autoscaler
# Scales only the Auto Scaling groups EKS tags as this cluster's managed node groups
# (k8s.io/cluster-autoscaler/<cluster>=owned and k8s.io/cluster-autoscaler/enabled=true).
data "aws_iam_policy_document" "cluster_autoscaler" {
  statement {
    sid       = "ScaleOwnNodeGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled"
      values   = ["true"]
    }
  }
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "DescribeOwnNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"]
  }
}

# ------------------------------------------------------------------ Fluent Bit
# Writes container logs to the existing log groups (autoCreateGroup is off: no CreateLogGroup, no
# retention changes; the groups' KMS key is used by CloudWatch Logs, not by the writer).
data "aws_iam_policy_document" "fluent_bit" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = local.log_groups
  }
}

# ------------------------------------------------------------------ ExternalDNS
# Changes records only in the listed hosted zones; with none listed it can list zones and nothing else.
data "aws_iam_policy_document" "external_dns" {
  statement {
    sid       = "ListZones"
    actions   = ["route53:ListHostedZones"]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = length(local.zone_arns) > 0 ? [1] : []
    content {
      sid       = "ManageRecordsInListedZones"
      actions   = ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets", "route53:ListTagsForResource", "route53:ListTagsForResources"]
      resources = local.zone_arns
    }
  }
}

# ------------------------------------------------------------------ backup CronJobs
data "aws_iam_policy_document" "backup" {
  for_each = local.backup_prefixes

  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.backup.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [each.value, "${each.value}/*"]
    }
  }
  statement {
    sid = "ReadWritePruneOwnPrefix"
    actions = [
      "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.backup.bucket_arn}/${each.value}/*"]
  }
  statement {
    sid       = "BucketKeyThroughS3"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.backup.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via]
    }
  }

  # pg_dump reads the RDS-managed master password.
  dynamic "statement" {
    for_each = each.key == "backup_postgres" ? [1] : []
    content {
      sid       = "ReadDatabaseSecret"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [var.backup.db_secret_arn]
    }
  }
  dynamic "statement" {
    for_each = each.key == "backup_postgres" ? [1] : []
    content {
      sid       = "DecryptDatabaseSecret"
      actions   = ["kms:Decrypt"]
      resources = [var.backup.db_secret_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  # The incremental copy reads the data lake (server-side copy keeps tags: GetObjectTagging on the
  # source, PutObjectTagging on the copy).
  dynamic "statement" {
    for_each = each.key == "backup_appdata" ? [1] : []
    content {
      sid       = "ListDataLake"
      actions   = ["s3:ListBucket"]
      resources = [var.backup.source_bucket_arn]
    }
  }
  dynamic "statement" {
    for_each = each.key == "backup_appdata" ? [1] : []
    content {
      sid       = "ReadDataLake"
      actions   = ["s3:GetObject", "s3:GetObjectTagging"]
      resources = ["${var.backup.source_bucket_arn}/*"]
    }
  }
  dynamic "statement" {
    for_each = each.key == "backup_appdata" ? [1] : []
    content {
      sid       = "TagCopies"
      actions   = ["s3:PutObjectTagging"]
      resources = ["${var.backup.bucket_arn}/${each.value}/*"]
    }
  }
}
