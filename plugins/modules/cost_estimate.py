#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cost_estimate
short_description: Monthly AWS cost of a Terraform plan, offline, from a dated price catalog
version_added: "0.1.0"
description:
  - Prices every resource of a C(terraform show -json) plan with the collection's dated catalog of AWS public
    on-demand prices (no network call); a month is 730 hours.
  - Each resource becomes cost components (monthly quantity x unit price) with an explanation of the arithmetic.
    Usage-based quantities (GB stored, GB transferred out, NAT GB, LCU, log GB, node-group average size) come from
    a usage preset (C(small), C(medium), C(large) or C(none)) overridden per resource type and per address.
  - A resource type it cannot price is listed as C(unpriced), never counted as zero silently; resource types AWS
    does not bill (VPC, subnets, route tables, security groups, IAM, ...) are listed as C(free).
  - Optionally fails when the total exceeds O(budget), naming the biggest items, computes the cost delta against a
    second plan (O(compare_to)), recommends savings (spot share, right-sizing, storage tiering, idle resources) and
    writes a PNG chart of the cost per category for several usage presets side by side.
  - Read-only except for O(chart_path); check mode computes everything and writes nothing.
author:
  - cxr.mlops platform engineers
options:
  plan:
    description: Path to the JSON output of C(terraform show -json PLANFILE).
    type: path
    required: true
  usage:
    description:
      - Usage assumptions, as a mapping or the path of a YAML or JSON file holding one.
      - Keys C(preset), C(data_transfer_out_gb), C(inter_region_transfer_gb), C(types) (resource type to usage)
        and C(resources) (resource address or glob pattern to usage). See docs/cost.md for every usage key.
    type: raw
  usage_preset:
    description:
      - Preset to start from; overrides C(usage.preset).
      - When neither says, C(none) - no invented usage; usage-based components are 0 with their unit price
        and C(depends_on_usage).
    type: str
    choices: [none, small, medium, large]
  region:
    description:
      - Default AWS region of the plan's resources. When omitted, the constant region of the plan's default
        C(aws) provider. Resources of aliased providers with a constant region are priced in that region.
    type: str
  budget:
    description: Monthly budget in the catalog's currency; the module fails when the estimate exceeds it.
    type: float
  compare_to:
    description: Path to a second plan JSON (usually the current one); the result gains a C(delta).
    type: path
  utilization:
    description:
      - "Average utilisation per node group, DB instance or cache (keyed by address, address without index, or
        resource name) as fractions between 0 and 1, for example C(module.eks.aws_eks_node_group.on_demand: {cpu: 0.2,
        memory: 0.3}), typically read from Prometheus. Drives right-sizing and idle advice."
    type: dict
  scenarios:
    description: Extra usage presets to price as well (for example C([small, large]) for low and high usage).
    type: list
    elements: str
    default: []
  chart_path:
    description:
      - Write a PNG bar chart of the cost per category, one bar per scenario and one for the main usage. Needs
        matplotlib on the host that runs the module. Rewritten only when its content changes.
    type: path
  catalog:
    description: Path of a price catalog JSON to use instead of the one embedded in the collection.
    type: path
  project_name:
    description: Project name used in the Infracost-shaped C(infracost) result.
    type: str
    default: cxr.mlops
notes:
  - Prices are list prices on C(catalog_date); Savings Plans, Reserved Instances, taxes and most free tiers are
    ignored. Spot capacity is priced at on-demand x (1 - C(spot_discount)) of the catalog.
seealso:
  - name: Cost estimates in cxr.mlops
    description: docs/cost.md in the collection.
    link: https://github.com/cxr/mlops/blob/main/docs/cost.md
"""

EXAMPLES = r"""
- name: Price the production plan with the medium usage preset
  cxr.mlops.cost_estimate:
    plan: "{{ terraform_apply_plan_json }}"
    usage_preset: medium
    budget: 800
  register: cost

- name: Cost of a change against the current plan, with usage overrides from a file
  cxr.mlops.cost_estimate:
    plan: /tmp/new-plan.json
    compare_to: /tmp/current-plan.json
    usage: files/usage-production.yml
  register: cost_change

