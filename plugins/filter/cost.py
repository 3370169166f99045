# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cost filters for playbooks and templates: small pure functions over cost_estimate results."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from decimal import Decimal, InvalidOperation

from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils.cost import CostError, breakdown, delta


def _amount(value, name):
    if isinstance(value, bool):
        raise AnsibleFilterError("%s: expected a number, got a boolean %r" % (name, value))
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise AnsibleFilterError("%s: expected a number, got %r" % (name, value))


def monthly_cost(data):
    """Monthly cost of a cost_estimate result, one resource, or a list of resources."""
    if isinstance(data, dict) and "total_monthly_cost" in data:
        return float(_amount(data["total_monthly_cost"], "monthly_cost"))
    if isinstance(data, dict) and "monthly_cost" in data:
        value = data["monthly_cost"]
        return 0.0 if value is None else float(_amount(value, "monthly_cost"))
    if isinstance(data, list):
        total = Decimal(0)
        for item in data:
            if not isinstance(item, dict) or "monthly_cost" not in item:
                raise AnsibleFilterError("monthly_cost: list items must be resources with monthly_cost, got %r" % (item,))
            if item["monthly_cost"] is not None:
                total += _amount(item["monthly_cost"], "monthly_cost")
        return float(total)
    raise AnsibleFilterError("monthly_cost: expected a cost_estimate result, a resource or a list of resources, got %s"
                             % type(data).__name__)


def cost_breakdown(result):
    """Cost per category (list of dicts with category, label, monthly_cost, seed_range, within_seed_range)."""
    try:
        return breakdown(result)
    except CostError as exc:
        raise AnsibleFilterError("cost_breakdown: %s" % exc)
    except (TypeError, KeyError, ValueError, InvalidOperation) as exc:
        raise AnsibleFilterError("cost_breakdown: malformed cost_estimate result (%s)" % exc)


def cost_delta(after, before):
    """``after | cxr.mlops.cost_delta(before)``: per-resource and total cost change."""
    try:
        return delta(before, after)
    except CostError as exc:
        raise AnsibleFilterError("cost_delta: %s" % exc)
    except (TypeError, KeyError, ValueError, InvalidOperation) as exc:
        raise AnsibleFilterError("cost_delta: malformed cost_estimate result (%s)" % exc)


def format_usd(value, precision=2, sign=False):
    """$1,234.56; -$3.00; with sign=True +$3.00 for increases (deltas)."""
    amount = _amount(value, "format_usd")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 6:
        raise AnsibleFilterError("format_usd: precision must be an integer 0..6, got %r" % (precision,))
    quantum = Decimal(1).scaleb(-precision)
    amount = amount.quantize(quantum)
    text = "${:,.{p}f}".format(abs(amount), p=precision)
    if amount < 0:
        return "-" + text
    if sign and amount > 0:
        return "+" + text
    return text


class FilterModule(object):
    def filters(self):
        return {
            "monthly_cost": monthly_cost,
            "cost_breakdown": cost_breakdown,
            "cost_delta": cost_delta,
            "format_usd": format_usd,
        }
