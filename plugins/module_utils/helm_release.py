# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a deployed Helm release differ from the desired one? (shared by every chart the collection installs)

``kubernetes.core.helm`` decides whether to upgrade with the helm-diff plugin when it is installed.
Without the plugin (the case on this project's control nodes and in AWX execution environments) it
falls back to a check (kubernetes.core 6.6, ``default_check``) that

* merges ``values_files`` only at the top level (a nested key in two files compares wrongly),
* ignores ``release_values`` as soon as ``values_files`` is given (the deployed values then never
  equal the files alone, so it reports a change on every run), and
* gives no diff, so ``--check --diff`` cannot say what would change.

This module answers the same question the way Helm itself builds a release's user-supplied values:
values files in order, then ``release_values``, merged with Helm's ``mergeMaps`` rules (maps merge
deeply, anything else, lists and ``null`` included, replaces), compared with ``helm get values``.
A release also needs an upgrade when it is not installed, when its last revision is not
``deployed`` (failed, pending-upgrade, ...), or when the chart name, version or appVersion differ.

Everything that runs helm is injected (``run``), so the logic is unit-tested without helm.
"""
from __future__ import annotations

import copy
import json
import re

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover (PyYAML ships with ansible-core)
    HAS_YAML = False

REDACTED = "********"

# Keys whose values never appear in a diff or a result (Slack webhooks, PagerDuty keys, passwords).
DEFAULT_REDACT_KEYS = [
    r"(?i)pass(word|wd)?$",
    r"(?i)^secret$|client_?secret|secret_?(key|value)$",
    r"(?i)token$",
    r"(?i)(api|routing|service|integration|private|access)_?key$",
    r"(?i)^(api_url|webhook_?url)$",
    r"(?i)credentials?$",
]


class HelmReleaseError(Exception):
    """A helm command failed or returned something that cannot be read; the message says which."""


def merge_values(base, override):
    """Helm's ``mergeMaps``: a copy of ``base`` with ``override`` merged in.

    Maps merge key by key, recursively; any other value (scalar, list, ``None``) in ``override``
    replaces the one in ``base``. Neither argument is modified.
    """
    if not isinstance(base, dict) or not isinstance(override, dict):
        raise TypeError("merge_values: both arguments must be mappings")
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def desired_values(files_contents, release_values=None):
    """User-supplied values of an upgrade with ``-f file1 -f file2 ... -f release_values``."""
    merged = {}
    for index, content in enumerate(files_contents or []):
        if content is None:
            continue  # an empty values file
        if not isinstance(content, dict):
            raise HelmReleaseError("values file #%d is not a mapping (got %s)" % (index + 1, type(content).__name__))
        merged = merge_values(merged, content)
    if release_values:
        if not isinstance(release_values, dict):
            raise HelmReleaseError("release_values must be a mapping")
        merged = merge_values(merged, release_values)
    return normalize(merged)


def normalize(value):
    """Plain JSON types (what ``helm get values -o json`` gives back): tuples become lists, keys strings."""
    return json.loads(json.dumps(value, default=str))


def _equal(a, b):
    # Helm stores numbers as float64: 3 and 3.0 are the same value; True is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def changed_paths(before, after, prefix=""):
    """Dotted paths (list indexes as ``[i]``) where ``after`` differs from ``before``, sorted."""
    paths = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            path = "%s.%s" % (prefix, key) if prefix else str(key)
            if key not in before or key not in after:
                paths.append(path)
            else:
                paths.extend(changed_paths(before[key], after[key], path))
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (b, a) in enumerate(zip(before, after)):
            paths.extend(changed_paths(b, a, "%s[%d]" % (prefix, index)))
        return paths
    if isinstance(before, (dict, list)) or isinstance(after, (dict, list)):
        return [] if before == after else [prefix or "(root)"]
    return [] if _equal(before, after) else [prefix or "(root)"]


def redact(value, patterns=None):
    """A copy of ``value`` where every value under a key matching one of ``patterns`` is masked."""
    compiled = [re.compile(p) for p in (DEFAULT_REDACT_KEYS if patterns is None else patterns)]

    def walk(item):
        if isinstance(item, dict):
            out = {}
            for key, sub in item.items():
                if sub not in (None, "", {}, []) and any(c.search(str(key)) for c in compiled):
                    out[key] = REDACTED
                else:
                    out[key] = walk(sub)
            return out
        if isinstance(item, list):
            return [walk(sub) for sub in item]
        return item

    return walk(value)


def parse_release_list(text, release_name):
    """The entry of ``release_name`` in ``helm list -o json`` output, or None."""
    try:
        releases = json.loads(text or "[]") or []
    except ValueError as exc:
        raise HelmReleaseError("cannot read 'helm list -o json' output: %s" % exc)
    for release in releases:
        if release.get("name") == release_name:
            return release
    return None


def parse_values(text):
    """User-supplied values from ``helm get values -o json`` (``null`` when there are none)."""
    try:
        values = json.loads(text or "null")
    except ValueError as exc:
        raise HelmReleaseError("cannot read 'helm get values -o json' output: %s" % exc)
    return values or {}


def parse_chart(text):
    """Chart metadata (name, version, appVersion) from ``helm show chart`` (YAML)."""
    if not HAS_YAML:  # pragma: no cover
        raise HelmReleaseError("PyYAML is required")
    # OCI pulls print "Pulled: ..." / "Digest: ..." before the YAML.
    lines = [line for line in (text or "").splitlines() if not re.match(r"^(Pulled|Digest): ", line)]
    try:
        chart = yaml.safe_load("\n".join(lines))
    except yaml.YAMLError as exc:
        raise HelmReleaseError("cannot read 'helm show chart' output: %s" % exc)
    if not isinstance(chart, dict) or not chart.get("name") or not chart.get("version"):
        raise HelmReleaseError("'helm show chart' gave no chart name and version")
    return chart


def plan(release, deployed_values, chart, wanted_values, namespace=""):
    """What an upgrade would change. Pure: every input is already read.

    ``release`` is the ``helm list`` entry (None when not installed), ``deployed_values`` its
    ``helm get values``, ``chart`` the desired chart's metadata, ``wanted_values`` the desired
    user-supplied values. Returns ``needs_upgrade``, ``reasons`` and ``values_changed``.
    """
    wanted_chart = "%s-%s" % (chart["name"], chart["version"])
    if release is None:
        return {"needs_upgrade": True, "installed": False, "values_changed": [],
                "reasons": ["release is not installed%s; %s would be installed"
                            % (" in namespace %s" % namespace if namespace else "", wanted_chart)]}
    reasons = []
    status = release.get("status", "")
    if status != "deployed":
        reasons.append("the release's last revision %s is '%s', not 'deployed'" % (release.get("revision", "?"), status))
    if release.get("chart") != wanted_chart:
        reasons.append("chart %s is deployed, %s is desired" % (release.get("chart"), wanted_chart))
    wanted_app = chart.get("appVersion") or ""
    if (release.get("app_version") or "") != str(wanted_app):
        reasons.append("appVersion %s is deployed, %s is desired" % (release.get("app_version") or "(none)", wanted_app or "(none)"))
    values_changed = changed_paths(deployed_values or {}, wanted_values or {})
    if values_changed:
        shown = ", ".join(values_changed[:10]) + (" and %d more" % (len(values_changed) - 10) if len(values_changed) > 10 else "")
        reasons.append("values differ at %s" % shown)
    return {"needs_upgrade": bool(reasons), "installed": True, "values_changed": values_changed, "reasons": reasons}


def to_yaml(value):
    if not HAS_YAML:  # pragma: no cover
        return json.dumps(value, indent=2, sort_keys=True) + "\n"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True)


class HelmRelease:
    """Reads a release and a chart through the helm CLI. ``run(argv) -> (rc, stdout, stderr)`` is injected."""

    def __init__(self, run, binary="helm", kubeconfig=None, context=None, namespace=None, helm_major=3):
        self.run = run
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.helm_major = helm_major

    def _global_flags(self):
        flags = []
        if self.kubeconfig:
            flags += ["--kubeconfig", self.kubeconfig]
        if self.context:
            flags += ["--kube-context", self.context]
        if self.namespace:
            flags += ["--namespace", self.namespace]
        return flags

    def _helm(self, *args):
        argv = [self.binary] + list(args)
        rc, out, err = self.run(argv)
        if rc != 0:
            raise HelmReleaseError("'%s' failed (rc=%s): %s" % (" ".join(args[:2]), rc, (err or out).strip()[-2000:]))
        return out

    def release(self, name):
        args = ["list", "--output", "json", "--filter", "^%s$" % re.escape(name)] + self._global_flags()
        if self.helm_major < 4:
            args.append("--all")  # Helm 4 lists every status by default and dropped --all
        return parse_release_list(self._helm(*args), name)

    def values(self, name):
        return parse_values(self._helm("get", "values", name, "--output", "json", *self._global_flags()))

    def chart(self, chart_ref, version=None, repo_url=None, plain_http=False):
        args = ["show", "chart", chart_ref]
        if version:
            args += ["--version", version]
        if repo_url:
            args += ["--repo", repo_url]
        if plain_http:
            args.append("--plain-http")
        return parse_chart(self._helm(*args))


def check_release(helm, release_name, chart_ref, values_files_contents=None, release_values=None,
                  chart_version=None, chart_repo_url=None, redact_keys=None, plain_http=False):
    """Read the deployed release and the desired chart and plan. Returns the module's result."""
    wanted = desired_values(values_files_contents, release_values)
    chart = helm.chart(chart_ref, chart_version, chart_repo_url, plain_http)
    if chart_version and str(chart.get("version")) != str(chart_version).lstrip("v") and str(chart.get("version")) != str(chart_version):
        raise HelmReleaseError("chart %s has version %s, not the pinned %s" % (chart_ref, chart.get("version"), chart_version))
    release = helm.release(release_name)
    deployed = helm.values(release_name) if release is not None else {}
    result = plan(release, deployed, chart, wanted, helm.namespace or "")
    result["deployed"] = None if release is None else {
        key: release.get(key) for key in ("name", "namespace", "revision", "status", "chart", "app_version", "updated")}
    result["desired"] = {"chart": chart["name"], "version": str(chart["version"]), "app_version": str(chart.get("appVersion") or "")}
    before, after = redact(deployed, redact_keys), redact(wanted, redact_keys)
    result["diff"] = {
        "before": to_yaml(before) if release is not None else "",
        "after": to_yaml(after),
        "before_header": "%s (deployed: %s)" % (release_name, release.get("chart") if release else "not installed"),
        "after_header": "%s (desired: %s-%s)" % (release_name, chart["name"], chart["version"]),
    }
    return result