- name: Right-size from Prometheus utilisation and draw low/high usage side by side
  cxr.mlops.cost_estimate:
    plan: /tmp/plan.json
    utilization:
      module.eks.aws_eks_node_group.on_demand: {cpu: 0.18, memory: 0.31}
    scenarios: [small, large]
    chart_path: /tmp/cost-report/cost-by-category.png
"""

RETURN = r"""
total_monthly_cost:
  description: Sum of the priced and free resources (unpriced ones are listed in C(summary.unpriced_types)).
  returned: always
  type: float
  sample: 641.07
currency:
  description: Currency of every amount.
  returned: always
  type: str
  sample: USD
catalog_date:
  description: Date the catalog's prices are valid for.
  returned: always
  type: str
  sample: "2025-01-15"
region:
  description: Default region the plan was priced in.
  returned: always
  type: str
  sample: us-east-1
usage_preset:
  description: Usage preset the assumptions started from.
  returned: always
  type: str
  sample: medium
resources:
  description: Every managed resource the plan keeps or creates, plus a C(data_transfer) usage entry.
  returned: always
  type: list
  elements: dict
  contains:
    address: {description: Terraform address, type: str}
    type: {description: Terraform resource type, type: str}
    region: {description: Region it was priced in, type: str}
    category: {description: "eks, rds, elasticache, s3, data_transfer or other", type: str}
    status: {description: "priced, free or unpriced", type: str}
    monthly_cost: {description: Monthly cost (null when unpriced), type: float}
    reason: {description: "Why it is free or unpriced, or why a price was not found (launch template, replica source, region)", type: str}
    price_not_found: {description: A component had no price in the catalog, type: bool}
    components:
      description: Cost components.
      type: list
      elements: dict
      contains:
        name: {description: Component name, type: str}
        unit: {description: Unit of the quantity, type: str}
        monthly_quantity: {description: Quantity a month, type: float}
        price: {description: Price per unit (null when not found), type: float}
        monthly_cost: {description: Quantity x price, rounded to the cent, type: float}
        price_not_found: {description: No price in the catalog, type: bool}
        price_not_found_reason: {description: Why the price was not found, when the catalog is not the reason, type: str}
        usage_based: {description: The quantity comes from usage assumptions, type: bool}
        depends_on_usage: {description: "Usage-based and nobody gave a quantity: 0, priced at C(price) per unit", type: bool}
        explanation: {description: The arithmetic spelled out, type: str}
summary:
  description: >-
    Counts of priced, free and unpriced resources, unpriced types, resources with a missing price, and
    C(uncovered_regions) (regions of the plan the catalog does not cover: their resources are price_not_found).
  returned: always
  type: dict
breakdown:
  description: Cost per category in the seed estimate's order, with the seed's range.
  returned: always
  type: list
  elements: dict
recommendations:
  description: Savings advice, each with C(kind), C(address), C(message) and C(monthly_saving).
  returned: always
  type: list
  elements: dict
unmatched_usage:
  description: Usage addresses or patterns that match no resource (probably typos).
  returned: always
  type: list
  elements: str
delta:
  description: Cost change from O(compare_to) to O(plan), per resource and in total.
  returned: when compare_to is set
  type: dict
budget:
  description: The budget, whether it is exceeded and the message.
  returned: when budget is set
  type: dict
scenarios:
  description: Total and breakdown per extra usage preset.
  returned: always
  type: dict
infracost:
  description: The estimate in a shape close to C(infracost breakdown --format json).
  returned: always
  type: dict
chart_path:
  description: Path of the PNG chart.
  returned: when chart_path is set
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.cxr.mlops.plugins.module_utils.cost import (
    CostError, PRESETS, chart_png, check_budget, delta, estimate, to_infracost,
)
from ansible_collections.cxr.mlops.plugins.module_utils.pricing import PriceCatalog, PricingError


