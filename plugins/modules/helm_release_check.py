#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: helm_release_check
short_description: Tell whether a Helm release differs from the desired chart and values (no helm-diff needed)
version_added: 0.1.0
description:
  - Compares a deployed Helm release with what M(kubernetes.core.helm) would deploy from the same O(chart_ref),
    O(chart_version), O(chart_repo_url), O(values_files) and O(release_values), and says whether an upgrade is needed
    and why. Run it before M(kubernetes.core.helm) and run that task only when RV(needs_upgrade) is true; a second
    run then reports no change even where the helm-diff plugin is not installed.
  - The desired user-supplied values are built as Helm builds them, values files in order and then O(release_values),
    merged with Helm's rules (maps merge deeply; scalars, lists and C(null) replace), and compared with
    C(helm get values). The release also needs an upgrade when it is not installed, when its last revision is not
    C(deployed), or when the chart name, version or appVersion differ from the chart's C(helm show chart).
  - It never changes anything, so it runs in check mode too. It reports C(changed) when the release would change
    (like a plan with changes) and returns a diff of the values, with secrets masked (O(redact_keys)), for C(--diff).
author:
  - cxr.mlops platform engineers
options:
  release_name:
    description: Name of the release.
    type: str
    required: true
    aliases: [name]
  release_namespace:
    description: Namespace of the release.
    type: str
    required: true
    aliases: [namespace]
  chart_ref:
    description:
      - The chart as M(kubernetes.core.helm) takes it, a chart name in O(chart_repo_url), C(repo/name), an
        C(oci://) reference or a local path (directory or packaged C(.tgz)).
    type: str
    required: true
  chart_version:
    description: The pinned chart version. For a local chart it must match the chart's own version.
    type: str
  chart_repo_url:
    description: Chart repository URL, as for M(kubernetes.core.helm).
    type: str
  release_values:
    description: Values applied after O(values_files), as for M(kubernetes.core.helm).
    type: dict
    default: {}
    aliases: [values]
  values_files:
    description: Values files on the control node, applied in order before O(release_values).
    type: list
    elements: path
    default: []
  binary_path:
    description: The helm binary (Helm 3 or Helm 4).
    type: path
  kubeconfig:
    description: Path to the kubeconfig. Defaults to C(K8S_AUTH_KUBECONFIG) or the helm default.
    type: path
    aliases: [kubeconfig_path]
  context:
    description: Kubeconfig context to use.
    type: str
    aliases: [kube_context]
  plain_http:
    description: Reach an OCI registry over plain HTTP (Helm >= 3.13).
    type: bool
    default: false
  redact_keys:
    description:
      - Regular expressions. Values under a matching key are shown as C(********) in the diff (Slack webhook URLs,
        PagerDuty keys, passwords, tokens). The default list covers those; paths of changed values are always shown.
    type: list
    elements: str
notes:
  - Objects changed in the cluster behind Helm's back are not detected, just as with C(helm upgrade) itself.
  - A local chart whose templates changed without a version bump is not detected; bump the chart's version.
seealso:
  - module: kubernetes.core.helm
  - module: kubernetes.core.helm_info
"""

EXAMPLES = r"""
- name: Plan the monitoring release
  cxr.mlops.helm_release_check:
    release_name: kube-prometheus-stack
    release_namespace: monitoring
    chart_ref: kube-prometheus-stack
    chart_repo_url: https://prometheus-community.github.io/helm-charts
    chart_version: 75.15.1
    values_files: [infrastructure/kubernetes/monitoring/prometheus-values.yaml]
    release_values: {grafana: {replicas: 2}}
    binary_path: /usr/local/bin/helm
    kubeconfig: ~/.kube/config
  register: monitoring_plan

- name: Install or upgrade only when something differs
  kubernetes.core.helm:
    release_name: kube-prometheus-stack
    release_namespace: monitoring
    chart_ref: kube-prometheus-stack
    chart_repo_url: https://prometheus-community.github.io/helm-charts
    chart_version: 75.15.1
    values_files: [infrastructure/kubernetes/monitoring/prometheus-values.yaml]
    release_values: {grafana: {replicas: 2}}
  when: monitoring_plan.needs_upgrade
"""

RETURN = r"""
needs_upgrade:
  description: Whether C(helm upgrade --install) would change the release.
  returned: always
  type: bool
  sample: true
installed:
  description: Whether the release exists (in any status).
  returned: always
  type: bool
reasons:
  description: Why an upgrade is needed (empty when it is not).
  returned: always
  type: list
  elements: str
  sample: ["chart kube-prometheus-stack-75.14.0 is deployed, kube-prometheus-stack-75.15.1 is desired",
           "values differ at prometheus.prometheusSpec.retention"]
values_changed:
  description: Dotted paths of the user-supplied values that differ.
  returned: always
  type: list
  elements: str
deployed:
  description: The deployed release (C(helm list) fields), or null when not installed.
  returned: always
  type: dict
  sample: {name: kube-prometheus-stack, namespace: monitoring, revision: "3", status: deployed,
           chart: kube-prometheus-stack-75.15.1, app_version: v0.83.0}
desired:
  description: The desired chart name, version and appVersion.
  returned: always
  type: dict
diff:
  description: Deployed and desired user-supplied values as YAML, secrets masked.
  returned: always
  type: dict
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cxr.mlops.plugins.module_utils.helm_release import (
    HAS_YAML,
    HelmRelease,
    HelmReleaseError,
    check_release,
)

if HAS_YAML:
    import yaml


def _helm_major(module, binary):
    rc, out, err = module.run_command([binary, "version", "--short"])
    if rc != 0:
        module.fail_json(msg="cannot run '%s version': %s" % (binary, (err or out).strip()))
    match = re.match(r"v?(\d+)\.", out.strip())
    if not match:
        module.fail_json(msg="cannot read the helm version from %r" % out.strip())
    major = int(match.group(1))
    if major < 3:
        module.fail_json(msg="helm >= 3 is required, found %s" % out.strip())
    return major


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release_name=dict(type="str", required=True, aliases=["name"]),
            release_namespace=dict(type="str", required=True, aliases=["namespace"]),
            chart_ref=dict(type="str", required=True),
            chart_version=dict(type="str"),
            chart_repo_url=dict(type="str"),
            release_values=dict(type="dict", default={}, aliases=["values"]),
            values_files=dict(type="list", elements="path", default=[]),
            binary_path=dict(type="path"),
            kubeconfig=dict(type="path", aliases=["kubeconfig_path"]),
            context=dict(type="str", aliases=["kube_context"]),
            plain_http=dict(type="bool", default=False),
            redact_keys=dict(type="list", elements="str", no_log=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required")
    p = module.params
    binary = p["binary_path"] or module.get_bin_path("helm", required=True)
    kubeconfig = p["kubeconfig"] or os.environ.get("K8S_AUTH_KUBECONFIG")
    context = p["context"] or os.environ.get("K8S_AUTH_CONTEXT")
    for pattern in p["redact_keys"] or []:
        try:
            re.compile(pattern)
        except re.error as exc:
            module.fail_json(msg="redact_keys: %r is not a regular expression: %s" % (pattern, exc))

    contents = []
    for path in p["values_files"]:
        try:
            with open(path) as handle:
                contents.append(yaml.safe_load(handle))
        except (OSError, yaml.YAMLError) as exc:
            module.fail_json(msg="cannot read values file %s: %s" % (path, exc))

    helm = HelmRelease(lambda argv: module.run_command(argv, environ_update={"HELM_NAMESPACE": p["release_namespace"]}),
                       binary=binary, kubeconfig=kubeconfig, context=context, namespace=p["release_namespace"],
                       helm_major=_helm_major(module, binary))
    try:
        result = check_release(helm, p["release_name"], p["chart_ref"], contents, p["release_values"],
                               chart_version=p["chart_version"], chart_repo_url=p["chart_repo_url"],
                               redact_keys=p["redact_keys"], plain_http=p["plain_http"])
    except HelmReleaseError as exc:
        module.fail_json(msg="helm_release_check: %s" % exc)
    module.exit_json(changed=result["needs_upgrade"], **result)


if __name__ == "__main__":
    main()
