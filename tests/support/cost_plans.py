"""Small `terraform show -json` plans for the cost unit tests (resource_changes with unknown ids and the
configuration's references, as Terraform writes them), and accessors for estimate() results."""

from __future__ import annotations

AWS = "registry.terraform.io/hashicorp/aws"


def plan(resources, refs=None, region="us-east-1"):
    """resources: [(type, name, after values)]; refs: {address: {attribute: [references]}}."""
    refs = refs or {}
    changes, config = [], []
    for rtype, name, values in resources:
        address = "%s.%s" % (rtype, name)
        changes.append({"address": address, "mode": "managed", "type": rtype, "name": name, "provider_name": AWS,
                        "change": {"actions": ["create"], "before": None, "after": values,
                                   "after_unknown": {"id": True}}})
        expressions = {}
        for attribute, references in refs.get(address, {}).items():
            expressions[attribute] = [{"id": {"references": references}}] if attribute == "launch_template" \
                else {"references": references}
        config.append({"address": address, "mode": "managed", "type": rtype, "name": name,
                       "provider_config_key": "aws", "expressions": expressions})
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": changes,
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": AWS, "expressions": {
                "region": {"constant_value": region}}}}, "root_module": {"resources": config}}}


def res(result, address):
    return next(r for r in result["resources"] if r["address"] == address)


def comps(record):
    return [(c["name"], c["monthly_quantity"], c["price"], c["monthly_cost"], c["price_not_found"])
            for c in record["components"]]