def _load_usage(module, usage):
    if usage is None or isinstance(usage, dict):
        return dict(usage or {})
    if isinstance(usage, str):
        path = os.path.expanduser(usage)
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise CostError("usage file %s cannot be read: %s" % (usage, exc))
        try:
            import yaml
            data = yaml.safe_load(text)
        except Exception as exc:  # yaml.YAMLError and friends
            raise CostError("usage file %s is not YAML/JSON: %s" % (usage, exc))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise CostError("usage file %s must hold a mapping, got %s" % (usage, type(data).__name__))
        return data
    raise CostError("usage must be a mapping or a file path, got %s" % type(usage).__name__)


def run(module):
    params = module.params
    catalog = PriceCatalog.from_file(params["catalog"]) if params["catalog"] else PriceCatalog.default()
    usage = _load_usage(module, params["usage"])
    if params["usage_preset"]:
        usage["preset"] = params["usage_preset"]
    for name in params["scenarios"]:
        if name not in PRESETS:
            raise CostError("scenarios: %r is not a usage preset (known: %s)" % (name, ", ".join(PRESETS)))
    if params["budget"] is not None and params["budget"] < 0:
        raise CostError("budget must be >= 0, got %s" % params["budget"])

    result = estimate(params["plan"], usage=usage, region=params["region"], catalog=catalog,
                      utilization=params["utilization"])
    out = dict(changed=False, **result)
    for uncovered in result["summary"]["uncovered_regions"]:
        module.warn("region %s is not in the price catalog of %s (it covers %s): its resources are price_not_found"
                    % (uncovered, catalog.catalog_date, ", ".join(catalog.regions)))
    diff = None
    if params["compare_to"]:
        before = estimate(params["compare_to"], usage=usage, region=params["region"], catalog=catalog)
        diff = delta(before, result)
        out["delta"] = diff
    scenarios = {}
    for name in params["scenarios"]:
        scenario_usage = dict(usage, preset=name)
        scenario = estimate(params["plan"], usage=scenario_usage, region=params["region"], catalog=catalog)
        scenarios[name] = {"total_monthly_cost": scenario["total_monthly_cost"], "breakdown": scenario["breakdown"]}
    out["scenarios"] = scenarios
    out["infracost"] = to_infracost(result, project=params["project_name"], diff=diff)

    if params["chart_path"]:
        series = [(name, scenarios[name]["breakdown"]) for name in params["scenarios"]]
        if result["usage_preset"] not in params["scenarios"]:
            series.append((result["usage_preset"] + " (estimate)", result["breakdown"]))
        order = dict((name, i) for i, name in enumerate(("none", "small", "medium", "large")))
        series.sort(key=lambda item: order.get(item[0].split(" ")[0], 99))
        png = chart_png(series)
        path = params["chart_path"]
        current = None
        if os.path.exists(path):
            with open(path, "rb") as handle:
                current = handle.read()
        if current != png:
            out["changed"] = True
            if module._diff:
                out["diff"] = {"before_header": path, "after_header": path,
                               "before": "" if current is None else "<PNG, %d bytes>\n" % len(current),
                               "after": "<PNG, %d bytes>\n" % len(png)}
            if not module.check_mode:
                directory = os.path.dirname(os.path.abspath(path))
                if not os.path.isdir(directory):
                    raise CostError("chart_path directory %s does not exist" % directory)
                tmp = path + ".tmp"
                with open(tmp, "wb") as handle:
                    handle.write(png)
                module.atomic_move(tmp, path)
        out["chart_path"] = path

    if params["budget"] is not None:
        message = check_budget(result, params["budget"])
        out["budget"] = {"limit": params["budget"], "exceeded": message is not None, "message": message}
        if message:
            module.fail_json(msg=message, **out)
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="path", required=True),
            usage=dict(type="raw"),
            usage_preset=dict(type="str", choices=["none", "small", "medium", "large"]),
            region=dict(type="str"),
            budget=dict(type="float"),
            compare_to=dict(type="path"),
            utilization=dict(type="dict"),
            scenarios=dict(type="list", elements="str", default=[]),
            chart_path=dict(type="path"),
            catalog=dict(type="path"),
            project_name=dict(type="str", default="cxr.mlops"),
        ),
        supports_check_mode=True,
    )
    try:
        out = run(module)
    except (CostError, PricingError) as exc:
        module.fail_json(msg=to_native(exc))
    module.exit_json(**out)


if __name__ == "__main__":
    main()
