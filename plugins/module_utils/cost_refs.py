# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cross-resource references of a plan that prices depend on.

A node group or instance takes its instance type and volumes from a launch template; a read
replica takes its engine from its source database. Both are resolved across the plan the way
Terraform wires them: by the configuration's reference (``aws_launch_template.x.id``), else by
the id or name the plan knows. What cannot be resolved is returned as a reason, never a guess.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_INDEX = re.compile(r"\[[^\]]*\]")


def config_address(address):
    return _INDEX.sub("", address)


def first_block(block):
    """The first mapping of a nested block (Terraform plans hold blocks as lists), or {}."""
    if isinstance(block, list):
        return block[0] if block and isinstance(block[0], dict) else {}
    return block if isinstance(block, dict) else {}


def _config_refs(plan, attribute, target_type):
    """{config address of a resource: config address of the target_type it references in `attribute`}."""
    out = {}

    def refs_of(expr):
        found = []
        if isinstance(expr, dict):
            for ref in expr.get("references") or []:
                found.append(ref)
            for value in expr.values():
                if isinstance(value, (dict, list)):
                    found.extend(refs_of(value))
        elif isinstance(expr, list):
            for item in expr:
                found.extend(refs_of(item))
        return found

    def walk(module, prefix):
        for res in (module or {}).get("resources", []) or []:
            expr = (res.get("expressions") or {}).get(attribute)
            for ref in refs_of(expr):
                parts = ref.split(".")
                if len(parts) >= 2 and parts[0] == target_type:
                    out[prefix + res.get("address", "")] = prefix + "%s.%s" % (parts[0], parts[1])
                    break
        for name, call in ((module or {}).get("module_calls") or {}).items():
            walk(call.get("module"), prefix + "module.%s." % name)

    walk((plan.get("configuration") or {}).get("root_module"), "")
    return out


class PlanRefs:
    """Launch templates and databases of one plan, found by reference, id, name or identifier."""

    def __init__(self, plan, resources):
        self._lt_refs = _config_refs(plan, "launch_template", "aws_launch_template")
        self._db_refs = _config_refs(plan, "replicate_source_db", "aws_db_instance")
        self._by_config = {}
        self._lt_keys = {}
        self._db_keys = {}
        for res in resources:
            rtype = res["type"]
            if rtype not in ("aws_launch_template", "aws_db_instance"):
                continue
            self._by_config.setdefault(config_address(res["address"]), []).append(res)
            values = res.get("values") or {}
            keys = self._lt_keys if rtype == "aws_launch_template" else self._db_keys
            for key in ("id", "name", "arn", "identifier"):
                if isinstance(values.get(key), str):
                    keys[values[key]] = res

    def _by_reference(self, res, refs):
        target = refs.get(config_address(res["address"]))
        if target is None:
            return None
        candidates = self._by_config.get(target) or []
        if len(candidates) == 1:
            return candidates[0]
        # count/for_each on both sides: the same index
        suffix = res["address"][len(config_address(res["address"])):]
        for cand in candidates:
            if cand["address"].endswith(suffix) and suffix:
                return cand
        return None

    def launch_template(self, res):
        """(template values or None, description, reason or None) for a resource's launch_template block."""
        block = first_block(res["values"].get("launch_template"))
        if not block:
            return None, None, None
        version = block.get("version")
        wanted = block.get("id") or block.get("name")
        found = self._by_reference(res, self._lt_refs)
        if found is None and isinstance(wanted, str):
            found = self._lt_keys.get(wanted)
        label = "launch template %s" % (wanted or "(id known after apply)")
        if found is None:
            return None, label, ("%s is not in the plan, so its instance type and volumes are unknown"
                                 % label)
        values = found.get("values") or {}
        label = "launch template %s" % found["address"]
        latest = values.get("latest_version")
        if version is not None and str(version) not in ("$Latest", "$Default"):
            if latest is not None and str(version) != str(latest):
                return None, label, ("%s version %s is not the version the plan describes (%s)"
                                     % (label, version, latest))
        if str(version) == "$Default" and values.get("default_version") not in (None, latest) and latest is not None:
            return None, label, ("%s: its default version %s is not the version the plan describes (%s)"
                                 % (label, values.get("default_version"), latest))
        if version is not None:
            label += " version %s" % version
        return values, label, None

    def is_replica(self, res):
        """True when the plan makes the resource a read replica (by value or by a reference known after apply)."""
        return res["values"].get("replicate_source_db") is not None or \
            config_address(res["address"]) in self._db_refs

    def replica_source(self, res):
        """(source db values or None, reason or None) for a read replica."""
        source = res["values"].get("replicate_source_db")
        found = self._by_reference(res, self._db_refs)
        if found is None and isinstance(source, str):
            found = self._db_keys.get(source)
            if found is None and ":" in source:  # an ARN ends with the identifier
                found = self._db_keys.get(source.rsplit(":", 1)[-1])
        if found is None:
            return None, "the replica's source database %s is not in the plan, so its engine is unknown" % (
                source or "(known after apply)")
        return found.get("values") or {}, None


def launch_template_volume(values):
    """(size GB or None, type or None) of a launch template's first EBS block device mapping."""
    for mapping in values.get("block_device_mappings") or []:
        ebs = first_block((mapping or {}).get("ebs"))
        if ebs:
            return ebs.get("volume_size"), ebs.get("volume_type")
    return None, None
