# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Monthly cost of a Terraform plan, offline, from the dated price catalog.

Model (the same as Infracost's): every resource becomes cost components; a component is a
monthly quantity (hours, GB, requests, ...) times a unit price from the catalog. Hourly prices
use 730 hours a month. Usage-based quantities (GB stored, GB transferred, LCU, ...) come from a
usage preset (``small``/``medium``/``large``/``none``) overridden by a usage dictionary per
resource type and per resource address.

Every component carries an ``explanation`` that spells out its arithmetic, so a report can justify
each figure. A resource type this module cannot price is reported as ``unpriced`` (never as a
silent zero); resource types that AWS does not bill (VPC, subnets, IAM, ...) are reported as
``free``. Component costs are rounded to the cent, resource and total costs are sums of those.

Pure functions only: no network, no files except :func:`load_plan`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import math
import re
from decimal import Decimal, ROUND_HALF_UP

from ansible_collections.cxr.mlops.plugins.module_utils import terraform_plan
from ansible_collections.cxr.mlops.plugins.module_utils.cost_refs import PlanRefs, config_address, first_block, launch_template_volume
from ansible_collections.cxr.mlops.plugins.module_utils.pricing import PriceCatalog

CENT = Decimal("0.01")
ZERO = Decimal(0)

# (key, label, seed estimate range in USD/month or None)
CATEGORIES = (
    ("eks", "EKS (control plane + nodes + EBS)", (150, 300)),
    ("rds", "RDS", (100, 200)),
    ("elasticache", "ElastiCache", (50, 100)),
    ("s3", "S3", (20, 50)),
    ("data_transfer", "Data transfer (+NAT)", (30, 60)),
    ("other", "Other", None),
)
SEED_TOTAL_RANGE = (350, 710)

TYPE_CATEGORY = {
    "aws_eks_cluster": "eks", "aws_eks_node_group": "eks", "aws_instance": "eks", "aws_ebs_volume": "eks",
    "aws_db_instance": "rds",
    "aws_elasticache_replication_group": "elasticache", "aws_elasticache_cluster": "elasticache",
    "aws_s3_bucket": "s3",
    "aws_nat_gateway": "data_transfer", "aws_eip": "data_transfer", "data_transfer": "data_transfer",
}

FREE_TYPES = {
    "aws_vpc": "VPCs are free", "aws_subnet": "subnets are free", "aws_route_table": "route tables are free",
    "aws_route": "routes are free", "aws_route_table_association": "route table associations are free",
    "aws_internet_gateway": "internet gateways are free (data transfer is priced separately)",
    "aws_egress_only_internet_gateway": "egress-only internet gateways are free",
    "aws_default_route_table": "route tables are free", "aws_default_security_group": "security groups are free",
    "aws_default_network_acl": "network ACLs are free", "aws_network_acl": "network ACLs are free",
    "aws_security_group": "security groups are free", "aws_security_group_rule": "security group rules are free",
    "aws_vpc_security_group_ingress_rule": "security group rules are free",
    "aws_vpc_security_group_egress_rule": "security group rules are free",
    "aws_iam_role": "IAM is free", "aws_iam_policy": "IAM is free", "aws_iam_role_policy": "IAM is free",
    "aws_iam_role_policy_attachment": "IAM is free", "aws_iam_instance_profile": "IAM is free",
    "aws_iam_openid_connect_provider": "IAM is free", "aws_iam_user": "IAM is free",
    "aws_iam_policy_attachment": "IAM is free", "aws_iam_service_linked_role": "IAM is free",
    "aws_db_subnet_group": "subnet groups are free", "aws_db_parameter_group": "parameter groups are free",
    "aws_db_option_group": "option groups are free",
    "aws_elasticache_subnet_group": "subnet groups are free",
    "aws_elasticache_parameter_group": "parameter groups are free",
    "aws_s3_bucket_versioning": "bucket settings are free (stored versions count as storage)",
    "aws_s3_bucket_lifecycle_configuration": "bucket settings are free (transitions are requests)",
    "aws_s3_bucket_server_side_encryption_configuration": "bucket settings are free",
    "aws_s3_bucket_public_access_block": "bucket settings are free", "aws_s3_bucket_policy": "bucket settings are free",
    "aws_s3_bucket_ownership_controls": "bucket settings are free",
    "aws_s3_bucket_replication_configuration": "replication settings are free (replica storage and inter-region "
                                               "transfer are priced through usage)",
    "aws_s3_bucket_logging": "bucket settings are free", "aws_s3_bucket_notification": "bucket settings are free",
    "aws_kms_alias": "KMS aliases are free", "aws_lb_listener": "listeners are free (LCU priced on the load balancer)",
    "aws_lb_listener_rule": "listener rules are free (LCU priced on the load balancer)",
    "aws_lb_target_group": "target groups are free", "aws_lb_target_group_attachment": "target group attachments are free",
    "aws_eks_addon": "EKS add-ons are free (they run on the priced nodes)",
    "aws_eks_access_entry": "EKS access entries are free", "aws_eks_access_policy_association": "EKS access entries are free",
    "aws_eks_pod_identity_association": "EKS pod identity is free", "aws_launch_template": "launch templates are free",
    "aws_ecr_lifecycle_policy": "ECR policies are free", "aws_ecr_repository_policy": "ECR policies are free",
    "aws_secretsmanager_secret_version": "secret versions are free (the secret is priced)",
    "aws_secretsmanager_secret_rotation": "rotation settings are free",
    "aws_wafv2_web_acl_association": "WAF associations are free (the web ACL is priced)",
    "aws_wafv2_web_acl_logging_configuration": "WAF logging settings are free (the log destination is priced)",
    "aws_cloudwatch_log_resource_policy": "log resource policies are free",
    "aws_vpc_endpoint_route_table_association": "endpoint associations are free",
    "aws_eip_association": "EIP associations are free (the address is priced)",
    "aws_acm_certificate": "public ACM certificates are free", "aws_acm_certificate_validation": "ACM is free",
    "aws_route53_record": "records are free (queries are usage the catalog does not price)",
    "aws_sns_topic_subscription": "subscriptions are free",
}
FREE_PROVIDERS = {
    "random": "not an AWS resource (random provider)", "tls": "not an AWS resource (tls provider)",
    "null": "not an AWS resource (null provider)", "time": "not an AWS resource (time provider)",
    "local": "not an AWS resource (local provider)", "archive": "not an AWS resource (archive provider)",
    "cloudinit": "not an AWS resource (cloudinit provider)",
    "kubernetes": "Kubernetes object: runs on the priced EKS nodes",
    "helm": "Helm release: runs on the priced EKS nodes",
}

S3_TIERS = ("standard", "standard_ia", "intelligent_tiering", "glacier_ir", "glacier", "deep_archive")

# Usage keys per resource type: key -> description (validated, documented in docs/cost.md).
USAGE_KEYS = {
    "aws_eks_node_group": {"average_size": "average node count: a number, or min / desired / max of scaling_config",
                           "disk_size_gb": "root volume GB per node when the plan does not say (launch template)",
                           "disk_type": "root volume type when the plan does not say"},
    "aws_instance": {"hours": "hours a month the instance runs (default 730)"},
    "aws_db_instance": {"backup_storage_gb": "backup GB beyond the free allowance (100 % of allocated storage)"},
    "aws_s3_bucket": {"storage_gb": "GB stored per tier: " + ", ".join(S3_TIERS),
                      "put_requests": "PUT/COPY/POST/LIST requests a month",
                      "get_requests": "GET/SELECT requests a month",
                      "cold_fraction": "share of standard GB not read for 30 days (tiering advice)"},
    "aws_nat_gateway": {"data_processed_gb": "GB processed a month per NAT gateway"},
    "aws_lb": {"lcu": "average load balancer capacity units per hour"},
    "aws_kms_key": {"requests": "API requests a month"},
    "aws_cloudwatch_log_group": {"ingested_gb": "GB ingested a month"},
    "aws_flow_log": {"ingested_gb": "GB of flow logs a month"},
    "aws_ecr_repository": {"storage_gb": "GB of images stored"},
    "aws_wafv2_web_acl": {"requests": "web requests a month"},
    "aws_secretsmanager_secret": {"api_calls": "API calls a month"},
    "aws_dynamodb_table": {"write_request_units": "on-demand write request units a month",
                           "read_request_units": "on-demand read request units a month",
                           "storage_gb": "GB stored"},
    "aws_vpc_endpoint": {"data_processed_gb": "GB processed a month (interface endpoints)"},
}
GLOBAL_USAGE_KEYS = {
    "data_transfer_out_gb": "GB a month to the internet, all services (first 100 GB free)",
    "inter_region_transfer_gb": "GB a month between regions (replication to the replica region)",
}

PRESETS = {
    "none": {"data_transfer_out_gb": 0, "inter_region_transfer_gb": 0, "types": {
        "aws_eks_node_group": {"average_size": "desired"}}},
    "small": {"data_transfer_out_gb": 50, "inter_region_transfer_gb": 10, "types": {
        "aws_eks_node_group": {"average_size": "min"},
        "aws_db_instance": {"backup_storage_gb": 0},
        "aws_s3_bucket": {"storage_gb": {"standard": 100}, "put_requests": 50000, "get_requests": 500000,
                          "cold_fraction": 0.5},
        "aws_nat_gateway": {"data_processed_gb": 30},
        "aws_lb": {"lcu": 1},
        "aws_kms_key": {"requests": 10000},
        "aws_cloudwatch_log_group": {"ingested_gb": 2},
        "aws_flow_log": {"ingested_gb": 5},
        "aws_ecr_repository": {"storage_gb": 5},
        "aws_wafv2_web_acl": {"requests": 1000000},
        "aws_secretsmanager_secret": {"api_calls": 5000},
        "aws_dynamodb_table": {"write_request_units": 100000, "read_request_units": 100000, "storage_gb": 0.1},
        "aws_vpc_endpoint": {"data_processed_gb": 10}}},
    "medium": {"data_transfer_out_gb": 200, "inter_region_transfer_gb": 50, "types": {
        "aws_eks_node_group": {"average_size": "desired"},
        "aws_db_instance": {"backup_storage_gb": 50},
        "aws_s3_bucket": {"storage_gb": {"standard": 300, "standard_ia": 200}, "put_requests": 200000,
                          "get_requests": 2000000, "cold_fraction": 0.5},
        "aws_nat_gateway": {"data_processed_gb": 100},
        "aws_lb": {"lcu": 2},
        "aws_kms_key": {"requests": 100000},
        "aws_cloudwatch_log_group": {"ingested_gb": 5},
        "aws_flow_log": {"ingested_gb": 10},
        "aws_ecr_repository": {"storage_gb": 10},
        "aws_wafv2_web_acl": {"requests": 10000000},
        "aws_secretsmanager_secret": {"api_calls": 10000},
        "aws_dynamodb_table": {"write_request_units": 1000000, "read_request_units": 1000000, "storage_gb": 1},
        "aws_vpc_endpoint": {"data_processed_gb": 50}}},
    "large": {"data_transfer_out_gb": 1000, "inter_region_transfer_gb": 200, "types": {
        "aws_eks_node_group": {"average_size": "max"},
        "aws_db_instance": {"backup_storage_gb": 200},
        "aws_s3_bucket": {"storage_gb": {"standard": 1500, "standard_ia": 1000, "glacier_ir": 1000},
                          "put_requests": 1000000, "get_requests": 10000000, "cold_fraction": 0.5},
        "aws_nat_gateway": {"data_processed_gb": 500},
        "aws_lb": {"lcu": 5},
        "aws_kms_key": {"requests": 1000000},
        "aws_cloudwatch_log_group": {"ingested_gb": 20},
        "aws_flow_log": {"ingested_gb": 40},
        "aws_ecr_repository": {"storage_gb": 30},
        "aws_wafv2_web_acl": {"requests": 50000000},
        "aws_secretsmanager_secret": {"api_calls": 50000},
        "aws_dynamodb_table": {"write_request_units": 10000000, "read_request_units": 10000000, "storage_gb": 10},
        "aws_vpc_endpoint": {"data_processed_gb": 200}}},
}
DEFAULT_PRESET = "none"  # no invented usage: presets are opt-in (issue 20)

# Recommendation thresholds (documented in docs/cost.md).
SPOT_TARGET_SHARE = Decimal("0.5")
RIGHTSIZE_MAX_UTILIZATION = 0.40     # halving the size must keep utilisation under 80 %
IDLE_MAX_CPU = 0.05
TIERING_MIN_STANDARD_GB = 100
SIZE_ORDER = ("micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge")

# Log retention assumptions for stored log GB.
LOG_COMPRESSION = Decimal("0.15")
LOG_NEVER_EXPIRE_MONTHS = Decimal(12)


class CostError(ValueError):
    """Bad input (plan, usage, region, budget): the message names the problem."""


# --------------------------------------------------------------------------------------------
# numbers


def _num(value):
    """Decimal -> int or float for JSON/Ansible output."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _money(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _fmt(value):
    """Short human number for explanations: 730, 0.096, 1,000,000."""
    return "{:,f}".format(Decimal(value).normalize())


def _usd(value):
    return "$" + "{:,.2f}".format(Decimal(value))


def _price_str(value):
    """$0.10, $5.00, $0.096, $0.00099: at least two decimals, no trailing noise."""
    value = Decimal(value).normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(CENT)
    return "$" + "{:,f}".format(value)


# --------------------------------------------------------------------------------------------
# plan


def load_plan(source, what="plan"):
    """A validated ``terraform show -json`` plan from a path or an already-parsed dict
    (terraform_plan.load_plan, the collection's one plan reader, with its error as CostError)."""
    try:
        return terraform_plan.load_plan(source, what=what)
    except terraform_plan.TerraformPlanError as exc:
        raise CostError(str(exc))


_config_address = config_address


def _provider_regions(plan):
    """(region of the default aws provider or None, {config address: region})."""
    config = plan.get("configuration") or {}
    regions = {}
    for key, provider in (config.get("provider_config") or {}).items():
        if provider.get("name") != "aws":
            continue
        expr = (provider.get("expressions") or {}).get("region") or {}
        region = expr.get("constant_value")
        if region is None:
            # region = var.region: the plan records the variable's value
            refs = [r for r in expr.get("references") or [] if r.startswith("var.")]
            if refs:
                region = ((plan.get("variables") or {}).get(refs[0][4:]) or {}).get("value")
        if isinstance(region, str):
            regions[key] = region
    by_address = {}

    def walk(module, prefix):
        for res in (module or {}).get("resources", []) or []:
            key = res.get("provider_config_key")
            if key is None:
                continue
            region = regions.get(key)
            if region is None and ":" in key:
                region = regions.get(key.split(":", 1)[1])
            if region is not None:
                by_address[prefix + res.get("address", "")] = region
        for name, call in ((module or {}).get("module_calls") or {}).items():
            walk(call.get("module"), prefix + "module.%s." % name)

    walk(config.get("root_module"), "")
    return regions.get("aws"), by_address


def _walk_planned(module, out):
    for res in (module or {}).get("resources", []) or []:
        if res.get("mode", "managed") != "managed":
            continue
        out.append({"address": res["address"], "type": res["type"], "name": res.get("name"),
                    "provider_name": res.get("provider_name", ""), "values": res.get("values") or {},
                    "actions": ["create"]})
    for child in (module or {}).get("child_modules", []) or []:
        _walk_planned(child, out)


def plan_resources(plan):
    """Managed resources the plan leaves in place or creates (deletions are left out)."""
    out = []
    if "resource_changes" in plan:
        for rc in plan["resource_changes"]:
            if not isinstance(rc, dict) or "address" not in rc or "type" not in rc:
                raise CostError("plan: resource_changes entry without address/type: %r" % (rc,))
            if rc.get("mode", "managed") != "managed" or rc.get("deposed"):
                continue
            change = rc.get("change") or {}
            actions = change.get("actions") or []
            if actions == ["delete"] or actions == ["forget"]:
                continue
            out.append({"address": rc["address"], "type": rc["type"], "name": rc.get("name"),
                        "provider_name": rc.get("provider_name", ""), "values": change.get("after") or {},
                        "actions": actions})
    else:
        _walk_planned((plan.get("planned_values") or {}).get("root_module"), out)
    return out


def _provider_short(provider_name):
    # registry.terraform.io/hashicorp/aws -> aws
    return (provider_name or "").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------
# usage


def _check_number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise CostError("usage: %s must be a number >= 0, got %r" % (where, value))
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise CostError("usage: %s must be a finite number, got %r" % (where, value))
    if value < 0:
        raise CostError("usage: %s must be >= 0, got %r" % (where, value))
    return Decimal(str(value))


def _check_type_usage(rtype, values, where):
    if not isinstance(values, dict):
        raise CostError("usage: %s must be a mapping, got %r" % (where, values))
    known = USAGE_KEYS.get(rtype)
    if known is None:
        raise CostError("usage: %s: resource type %s takes no usage (types with usage: %s)"
                        % (where, rtype, ", ".join(sorted(USAGE_KEYS))))
    for key, value in values.items():
        if key not in known:
            raise CostError("usage: %s.%s is not a usage key of %s (known: %s)"
                            % (where, key, rtype, ", ".join(sorted(known))))
        sub = "%s.%s" % (where, key)
        if key == "storage_gb" and rtype == "aws_s3_bucket":
            if not isinstance(value, dict):
                raise CostError("usage: %s must map tiers (%s) to GB, got %r" % (sub, ", ".join(S3_TIERS), value))
            for tier, gb in value.items():
                if tier not in S3_TIERS:
                    raise CostError("usage: %s.%s is not an S3 tier (known: %s)" % (sub, tier, ", ".join(S3_TIERS)))
                _check_number(gb, "%s.%s" % (sub, tier))
        elif key == "average_size":
            if value not in ("min", "desired", "max"):
                _check_number(value, sub)
        elif key == "disk_type":
            if not isinstance(value, str):
                raise CostError("usage: %s must be a volume type such as gp3, got %r" % (sub, value))
        elif key == "cold_fraction":
            if _check_number(value, sub) > 1:
                raise CostError("usage: %s must be between 0 and 1, got %r" % (sub, value))
        else:
            _check_number(value, sub)


_GLOBS = {}


def _glob(pattern):
    """Compiled matcher for an address pattern: only * is a wildcard ([0] and ["a"] stay literal)."""
    try:
        return _GLOBS[pattern]
    except KeyError:
        regex = _GLOBS[pattern] = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
        return regex


class Usage:
    """Resolved usage assumptions: preset, then type defaults, then per-address overrides."""

    def __init__(self, usage=None):
        if usage is None:
            usage = {}
        if not isinstance(usage, dict):
            raise CostError("usage must be a mapping (or a YAML/JSON file of one), got %s" % type(usage).__name__)
        allowed = set(GLOBAL_USAGE_KEYS) | {"preset", "types", "resources"}
        unknown = sorted(set(usage) - allowed)
        if unknown:
            raise CostError("usage: unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(allowed))))
        self.preset = usage.get("preset", DEFAULT_PRESET)
        if self.preset not in PRESETS:
            raise CostError("usage: preset %r is unknown (known: %s)" % (self.preset, ", ".join(PRESETS)))
        preset = PRESETS[self.preset]
        self.globals = {}
        for key in GLOBAL_USAGE_KEYS:
            value = usage.get(key, preset.get(key, 0))
            self.globals[key] = _check_number(value, key)
        self.types = copy.deepcopy(preset["types"])
        self.type_sources = dict((rtype, dict((k, "preset %s" % self.preset) for k in values))
                                 for rtype, values in self.types.items())
        user_types = usage.get("types") or {}
        if not isinstance(user_types, dict):
            raise CostError("usage: types must map resource types to usage, got %r" % (user_types,))
        for rtype, values in user_types.items():
            _check_type_usage(rtype, values, "types.%s" % rtype)
            self.types.setdefault(rtype, {}).update(values)
            self.type_sources.setdefault(rtype, {}).update((k, "usage types.%s" % rtype) for k in values)
        resources = usage.get("resources") or {}
        if not isinstance(resources, dict):
            raise CostError("usage: resources must map resource addresses to usage, got %r" % (resources,))
        self.exact = {}
        self.patterns = []
        for address, values in resources.items():
            if not isinstance(values, dict):
                raise CostError("usage: resources[%r] must be a mapping, got %r" % (address, values))
            if "*" in address:
                # a pattern may span types: each key must belong to some type; a resource takes its own keys
                known = set(k for keys in USAGE_KEYS.values() for k in keys)
                for key in values:
                    if key not in known:
                        raise CostError("usage: resources[%r].%s is not a usage key of any resource type (known: %s)"
                                        % (address, key, ", ".join(sorted(known))))
                self.patterns.append((address, values))
            else:
                self.exact[address] = values
        self._validated = set()

    def for_resource(self, address, rtype):
        """(merged usage dict, {key: source}) for one resource."""
        merged = dict(self.types.get(rtype, {}))
        sources = dict(self.type_sources.get(rtype, {}))
        known = USAGE_KEYS.get(rtype, {})
        layers = [(p, dict((k, x) for k, x in v.items() if k in known))
                  for p, v in self.patterns if _glob(p).match(address)]
        layers = [(p, v) for p, v in layers if v]
        base = _config_address(address)
        if base != address and base in self.exact:
            layers.append((base, self.exact[base]))
        if address in self.exact:
            layers.append((address, self.exact[address]))
        for where, values in layers:
            if (where, rtype) not in self._validated:
                _check_type_usage(rtype, values, "resources[%r]" % where)
                self._validated.add((where, rtype))
            merged.update(values)
            for key in values:
                sources[key] = "usage resources[%s]" % where
        return merged, sources

    def describe(self):
        """The resolved assumptions (preset + overrides) as plain data, for reports."""
        def plain(value):
            if isinstance(value, dict):
                return dict((k, plain(v)) for k, v in value.items())
            if isinstance(value, Decimal):
                return _num(value)
            if isinstance(value, float) and value == int(value):
                return int(value)
            return value
        return {"preset": self.preset, "global": plain(self.globals), "types": plain(self.types),
                "resources": plain(dict(self.exact, **dict(self.patterns)))}

    def unmatched(self, addresses):
        """Usage addresses/patterns that match no resource of the plan (likely typos)."""
        addresses = list(addresses)
        bases = set(_config_address(a) for a in addresses)
        missing = [a for a in self.exact if a not in addresses and a not in bases]
        missing += [p for p, _ in self.patterns if not any(_glob(p).match(a) for a in addresses)]
        return sorted(missing)


# --------------------------------------------------------------------------------------------
# components


class _NoPrices:
    """The catalog seen from a region it does not cover: every price is absent (price_not_found)."""

    def __init__(self, catalog):
        self._catalog = catalog
        self.catalog_date = catalog.catalog_date
        self.hours_per_month = catalog.hours_per_month
        self.spot_discount = catalog.spot_discount

    def lookup(self, *args):
        return None

    lookup_pair = table = tiers = lookup


class _Ctx:
    def __init__(self, catalog, region, usage, refs=None):
        self.region = region
        self.usage = usage
        self.hours = catalog.hours_per_month
        self.refs = refs
        self.region_reason = None
        if region not in catalog.regions:
            self.region_reason = "region %s is not in the price catalog of %s (it covers %s)" % (
                region, catalog.catalog_date, ", ".join(catalog.regions))
            catalog = _NoPrices(catalog)
        self.catalog = catalog


def _component(name, unit, quantity, price, explanation, usage_based=False, source=None, kind=None):
    quantity = Decimal(quantity)
    found = price is not None
    cost = _money(quantity * price) if found else ZERO
    comp = {
        "name": name, "unit": unit, "monthly_quantity": _num(quantity),
        "price": _num(price) if found else None, "monthly_cost": _num(cost),
        "price_not_found": not found, "usage_based": usage_based, "explanation": explanation,
        "_cost": cost, "_quantity": quantity, "_price": price,
    }
    if source:
        comp["usage_source"] = source
    if usage_based and source == "default" and quantity == 0:
        # nobody said how much: $0 with the unit price, as Infracost shows it, never an invented quantity
        comp["depends_on_usage"] = True
        if found:
            comp["explanation"] += "; depends on usage: %s per %s" % (_price_str(price), unit.rstrip("s") or unit)
    if kind:
        comp["_kind"] = kind
    return comp


def _hourly(ctx, name, count, price, what):
    qty = Decimal(count) * ctx.hours
    if price is None:
        expl = "%s x %s h: no price for %s in %s in the catalog of %s" % (
            _fmt(count), _fmt(ctx.hours), what, ctx.region, ctx.catalog.catalog_date)
    else:
        expl = "%s x %s h x %s/h (%s, %s)" % (_fmt(count), _fmt(ctx.hours), _price_str(price), what, ctx.region)
    return _component(name, "hours", qty, price, expl)


def _per_unit(ctx, name, unit, quantity, price, what, usage_based=False, source=None, divisor=1):
    """quantity in `unit`s priced per `divisor` units."""
    quantity = Decimal(quantity)
    per = price / Decimal(divisor) if price is not None else None
    if price is None:
        expl = "%s %s: no price for %s in %s" % (_fmt(quantity), unit, what, ctx.region)
    elif divisor == 1:
        expl = "%s %s x %s per %s (%s, %s)" % (_fmt(quantity), unit, _price_str(price), unit.rstrip("s") or unit,
                                                what, ctx.region)
    else:
        expl = "%s %s x %s per %s (%s, %s)" % (_fmt(quantity), unit, _price_str(price), _fmt(divisor), what, ctx.region)
    if source:
        expl += " [%s]" % source
    comp = _component(name, unit, quantity, per, expl, usage_based=usage_based, source=source)
    if per is not None and divisor != 1:
        comp["price"] = _num(per)
    return comp


def _not_found(comp, reason):
    """Mark a component price_not_found with the reason a user can act on."""
    comp["price_not_found"] = True
    comp["price"] = None
    comp["monthly_cost"] = 0
    comp["_cost"] = ZERO
    comp["_price"] = None
    comp["price_not_found_reason"] = reason
    comp["explanation"] += ": %s" % reason
    return comp


def _launch_template(ctx, res):
    if ctx.refs is None:
        return None, None, None
    return ctx.refs.launch_template(res)


def _family_size(itype):
    """('m5', 'large') from 'm5.large', ('db.t3', 'medium') from 'db.t3.medium'."""
    family, _, size = itype.rpartition(".")
    return family, size


def _node_group_size(values, usage):
    cfg = (values.get("scaling_config") or [{}])
    cfg = cfg[0] if isinstance(cfg, list) and cfg else (cfg if isinstance(cfg, dict) else {})
    avg = usage.get("average_size", "desired")
    if avg in ("min", "desired", "max"):
        key = avg + "_size"
        value = cfg.get(key)
        if value is None:
            value = cfg.get("desired_size") or cfg.get("min_size") or 1
            return Decimal(value), "scaling_config.desired_size (%s_size unknown)" % avg
        return Decimal(value), "scaling_config.%s" % key
    return Decimal(str(avg)), "usage average_size"


def price_eks_cluster(ctx, res, usage):
    values = res["values"]
    version = values.get("version")
    extended = False
    min_std = ctx.catalog.table(ctx.region, "eks", "standard_support_min_version")
    if isinstance(version, str) and isinstance(min_std, str):
        extended = _version_tuple(version) < _version_tuple(min_std)
    if extended:
        price = ctx.catalog.lookup(ctx.region, "eks", "extended_support_cluster_hour")
        what = "EKS %s in extended support" % version
    else:
        price = ctx.catalog.lookup(ctx.region, "eks", "cluster_hour")
        what = "EKS control plane%s" % (" %s" % version if version else "")
    return [_hourly(ctx, "EKS cluster", 1, price, what)]


def _version_tuple(text):
    try:
        return tuple(int(p) for p in str(text).split(".")[:2])
    except ValueError:
        return (0, 0)


def _ec2_price(ctx, itype, spot):
    od = ctx.catalog.lookup(ctx.region, "ec2", "instance_hour", itype) if isinstance(itype, str) else None
    if od is None or not spot:
        return od
    return (od * (1 - ctx.catalog.spot_discount)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def price_eks_node_group(ctx, res, usage):
    values = res["values"]
    lt, lt_label, lt_reason = _launch_template(ctx, res)
    types = values.get("instance_types") or []
    if types:
        itype, itype_source = types[0], "instance_types"
    elif lt and lt.get("instance_type"):
        itype, itype_source = lt["instance_type"], lt_label
    elif lt_reason:
        itype, itype_source = None, lt_label
    else:
        itype, itype_source = "t3.medium", "EKS default (no instance type in the node group%s)" % (
            " or its %s" % lt_label if lt_label else "")
    spot = values.get("capacity_type") == "SPOT"
    count, count_source = _node_group_size(values, usage)
    price = _ec2_price(ctx, itype, spot)
    if spot:
        what = "%s spot = on-demand x (1 - %s assumed spot discount)" % (itype, _fmt(ctx.catalog.spot_discount))
    else:
        what = "%s on-demand" % itype
    what += ", from %s" % itype_source
    if len(types) > 1:
        what += "; priced as the first of %s" % ", ".join(types)
    comp = _hourly(ctx, "Instance usage (%s, %s)" % (itype or "unknown type", "spot" if spot else "on-demand"),
                   count, price, what)
    comp["explanation"] += " [nodes: %s]" % count_source
    comp["_kind"] = "nodes"
    if itype is None:
        _not_found(comp, lt_reason)
    comps = [comp]
    if lt_reason:
        dtype = usage.get("disk_type")
        disk = usage.get("disk_size_gb")
        disk_source = "usage" if disk is not None else None
    elif lt is not None:
        disk, dtype = launch_template_volume(lt)
        disk_source = "%s block device" % lt_label
        if disk is None:
            disk, dtype, disk_source = 20, dtype or "gp2", "AMI default root volume 20 GB gp2 (%s has none)" % lt_label
        dtype = usage.get("disk_type", dtype or "gp2")
    else:
        disk = values.get("disk_size")
        disk_source = "plan disk_size"
        if disk is None:
            disk = usage.get("disk_size_gb", 20)
            disk_source = "usage disk_size_gb" if "disk_size_gb" in usage else "EKS default 20 GB"
        # managed node groups without a launch template get gp2 root volumes (AWS and Infracost)
        dtype = usage.get("disk_type", "gp2")
    vol_price = ctx.catalog.lookup(ctx.region, "ebs", "gb_month", dtype) if dtype else None
    gb = count * Decimal(str(disk or 0))
    c = _per_unit(ctx, "Node root volumes (%s)" % (dtype or "unknown type"), "GB-months", gb, vol_price,
                  "%s nodes x %s GB EBS %s, %s" % (_fmt(count), _fmt(disk or 0), dtype, disk_source))
    c["_kind"] = "ebs:%s" % dtype
    if dtype is None or disk is None:
        _not_found(c, lt_reason)
    comps.append(c)
    return comps


def price_instance(ctx, res, usage):
    values = res["values"]
    lt, lt_label, lt_reason = _launch_template(ctx, res)
    itype = values.get("instance_type") or (lt or {}).get("instance_type")
    spot = bool(values.get("instance_market_options") or (lt or {}).get("instance_market_options"))
    hours = Decimal(str(usage.get("hours", ctx.hours)))
    price = _ec2_price(ctx, itype, spot)
    comp = _component("Instance usage (%s)" % (itype or "unknown type"), "hours", hours, price,
                      "%s h x %s/h (%s%s, %s)" % (_fmt(hours), _price_str(price) if price is not None else "?",
                                                 itype, " spot" if spot else " on-demand", ctx.region))
    if itype is None:
        _not_found(comp, lt_reason or ("no instance_type in the plan%s" % (" nor in %s" % lt_label if lt_label else "")))
    elif price is None and ctx.region_reason:
        _not_found(comp, ctx.region_reason)
    comps = [comp]
    root = first_block(values.get("root_block_device"))
    size, vtype = root.get("volume_size"), root.get("volume_type")
    if lt is not None and (size is None or vtype is None):
        lt_size, lt_type = launch_template_volume(lt)
        size, vtype = size or lt_size, vtype or lt_type
    if lt_reason and size is None:
        c = _per_unit(ctx, "Root volume (unknown)", "GB-months", 0, None, "EBS root volume")
        comps.append(_not_found(c, lt_reason))
        return comps
    size = size or 8
    vtype = vtype or "gp2"  # AWS and Infracost: instance root volumes default to gp2
    comps.append(_per_unit(ctx, "Root volume (%s)" % vtype, "GB-months", size,
                           ctx.catalog.lookup(ctx.region, "ebs", "gb_month", vtype), "EBS %s" % vtype))
    return comps


def price_ebs_volume(ctx, res, usage):
    values = res["values"]
    vtype = values.get("type") or "gp2"  # the AWS provider's default volume type
    size = values.get("size") or 0
    comps = [_per_unit(ctx, "Storage (%s)" % vtype, "GB-months", size,
                       ctx.catalog.lookup(ctx.region, "ebs", "gb_month", vtype), "EBS %s" % vtype)]
    if vtype == "gp3":
        iops = Decimal(values.get("iops") or 3000)
        tput = Decimal(values.get("throughput") or 125)
        if iops > 3000:
            comps.append(_per_unit(ctx, "Provisioned IOPS above 3000", "IOPS-months", iops - 3000,
                                   ctx.catalog.lookup(ctx.region, "ebs", "gp3_iops_month"), "gp3 IOPS"))
        if tput > 125:
            comps.append(_per_unit(ctx, "Throughput above 125 MB/s", "MBps-months", tput - 125,
                                   ctx.catalog.lookup(ctx.region, "ebs", "gp3_throughput_mbps_month"), "gp3 throughput"))
    elif vtype == "io1":
        comps.append(_per_unit(ctx, "Provisioned IOPS", "IOPS-months", values.get("iops") or 0,
                               ctx.catalog.lookup(ctx.region, "ebs", "io1_iops_month"), "io1 IOPS"))
    elif vtype == "io2":
        comps.extend(_io2_iops(ctx, Decimal(values.get("iops") or 0)))
    return comps


def _io2_iops(ctx, iops):
    """io2 IOPS are billed in tiers: up to 32,000, 32,001-64,000, above 64,000."""
    tiers = ctx.catalog.tiers(ctx.region, "ebs", "io2_iops_month_tiers")
    if tiers is None:
        return [_per_unit(ctx, "Provisioned IOPS", "IOPS-months", iops, None, "io2 IOPS")]
    comps, lower = [], ZERO
    for upper, price in tiers:
        width = iops - lower if upper is None else min(iops, upper) - lower
        if width <= 0:
            break
        label = "up to %s" % _fmt(upper) if lower == 0 else (
            "above %s" % _fmt(lower) if upper is None else "%s-%s" % (_fmt(lower + 1), _fmt(upper)))
        comps.append(_per_unit(ctx, "Provisioned IOPS (%s)" % label, "IOPS-months", width, price, "io2 IOPS %s" % label))
        lower = upper if upper is not None else lower
    return comps


def _rds_engine(engine):
    engine = (engine or "postgres").lower()
    return "postgres" if engine in ("postgres", "postgresql") else engine


def price_db_instance(ctx, res, usage):
    values = res["values"]
    cls = values.get("instance_class")
    multi = bool(values.get("multi_az"))
    idx = 1 if multi else 0
    az = "Multi-AZ" if multi else "Single-AZ"
    engine_reason = None
    engine = values.get("engine")
    if not engine and ctx.refs is not None and ctx.refs.is_replica(res):
        # a read replica inherits its source's engine: never assume PostgreSQL
        source, engine_reason = ctx.refs.replica_source(res) if ctx.refs else (None, "replica source unknown")
        engine = (source or {}).get("engine")
        if source is not None and not engine:
            engine_reason = "the replica's source database has no engine in the plan"
    engine = _rds_engine(engine) if not engine_reason else None
    price = ctx.catalog.lookup_pair(ctx.region, "rds", idx, "instance_hour", engine, cls) if cls and engine else None
    comps = [_hourly(ctx, "Database instance (%s, %s)" % (cls, az), 1, price,
                     "RDS %s %s %s" % (engine or "unknown engine", cls, az))]
    if engine_reason:
        _not_found(comps[0], engine_reason)
    elif price is None and engine and engine != "postgres" and not ctx.region_reason:
        _not_found(comps[0], "the catalog prices RDS PostgreSQL only, not %s" % engine)
    comps[0]["_kind"] = "db_instance"
    storage = values.get("allocated_storage") or 20
    stype = values.get("storage_type") or "gp2"
    sprice = ctx.catalog.lookup_pair(ctx.region, "rds", idx, "storage_gb_month", stype)
    c = _per_unit(ctx, "Storage (%s, %s)" % (stype, az), "GB-months", storage, sprice, "RDS %s storage %s" % (stype, az))
    c["_kind"] = "rds:%s" % stype
    comps.append(c)
    if stype == "io1" and values.get("iops"):
        comps.append(_per_unit(ctx, "Provisioned IOPS (%s)" % az, "IOPS-months", values["iops"],
                               ctx.catalog.lookup_pair(ctx.region, "rds", idx, "io1_iops_month"), "RDS io1 IOPS"))
    backup = usage.get("backup_storage_gb", 0)
    retention = values.get("backup_retention_period")
    if retention is None or retention > 0:  # unknown at plan time: AWS enables backups by default
        comps.append(_per_unit(ctx, "Backup storage beyond the free allowance", "GB-months", backup,
                               ctx.catalog.lookup(ctx.region, "rds", "backup_gb_month"),
                               "RDS backup storage, retention %s" % (
                                   "%s days" % retention if retention is not None else "(AWS default)"),
                               usage_based=True, source=_src(usage, "backup_storage_gb")))
    return comps


def _src(usage, key):
    return usage.get("__sources__", {}).get(key, "default")


def price_elasticache_rg(ctx, res, usage):
    values = res["values"]
    node = values.get("node_type")
    if values.get("num_cache_clusters"):
        count = values["num_cache_clusters"]
        why = "num_cache_clusters"
    elif values.get("num_node_groups"):
        count = values["num_node_groups"] * ((values.get("replicas_per_node_group") or 0) + 1)
        why = "num_node_groups x (replicas_per_node_group + 1)"
    else:
        count = 1
        why = "one node (no count in the plan)"
    price = ctx.catalog.lookup(ctx.region, "elasticache", "node_hour", node) if node else None
    comp = _hourly(ctx, "Cache nodes (%s)" % node, count, price, "ElastiCache %s, %s" % (node, why))
    comp["_kind"] = "cache_nodes"
    return [comp]


def price_elasticache_cluster(ctx, res, usage):
    values = res["values"]
    node = values.get("node_type")
    count = values.get("num_cache_nodes") or 1
    price = ctx.catalog.lookup(ctx.region, "elasticache", "node_hour", node) if node else None
    comp = _hourly(ctx, "Cache nodes (%s)" % node, count, price, "ElastiCache %s, num_cache_nodes" % node)
    comp["_kind"] = "cache_nodes"
    return [comp]


def price_s3_bucket(ctx, res, usage):
    comps = []
    storage = usage.get("storage_gb") or {}
    src = _src(usage, "storage_gb")
    for tier in S3_TIERS:
        gb = storage.get(tier)
        if gb is None:
            continue
        c = _per_unit(ctx, "Storage (%s)" % tier, "GB-months", gb,
                      ctx.catalog.lookup(ctx.region, "s3", "storage_gb_month", tier), "S3 %s" % tier,
                      usage_based=True, source=src)
        c["_kind"] = "s3:%s" % tier
        comps.append(c)
    comps.append(_per_unit(ctx, "PUT, COPY, POST, LIST requests", "requests", usage.get("put_requests", 0),
                           ctx.catalog.lookup(ctx.region, "s3", "put_per_1k"), "S3 standard requests",
                           usage_based=True, source=_src(usage, "put_requests"), divisor=1000))
    comps.append(_per_unit(ctx, "GET, SELECT requests", "requests", usage.get("get_requests", 0),
                           ctx.catalog.lookup(ctx.region, "s3", "get_per_1k"), "S3 standard requests",
                           usage_based=True, source=_src(usage, "get_requests"), divisor=1000))
    return comps


def price_nat_gateway(ctx, res, usage):
    comps = [_hourly(ctx, "NAT gateway", 1, ctx.catalog.lookup(ctx.region, "vpc", "nat_gateway_hour"), "NAT gateway")]
    comps[0]["_kind"] = "nat_hours"
    c = _per_unit(ctx, "Data processed", "GB", usage.get("data_processed_gb", 0),
                  ctx.catalog.lookup(ctx.region, "vpc", "nat_gateway_gb"), "NAT gateway processing",
                  usage_based=True, source=_src(usage, "data_processed_gb"))
    c["_kind"] = "nat_gb"
    comps.append(c)
    return comps


def price_eip(ctx, res, usage):
    return [_hourly(ctx, "Public IPv4 address", 1, ctx.catalog.lookup(ctx.region, "vpc", "public_ipv4_hour"),
                    "public IPv4 address, charged since Feb 2024")]


def price_lb(ctx, res, usage):
    kind = res["values"].get("load_balancer_type") or "application"
    prefix = {"application": "alb", "network": "nlb"}.get(kind)
    hour = ctx.catalog.lookup(ctx.region, "elb", prefix + "_hour") if prefix else None
    lcu_price = ctx.catalog.lookup(ctx.region, "elb", prefix + "_lcu_hour") if prefix else None
    comps = [_hourly(ctx, "%s load balancer" % kind.capitalize(), 1, hour, "%s load balancer" % kind)]
    comps[0]["_kind"] = "lb_hours"
    lcu = Decimal(str(usage.get("lcu", 0)))
    c = _component("Capacity units (%s)" % ("NLCU" if prefix == "nlb" else "LCU"), "LCU-hours", lcu * ctx.hours, lcu_price,
                   "%s LCU x %s h x %s/LCU-h [%s]" % (_fmt(lcu), _fmt(ctx.hours),
                                                      _price_str(lcu_price) if lcu_price is not None else "?",
                                                      _src(usage, "lcu")),
                   usage_based=True, source=_src(usage, "lcu"))
    c["_kind"] = "lcu"
    comps.append(c)
    return comps


def price_kms_key(ctx, res, usage):
    return [
        _per_unit(ctx, "Customer master key", "months", 1, ctx.catalog.lookup(ctx.region, "kms", "key_month"), "KMS key"),
        _per_unit(ctx, "Requests", "requests", usage.get("requests", 0),
                  ctx.catalog.lookup(ctx.region, "kms", "requests_per_10k"), "KMS symmetric requests",
                  usage_based=True, source=_src(usage, "requests"), divisor=10000),
    ]


def price_log_group(ctx, res, usage):
    ingest = Decimal(str(usage.get("ingested_gb", 0)))
    days = res["values"].get("retention_in_days") or 0
    months = (Decimal(days) / 30) if days else LOG_NEVER_EXPIRE_MONTHS
    stored = (ingest * months * LOG_COMPRESSION).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    sprice = ctx.catalog.lookup(ctx.region, "cloudwatch", "logs_storage_gb_month")
    return [
        _per_unit(ctx, "Data ingested", "GB", ingest, ctx.catalog.lookup(ctx.region, "cloudwatch", "logs_ingest_gb"),
                  "CloudWatch Logs ingestion", usage_based=True, source=_src(usage, "ingested_gb")),
        _component("Archival storage", "GB-months", stored, sprice,
                   "%s GB/month x %s months kept (retention %s) x %s compression = %s GB x %s/GB-month" % (
                       _fmt(ingest), _fmt(months), ("%s days" % days) if days else "never expires: 12 months counted",
                       _fmt(LOG_COMPRESSION), _fmt(stored), _price_str(sprice) if sprice is not None else "?"),
                   usage_based=True, source=_src(usage, "ingested_gb")),
    ]


def price_metric_alarm(ctx, res, usage):
    """CloudWatch bills an alarm per metric it evaluates: each metric of a metric-math alarm, 3 for an
    anomaly-detection band (the metric, the upper and the lower bound), at the high-resolution price
    when the period is under 60 s."""
    values = res["values"]
    queries = values.get("metric_query") or []
    metrics = sum(1 for q in queries if (q or {}).get("metric"))
    anomaly = any("ANOMALY_DETECTION_BAND" in str((q or {}).get("expression") or "") for q in queries)
    periods = [values.get("period")] + [first_block((q or {}).get("metric")).get("period") for q in queries]
    high_res = any(isinstance(p, (int, float)) and 0 < p < 60 for p in periods)
    key, label = ("high_res_alarm_month", "High resolution") if high_res else ("alarm_month", "Standard resolution")
    if anomaly:
        count, what = 3 * max(metrics, 1), "anomaly detection: 3 metrics per evaluated metric"
        label += " anomaly detection"
    elif metrics:
        count, what = metrics, "metric math over %d metrics" % metrics
        label += " metric math"
    else:
        count, what = 1, "one metric"
    return [_per_unit(ctx, "%s alarm metrics" % label, "alarm metric-months", count,
                      ctx.catalog.lookup(ctx.region, "cloudwatch", key), "CloudWatch alarm, %s" % what)]


def price_dashboard(ctx, res, usage):
    return [_per_unit(ctx, "Dashboard", "months", 1, ctx.catalog.lookup(ctx.region, "cloudwatch", "dashboard_month"),
                      "CloudWatch dashboard")]


def price_ecr_repository(ctx, res, usage):
    return [_per_unit(ctx, "Storage", "GB-months", usage.get("storage_gb", 0),
                      ctx.catalog.lookup(ctx.region, "ecr", "storage_gb_month"), "ECR image storage",
                      usage_based=True, source=_src(usage, "storage_gb"))]


def price_wafv2_web_acl(ctx, res, usage):
    rules = res["values"].get("rule") or []
    return [
        _per_unit(ctx, "Web ACL", "months", 1, ctx.catalog.lookup(ctx.region, "waf", "web_acl_month"), "WAF web ACL"),
        _per_unit(ctx, "Rules", "rule-months", len(rules), ctx.catalog.lookup(ctx.region, "waf", "rule_month"),
                  "WAF rules in the plan"),
        _per_unit(ctx, "Requests", "requests", usage.get("requests", 0),
                  ctx.catalog.lookup(ctx.region, "waf", "requests_per_million"), "WAF requests",
                  usage_based=True, source=_src(usage, "requests"), divisor=1000000),
    ]


def price_secret(ctx, res, usage):
    return [
        _per_unit(ctx, "Secret", "months", 1, ctx.catalog.lookup(ctx.region, "secretsmanager", "secret_month"),
                  "Secrets Manager secret"),
        _per_unit(ctx, "API calls", "requests", usage.get("api_calls", 0),
                  ctx.catalog.lookup(ctx.region, "secretsmanager", "api_calls_per_10k"), "Secrets Manager API",
                  usage_based=True, source=_src(usage, "api_calls"), divisor=10000),
    ]


def price_dynamodb_table(ctx, res, usage):
    values = res["values"]
    comps = []
    if (values.get("billing_mode") or "PROVISIONED") == "PAY_PER_REQUEST":
        comps.append(_per_unit(ctx, "Write request units", "WRU", usage.get("write_request_units", 0),
                               ctx.catalog.lookup(ctx.region, "dynamodb", "write_request_million"), "DynamoDB on-demand",
                               usage_based=True, source=_src(usage, "write_request_units"), divisor=1000000))
        comps.append(_per_unit(ctx, "Read request units", "RRU", usage.get("read_request_units", 0),
                               ctx.catalog.lookup(ctx.region, "dynamodb", "read_request_million"), "DynamoDB on-demand",
                               usage_based=True, source=_src(usage, "read_request_units"), divisor=1000000))
    else:
        comps.append(_hourly(ctx, "Write capacity units", values.get("write_capacity") or 0,
                             ctx.catalog.lookup(ctx.region, "dynamodb", "wcu_hour"), "DynamoDB provisioned WCU"))
        comps.append(_hourly(ctx, "Read capacity units", values.get("read_capacity") or 0,
                             ctx.catalog.lookup(ctx.region, "dynamodb", "rcu_hour"), "DynamoDB provisioned RCU"))
    comps.append(_per_unit(ctx, "Storage", "GB-months", usage.get("storage_gb", 0),
                           ctx.catalog.lookup(ctx.region, "dynamodb", "storage_gb_month"), "DynamoDB storage",
                           usage_based=True, source=_src(usage, "storage_gb")))
    return comps


def price_flow_log(ctx, res, usage):
    dest = res["values"].get("log_destination_type") or "cloud-watch-logs"
    key = "flow_logs_s3_gb" if dest == "s3" else "flow_logs_cloudwatch_gb"
    return [_per_unit(ctx, "Flow logs delivered (%s)" % dest, "GB", usage.get("ingested_gb", 0),
                      ctx.catalog.lookup(ctx.region, "vpc", key), "vended logs to %s" % dest,
                      usage_based=True, source=_src(usage, "ingested_gb"))]


def price_vpc_endpoint(ctx, res, usage):
    values = res["values"]
    kind = values.get("vpc_endpoint_type") or "Gateway"
    if kind == "GatewayLoadBalancer":
        return [
            _hourly(ctx, "Gateway Load Balancer endpoint", 1,
                    ctx.catalog.lookup(ctx.region, "vpc", "gwlb_endpoint_hour"), "GWLB endpoint"),
            _per_unit(ctx, "Data processed", "GB", usage.get("data_processed_gb", 0),
                      ctx.catalog.lookup(ctx.region, "vpc", "gwlb_endpoint_gb"), "GWLB endpoint processing",
                      usage_based=True, source=_src(usage, "data_processed_gb")),
        ]
    if kind != "Interface":
        return None  # gateway endpoints (S3, DynamoDB) are free
    azs = len(values.get("subnet_ids") or []) or 1
    return [
        _hourly(ctx, "Interface endpoint (%d AZ)" % azs, azs,
                ctx.catalog.lookup(ctx.region, "vpc", "interface_endpoint_hour"), "interface endpoint per AZ"),
        _per_unit(ctx, "Data processed", "GB", usage.get("data_processed_gb", 0),
                  ctx.catalog.lookup(ctx.region, "vpc", "interface_endpoint_gb"), "interface endpoint processing",
                  usage_based=True, source=_src(usage, "data_processed_gb")),
    ]


def price_route53_zone(ctx, res, usage):
    return [_per_unit(ctx, "Hosted zone", "months", 1, ctx.catalog.lookup(ctx.region, "route53", "hosted_zone_month"),
                      "Route 53 hosted zone")]


PRICERS = {
    "aws_eks_cluster": price_eks_cluster,
    "aws_eks_node_group": price_eks_node_group,
    "aws_instance": price_instance,
    "aws_ebs_volume": price_ebs_volume,
    "aws_db_instance": price_db_instance,
    "aws_elasticache_replication_group": price_elasticache_rg,
    "aws_elasticache_cluster": price_elasticache_cluster,
    "aws_s3_bucket": price_s3_bucket,
    "aws_nat_gateway": price_nat_gateway,
    "aws_eip": price_eip,
    "aws_lb": price_lb,
    "aws_alb": price_lb,
    "aws_kms_key": price_kms_key,
    "aws_cloudwatch_log_group": price_log_group,
    "aws_cloudwatch_metric_alarm": price_metric_alarm,
    "aws_cloudwatch_dashboard": price_dashboard,
    "aws_ecr_repository": price_ecr_repository,
    "aws_wafv2_web_acl": price_wafv2_web_acl,
    "aws_secretsmanager_secret": price_secret,
    "aws_dynamodb_table": price_dynamodb_table,
    "aws_flow_log": price_flow_log,
    "aws_vpc_endpoint": price_vpc_endpoint,
    "aws_route53_zone": price_route53_zone,
}
SUPPORTED_TYPES = tuple(sorted(PRICERS))


def data_transfer_components(ctx):
    """Internet egress (tiered, first 100 GB free) and inter-region transfer from global usage."""
    comps = []
    out_gb = ctx.usage.globals["data_transfer_out_gb"]
    tiers = ctx.catalog.tiers(ctx.region, "data_transfer", "internet_out_tiers")
    if tiers is None and out_gb > 0:
        comps.append(_per_unit(ctx, "Data transfer out to the internet", "GB", out_gb, None, "internet egress",
                               usage_based=True, source="data_transfer_out_gb"))
    tiers = tiers or []
    lower = ZERO
    remaining = out_gb
    for upper, price in tiers:
        if remaining <= 0:
            break
        width = remaining if upper is None else min(remaining, upper - lower)
        label = "first %s GB" % _fmt(upper) if lower == 0 else (
            "%s GB and above" % _fmt(lower) if upper is None else "%s-%s GB" % (_fmt(lower), _fmt(upper)))
        comps.append(_per_unit(ctx, "Data transfer out to the internet (%s)" % label, "GB", width, price,
                               "internet egress tier %s" % label, usage_based=True, source="data_transfer_out_gb"))
        remaining -= width
        lower = upper if upper is not None else lower
    inter = ctx.usage.globals["inter_region_transfer_gb"]
    if inter > 0:
        comps.append(_per_unit(ctx, "Inter-region data transfer", "GB", inter,
                               ctx.catalog.lookup(ctx.region, "data_transfer", "inter_region_gb"),
                               "transfer to another AWS region", usage_based=True, source="inter_region_transfer_gb"))
    return comps


# --------------------------------------------------------------------------------------------
# estimate


def _resource_record(res, region, category):
    return {"address": res["address"], "type": res["type"], "name": res.get("name"), "region": region,
            "category": category, "actions": res.get("actions", []), "status": "priced",
            "monthly_cost": None, "components": [], "reason": None, "price_not_found": False}


def _finish_resource(record, comps):
    cost = sum((c["_cost"] for c in comps), ZERO)
    record["components"] = comps
    record["_cost"] = cost
    record["monthly_cost"] = _num(cost)
    record["price_not_found"] = any(c["price_not_found"] for c in comps)
    reasons = []
    for comp in comps:
        reason = comp.get("price_not_found_reason")
        if reason and reason not in reasons:
            reasons.append(reason)
    if reasons:
        record["reason"] = "; ".join(reasons)
    return record


def resolve_region(plan, region, catalog):
    default_region, _ = _provider_regions(plan)
    chosen = region or default_region
    if not chosen:
        raise CostError("region is required: the plan's aws provider has no constant region; pass region")
    if not isinstance(chosen, str):
        raise CostError("region must be a string, got %r" % (chosen,))
    # a region the catalog does not cover is not an error: its resources are price_not_found
    return chosen


def estimate(plan, usage=None, region=None, catalog=None, utilization=None):
    """Price a plan. Returns a JSON-able dict (see docs/cost.md); raises CostError on bad input."""
    catalog = catalog or PriceCatalog.default()
    plan = load_plan(plan)
    region = resolve_region(plan, region, catalog)
    usage = usage if isinstance(usage, Usage) else Usage(usage)
    _, regions_by_address = _provider_regions(plan)
    resources = plan_resources(plan)
    refs = PlanRefs(plan, resources)
    out = []
    contexts = {}
    aws_seen = False
    for res in resources:
        rtype = res["type"]
        provider = _provider_short(res["provider_name"])
        res_region = regions_by_address.get(_config_address(res["address"]), region)
        category = TYPE_CATEGORY.get(rtype, "other")
        record = _resource_record(res, res_region, category)
        if provider and provider != "aws" and not rtype.startswith("aws_"):
            record["status"] = "free" if provider in FREE_PROVIDERS else "unpriced"
            record["reason"] = FREE_PROVIDERS.get(provider, "provider %s is not priced by the catalog" % provider)
            if record["status"] == "free":
                record["monthly_cost"] = 0
                record["_cost"] = ZERO
            out.append(record)
            continue
        aws_seen = True
        if rtype in FREE_TYPES:
            record.update(status="free", reason=FREE_TYPES[rtype], monthly_cost=0, _cost=ZERO)
            out.append(record)
            continue
        pricer = PRICERS.get(rtype)
        if pricer is None:
            record.update(status="unpriced", reason="resource type %s is not in the cost model" % rtype)
            out.append(record)
            continue
        try:
            ctx = contexts[res_region]
        except KeyError:
            ctx = contexts[res_region] = _Ctx(catalog, res_region, usage, refs)
        merged, sources = usage.for_resource(res["address"], rtype)
        merged["__sources__"] = sources
        comps = pricer(ctx, res, merged)
        if comps is None:
            record.update(status="free", reason="gateway endpoints are free", monthly_cost=0, _cost=ZERO)
            out.append(record)
            continue
        if rtype == "aws_s3_bucket":
            record["_cold_fraction"] = merged.get("cold_fraction", 0.5)
        if ctx.region_reason:
            for comp in comps:
                if comp["price_not_found"] and "price_not_found_reason" not in comp:
                    _not_found(comp, ctx.region_reason)
        out.append(_finish_resource(record, comps))
    if aws_seen:
        ctx = contexts.get(region) or contexts.setdefault(region, _Ctx(catalog, region, usage, refs))
        comps = data_transfer_components(ctx)
        if ctx.region_reason:
            for comp in comps:
                _not_found(comp, ctx.region_reason)
        if comps:
            record = _resource_record({"address": "data_transfer", "type": "data_transfer", "name": "usage",
                                       "actions": []}, region, "data_transfer")
            record["reason"] = "usage-based: data_transfer_out_gb and inter_region_transfer_gb (not a plan resource)"
            out.append(_finish_resource(record, comps))
    total = sum((r["_cost"] for r in out if r.get("_cost") is not None), ZERO)
    unpriced = [r for r in out if r["status"] == "unpriced"]
    result = {
        "currency": catalog.currency,
        "catalog_date": catalog.catalog_date,
        "region": region,
        "hours_per_month": _num(catalog.hours_per_month),
        "spot_discount": _num(catalog.spot_discount),
        "usage_preset": usage.preset,
        "total_monthly_cost": _num(total),
        "resources": out,
        "summary": {
            "resources": len(out),
            "priced": sum(1 for r in out if r["status"] == "priced"),
            "free": sum(1 for r in out if r["status"] == "free"),
            "unpriced": len(unpriced),
            "unpriced_types": sorted(set(r["type"] for r in unpriced)),
            "price_not_found": sorted(r["address"] for r in out if r["price_not_found"]),
            "uncovered_regions": sorted(r for r, c in contexts.items() if c.region_reason),
        },
        "unmatched_usage": usage.unmatched(r["address"] for r in out),
        "usage_assumptions": usage.describe(),
    }
    result["breakdown"] = breakdown(result)
    result["recommendations"] = recommendations(result, catalog, utilization)
    return strip_private(result)


def strip_private(result):
    """Remove the Decimal helper keys (names starting with _) so the result is JSON-able."""
    for res in result["resources"]:
        for key in [k for k in res if k.startswith("_")]:
            res.pop(key)
        for comp in res["components"]:
            for key in [k for k in comp if k.startswith("_")]:
                comp.pop(key)
    return result


def _res_cost(res):
    return Decimal(str(res["monthly_cost"])) if res.get("monthly_cost") is not None else ZERO


def breakdown(result):
    """Cost per category in the seed's order, with the seed's range and whether the cost is inside it."""
    if not isinstance(result, dict) or not isinstance(result.get("resources"), list):
        raise CostError("breakdown needs a cost_estimate result with a resources list")
    sums = dict((key, ZERO) for key, _, _ in CATEGORIES)
    counts = dict((key, 0) for key, _, _ in CATEGORIES)
    for res in result["resources"]:
        cat = res.get("category") or TYPE_CATEGORY.get(res.get("type"), "other")
        if cat not in sums:
            cat = "other"
        sums[cat] += _res_cost(res)
        if res.get("status") == "priced":
            counts[cat] += 1
    out = []
    for key, label, seed in CATEGORIES:
        entry = {"category": key, "label": label, "monthly_cost": _num(_money(sums[key])), "resources": counts[key],
                 "seed_range": list(seed) if seed else None, "within_seed_range": None}
        if seed:
            entry["within_seed_range"] = seed[0] <= sums[key] <= seed[1]
        out.append(entry)
    return out


def delta(before, after):
    """Cost change from result ``before`` to result ``after`` (both from :func:`estimate`)."""
    for name, res in (("before", before), ("after", after)):
        if not isinstance(res, dict) or "resources" not in res or "total_monthly_cost" not in res:
            raise CostError("cost delta: %s is not a cost_estimate result" % name)
    old = dict((r["address"], r) for r in before["resources"])
    new = dict((r["address"], r) for r in after["resources"])
    rows = []
    unchanged = 0
    for address in sorted(set(old) | set(new)):
        a = _res_cost(old[address]) if address in old else None
        b = _res_cost(new[address]) if address in new else None
        if a is None:
            change = "added"
        elif b is None:
            change = "removed"
        elif a != b:
            change = "changed"
        else:
            unchanged += 1
            continue
        diff = (b or ZERO) - (a or ZERO)
        rows.append({"address": address, "type": (new.get(address) or old.get(address))["type"], "change": change,
                     "monthly_cost_before": _num(a), "monthly_cost_after": _num(b), "monthly_cost_diff": _num(diff)})
    rows.sort(key=lambda r: (-abs(Decimal(str(r["monthly_cost_diff"]))), r["address"]))
    t0 = Decimal(str(before["total_monthly_cost"]))
    t1 = Decimal(str(after["total_monthly_cost"]))
    return {"total_monthly_cost_before": _num(t0), "total_monthly_cost_after": _num(t1),
            "total_monthly_cost_diff": _num(t1 - t0),
            "percent_change": None if t0 == 0 else float(((t1 - t0) * 100 / t0).quantize(Decimal("0.1"))),
            "resources": rows, "unchanged": unchanged}


def check_budget(result, budget, top=3):
    """None when within budget, else a message naming the biggest items."""
    try:
        limit = _check_number(budget, "budget")
    except CostError:
        raise CostError("budget must be a number of %s per month >= 0, got %r" % (result.get("currency", "USD"), budget))
    total = Decimal(str(result["total_monthly_cost"]))
    if total <= limit:
        return None
    biggest = sorted((r for r in result["resources"] if r.get("monthly_cost")),
                     key=lambda r: (-_res_cost(r), r["address"]))[:top]
    items = ", ".join("%s %s" % (r["address"], _usd(_res_cost(r))) for r in biggest)
    return ("estimated monthly cost %s exceeds the budget %s by %s; biggest items: %s"
            % (_usd(total), _usd(limit), _usd(total - limit), items))


# --------------------------------------------------------------------------------------------
# recommendations


def _util_for(utilization, res):
    if not utilization:
        return None
    for key in (res["address"], _config_address(res["address"]), res.get("name")):
        if key in utilization:
            return utilization[key]
    return None


def validate_utilization(utilization):
    if utilization is None:
        return {}
    if not isinstance(utilization, dict):
        raise CostError("utilization must map node groups / resources to {cpu, memory} fractions")
    for key, value in utilization.items():
        if not isinstance(value, dict) or not set(value) <= {"cpu", "memory"} or not value:
            raise CostError("utilization[%r] must be a mapping with cpu and/or memory, got %r" % (key, value))
        for metric, frac in value.items():
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
                raise CostError("utilization[%r].%s must be a fraction between 0 and 1, got %r" % (key, metric, frac))
    return utilization


def _smaller(itype, table):
    family, size = _family_size(itype)
    if size not in SIZE_ORDER:
        return None
    for smaller in reversed(SIZE_ORDER[:SIZE_ORDER.index(size)]):
        candidate = "%s.%s" % (family, smaller)
        if candidate in table:
            return candidate
    return None


def _comp(res, kind):
    for comp in res["components"]:
        if comp.get("_kind") == kind or (kind.endswith(":") and str(comp.get("_kind", "")).startswith(kind)):
            return comp
    return None


def recommendations(result, catalog, utilization=None):
    """Savings advice with the monthly saving of each: spot share, right-sizing, tiering, idle."""
    utilization = validate_utilization(utilization)
    recs = []
    groups = [r for r in result["resources"] if r["type"] == "aws_eks_node_group" and r["status"] == "priced"]
    # spot share
    od_nodes = ZERO
    spot_nodes = ZERO
    od_groups = []
    for res in groups:
        comp = _comp(res, "nodes")
        if comp is None or comp["_price"] is None:
            continue
        nodes = comp["_quantity"] / catalog.hours_per_month
        if "spot" in comp["name"]:
            spot_nodes += nodes
        else:
            od_nodes += nodes
            od_groups.append((res, comp, nodes))
    total_nodes = od_nodes + spot_nodes
    if total_nodes > 0 and od_groups:
        share = spot_nodes / total_nodes
        needed = SPOT_TARGET_SHARE * total_nodes - spot_nodes
        if needed > 0:
            saving = ZERO
            left = needed
            for _res, comp, nodes in sorted(od_groups, key=lambda x: -x[1]["_price"]):
                move = min(left, nodes)
                saving += move * catalog.hours_per_month * comp["_price"] * catalog.spot_discount
                left -= move
            recs.append({
                "kind": "spot", "address": ", ".join(r["address"] for r, _, _ in od_groups),
                "monthly_saving": _num(_money(saving)),
                "message": "spot share is %s %% of %s nodes; running %s more node(s) on spot reaches %s %% and saves "
                           "%s a month at the assumed %s %% spot discount (keep stateful and system pods on on-demand)"
                           % (_fmt((share * 100).quantize(Decimal(1))), _fmt(total_nodes), _fmt(needed.quantize(Decimal("0.1"))),
                              _fmt(SPOT_TARGET_SHARE * 100), _usd(_money(saving)), _fmt(catalog.spot_discount * 100))})
    # right-sizing and idle from utilisation
    for res in result["resources"]:
        if res["status"] != "priced" or res["price_not_found"]:
            continue
        util = _util_for(utilization, res)
        if util is None:
            continue
        peak = max(util.values())
        if res["type"] == "aws_eks_node_group":
            comp = _comp(res, "nodes")
            table = catalog.table(res["region"], "ec2", "instance_hour") or {}
        elif res["type"] == "aws_db_instance":
            comp = _comp(res, "db_instance")
            table = (catalog.table(res["region"], "rds", "instance_hour") or {}).get("postgres", {})
        elif res["type"] in ("aws_elasticache_replication_group", "aws_elasticache_cluster"):
            comp = _comp(res, "cache_nodes")
            table = catalog.table(res["region"], "elasticache", "node_hour") or {}
        else:
            continue
        if comp is None or comp["_price"] is None:
            continue
        itype = re.search(r"\(([^,)]+)", comp["name"]).group(1)
        if res["type"] == "aws_eks_node_group" and util.get("cpu", 1) < IDLE_MAX_CPU:
            recs.append({"kind": "idle", "address": res["address"], "monthly_saving": _num(comp["_cost"]),
                         "message": "average CPU %s %% (< %s %%): the node group looks idle; scaling it to zero saves %s"
                                    " a month" % (_fmt(Decimal(str(util["cpu"])) * 100), _fmt(Decimal(str(IDLE_MAX_CPU)) * 100),
                                                  _usd(comp["_cost"]))})
            continue
        if peak >= RIGHTSIZE_MAX_UTILIZATION:
            continue
        smaller = _smaller(itype, table)
        if smaller is None:
            continue
        new_price = table[smaller]
        if isinstance(new_price, list):
            new_price = new_price[1 if "Multi-AZ" in comp["name"] else 0]
        ratio = Decimal(str(new_price)) / Decimal(str(table[itype] if not isinstance(table[itype], list)
                                                      else table[itype][1 if "Multi-AZ" in comp["name"] else 0]))
        saving = _money(comp["_cost"] * (1 - ratio))
        recs.append({"kind": "rightsizing", "address": res["address"], "monthly_saving": _num(saving),
                     "message": "peak average utilisation %s %% (cpu/memory) is under %s %%: %s -> %s saves %s a month"
                                % (_fmt(Decimal(str(peak)) * 100), _fmt(Decimal(str(RIGHTSIZE_MAX_UTILIZATION)) * 100),
                                   itype, smaller, _usd(saving))})
    # storage tiering and gp2 -> gp3
    for res in result["resources"]:
        if res["status"] != "priced" or res["price_not_found"]:
            continue
        if res["type"] == "aws_s3_bucket":
            comp = _comp(res, "s3:standard")
            if comp is None or comp["_price"] is None or comp["_quantity"] < TIERING_MIN_STANDARD_GB:
                continue
            cold = Decimal(str(res.get("_cold_fraction", 0.5)))
            ia = catalog.lookup(res["region"], "s3", "storage_gb_month", "standard_ia")
            saving = _money(comp["_quantity"] * cold * (comp["_price"] - ia))
            if saving > 0:
                recs.append({"kind": "storage_tiering", "address": res["address"], "monthly_saving": _num(saving),
                             "message": "%s GB in S3 standard, %s %% assumed cold: a lifecycle rule to standard-IA after "
                                        "30 days (or intelligent-tiering) saves %s a month"
                                        % (_fmt(comp["_quantity"]), _fmt(cold * 100), _usd(saving))})
        for comp in res["components"]:
            kind = str(comp.get("_kind", ""))
            if kind in ("ebs:gp2", "rds:gp2") and comp["_price"] is not None:
                service, path = ("ebs", ("gb_month", "gp3")) if kind == "ebs:gp2" else ("rds", None)
                if service == "ebs":
                    gp3 = catalog.lookup(res["region"], service, *path)
                else:
                    idx = 1 if "Multi-AZ" in comp["name"] else 0
                    gp3 = catalog.lookup_pair(res["region"], "rds", idx, "storage_gb_month", "gp3")
                saving = _money(comp["_quantity"] * (comp["_price"] - gp3)) if gp3 is not None else ZERO
                if saving > 0:
                    recs.append({"kind": "storage_tiering", "address": res["address"], "monthly_saving": _num(saving),
                                 "message": "gp2 -> gp3 for %s GB saves %s a month (same baseline performance)"
                                            % (_fmt(comp["_quantity"]), _usd(saving))})
    # idle from usage
    for res in result["resources"]:
        if res["status"] != "priced" or res["price_not_found"]:
            continue
        if res["type"] == "aws_nat_gateway":
            gb = _comp(res, "nat_gb")
            hours = _comp(res, "nat_hours")
            if gb is not None and gb["_quantity"] == 0 and hours is not None:
                recs.append({"kind": "idle", "address": res["address"], "monthly_saving": _num(hours["_cost"]),
                             "message": "the NAT gateway processes 0 GB in the usage assumptions: removing it (or sharing "
                                        "one NAT) saves %s a month" % _usd(hours["_cost"])})
        elif res["type"] in ("aws_lb", "aws_alb"):
            lcu = _comp(res, "lcu")
            hours = _comp(res, "lb_hours")
            if lcu is not None and lcu["_quantity"] == 0 and hours is not None:
                recs.append({"kind": "idle", "address": res["address"], "monthly_saving": _num(hours["_cost"]),
                             "message": "the load balancer has 0 LCU in the usage assumptions: removing it saves %s a month"
                                        % _usd(hours["_cost"])})
    recs.sort(key=lambda r: (-Decimal(str(r["monthly_saving"])), r["kind"], r["address"]))
    return recs


# --------------------------------------------------------------------------------------------
# Infracost-shaped JSON


def _s(value):
    return None if value is None else "{:f}".format(Decimal(str(value)))


def to_infracost(result, project="cxr.mlops", diff=None):
    """A dict close to `infracost breakdown --format json` (decimal strings, camelCase)."""
    resources = []
    for res in result["resources"]:
        resources.append({
            "name": res["address"], "resourceType": res["type"],
            "metadata": {"region": res.get("region"), "status": res["status"], "category": res.get("category"),
                         "reason": res.get("reason")},
            "monthlyCost": _s(res["monthly_cost"]),
            "costComponents": [{
                "name": c["name"], "unit": c["unit"], "monthlyQuantity": _s(c["monthly_quantity"]),
                "price": _s(c["price"]), "monthlyCost": _s(c["monthly_cost"]), "priceNotFound": c["price_not_found"],
                "usageBased": c.get("usage_based", False)} for c in res["components"]],
            "subresources": [],
        })
    total = _s(result["total_monthly_cost"])
    project_entry = {"name": project, "metadata": {"region": result["region"], "usagePreset": result["usage_preset"],
                                                   "catalogDate": result["catalog_date"]},
                     "breakdown": {"resources": resources, "totalMonthlyCost": total},
                     "summary": {"totalDetectedResources": result["summary"]["resources"],
                                 "totalSupportedResources": result["summary"]["priced"],
                                 "totalFreeResources": result["summary"]["free"],
                                 "totalUnsupportedResources": result["summary"]["unpriced"],
                                 "unsupportedResourceCounts": dict(
                                     (t, sum(1 for r in result["resources"] if r["type"] == t))
                                     for t in result["summary"]["unpriced_types"])}}
    out = {"version": "0.2", "currency": result["currency"], "projects": [project_entry], "totalMonthlyCost": total}
    if diff is not None:
        project_entry["diff"] = {"totalMonthlyCost": _s(diff["total_monthly_cost_diff"]),
                                 "resources": [{"name": r["address"], "monthlyCost": _s(r["monthly_cost_diff"])}
                                               for r in diff["resources"]]}
        out["diffTotalMonthlyCost"] = _s(diff["total_monthly_cost_diff"])
    return out


# --------------------------------------------------------------------------------------------
# chart


def chart_png(series, title="Monthly cost per category"):
    """PNG bytes of a grouped bar chart: one bar per series (for example low / medium / high usage)
    for each category. ``series`` is a list of (label, breakdown list). Needs matplotlib (Agg)."""
    if not series:
        raise CostError("chart needs at least one series")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CostError("the cost chart needs matplotlib on the host that runs the module "
                        "(pip install matplotlib); leave chart_path unset to skip it")
    import io
    labels = [label for _, label, _ in CATEGORIES]
    width = 0.8 / len(series)
    fig, axis = plt.subplots(figsize=(10, 5), dpi=100)
    try:
        for i, (name, rows) in enumerate(series):
            by_cat = dict((row["category"], row["monthly_cost"]) for row in rows)
            values = [float(by_cat.get(key, 0)) for key, _, _ in CATEGORIES]
            xs = [j + (i - (len(series) - 1) / 2.0) * width for j in range(len(labels))]
            bars = axis.bar(xs, values, width, label=name)
            for bar, value in zip(bars, values):
                axis.annotate("$%.0f" % value, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                              ha="center", va="bottom", fontsize=7)
        for j, (_, _, seed) in enumerate(CATEGORIES):
            if seed:
                axis.plot([j - 0.45, j + 0.45], [seed[1], seed[1]], color="grey", linestyle=":", linewidth=1)
        axis.set_xticks(range(len(labels)))
        axis.set_xticklabels([label.replace(" (", "\n(") for label in labels], fontsize=8)
        axis.set_ylabel("USD per month")
        axis.set_title(title + " (dotted: upper end of the seed estimate)")
        axis.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()
    finally:
        plt.close(fig)
