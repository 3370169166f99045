#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: eks_token
short_description: Describe an EKS cluster and mint a bearer token for it
version_added: "0.1.0"
description:
  - Describes the cluster (C(eks:DescribeCluster)) and returns its endpoint, certificate authority and status.
  - Mints the token C(aws eks get-token) would print, without the AWS CLI, from a presigned STS
    C(GetCallerIdentity) URL that signs the C(x-k8s-aws-id) header (the cluster name). EKS accepts it for
    about 15 minutes.
  - With O(reuse_kubeconfig), a token already in that kubeconfig for the same endpoint that is still valid for
    O(min_remaining_seconds) is returned instead of a new one, so a kubeconfig is rewritten only when needed.
  - The token is returned in clear text for the task that writes the kubeconfig, so always use C(no_log) on this task.
  - C(amazon.aws) has no EKS token module and C(community.aws.eks_cluster) has no read-only mode, hence this module.
author:
  - cxr.mlops platform engineers
options:
  cluster_name:
    description: Name of the EKS cluster (also the name of its kubeconfig cluster, user and context entries).
    type: str
    required: true
  describe:
    description: Describe the cluster (endpoint, CA). Can be off only with O(endpoint_override) and O(ca_mode) not C(cluster).
    type: bool
    default: true
  auth:
    description:
      - C(token) mints (or reuses) a bearer token and puts it in the user entry (short runs; it lives about 15 minutes).
      - C(exec) makes a user entry that runs C(aws eks get-token) whenever a client needs a token (long runs).
      - C(none) returns no kubeconfig entries.
    type: str
    choices: [token, exec, none]
    default: token
  endpoint_override:
    description: API server URL to use instead of the described endpoint (test servers standing in for EKS).
    type: str
    default: ""
  ca_mode:
    description:
      - C(cluster) embeds the cluster's certificate authority; C(insecure) skips TLS verification (test servers only);
        C(none) sets no CA (plain HTTP test servers).
    type: str
    choices: [cluster, insecure, none]
    default: cluster
  role_arn:
    description: Role the exec user assumes (C(aws eks get-token --role-arn)).
    type: str
    default: ""
  exec_profile:
    description: AWS profile of the exec user (C(AWS_PROFILE) in its environment; O(profile) is the module's own).
    type: str
    default: ""
  exec_command:
    description: Command of the exec user.
    type: str
    default: aws
  namespace:
    description: Default namespace of the context (empty for none).
    type: str
    default: ""
  reuse_kubeconfig:
    description: Kubeconfig to take a still-valid token from (token auth; entries named O(cluster_name), same endpoint).
    type: path
  min_remaining_seconds:
    description: A reused token must stay valid at least this long (EKS tokens live 900 s).
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode (it changes nothing).
"""

EXAMPLES = r"""
- name: Endpoint, CA and a token of the cluster
  cxr.mlops.eks_token:
    cluster_name: cxr-production
    region: us-east-1
    auth: exec
  register: eks
  no_log: true

- name: Write the kubeconfig
  kubernetes.core.kubeconfig:
    path: /srv/artifacts/kubeconfig
    clusters: "{{ eks.kubeconfig.clusters }}"
    users: "{{ eks.kubeconfig.users }}"
    contexts: "{{ eks.kubeconfig.contexts }}"
    current_context: "{{ eks.kubeconfig.current_context }}"
  no_log: true
"""

RETURN = r"""
cluster:
  description: The described cluster (only C(name) when O(describe=false)).
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      returned: always
    arn:
      description: Cluster ARN.
      type: str
      returned: when O(describe=true)
    endpoint:
      description: API server URL.
      type: str
      returned: when O(describe=true)
    certificate_authority_data:
      description: Base64 CA bundle.
      type: str
      returned: when O(describe=true)
    version:
      description: Kubernetes version.
      type: str
      returned: when O(describe=true)
    status:
      description: Cluster status.
      type: str
      returned: when O(describe=true)
token:
  description: The bearer token (use this module with C(no_log); write the token only to 0600 files).
  returned: when O(auth=token)
  type: str
expiration:
  description: When EKS stops accepting the token (UTC, ISO 8601).
  returned: when O(auth=token)
  type: str
reused:
  description: Whether the token came from O(reuse_kubeconfig).
  returned: when O(auth=token)
  type: bool
kubeconfig:
  description: C(clusters), C(users), C(contexts) and C(current_context) for M(kubernetes.core.kubeconfig).
  returned: when O(auth) is not C(none)
  type: dict
"""

import os

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cxr.mlops.plugins.module_utils.eks_token import (
    EksTokenError,
    build_token,
    iso,
    kubeconfig_entries,
    presigned_url,
    reusable_token,
    token_info,
)


def describe(module, name):
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    try:
        cluster = client.describe_cluster(aws_retry=True, name=name)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException"):
        module.fail_json(msg="EKS cluster %s does not exist in %s (is terraform_apply_outputs.cluster_name right?)"
                             % (name, module.region))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
        module.fail_json_aws(exc, msg="cannot describe EKS cluster %s" % name)
    return {
        "name": cluster.get("name", name),
        "arn": cluster.get("arn", ""),
        "endpoint": cluster.get("endpoint", ""),
        "certificate_authority_data": (cluster.get("certificateAuthority") or {}).get("data", ""),
        "version": cluster.get("version", ""),
        "status": cluster.get("status", ""),
    }


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            describe=dict(type="bool", default=True),
            auth=dict(type="str", choices=["token", "exec", "none"], default="token"),
            endpoint_override=dict(type="str", default=""),
            ca_mode=dict(type="str", choices=["cluster", "insecure", "none"], default="cluster"),
            role_arn=dict(type="str", default=""),
            exec_profile=dict(type="str", default=""),
            exec_command=dict(type="str", default="aws"),
            namespace=dict(type="str", default=""),
            reuse_kubeconfig=dict(type="path"),
            min_remaining_seconds=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["cluster_name"]
    if not p["describe"] and (not p["endpoint_override"] or p["ca_mode"] == "cluster"):
        module.fail_json(msg="describe=false needs endpoint_override and a ca_mode other than cluster")
    result = dict(changed=False)
    cluster = describe(module, name) if p["describe"] else {"name": name}
    result["cluster"] = cluster
    server = p["endpoint_override"] or cluster.get("endpoint", "")
    token = None
    if p["auth"] == "token":
        if p["reuse_kubeconfig"] and server and os.path.exists(p["reuse_kubeconfig"]) and yaml is not None:
            try:
                with open(p["reuse_kubeconfig"]) as handle:
                    existing = yaml.safe_load(handle)
            except (IOError, OSError, yaml.YAMLError):
                existing = None
            token = reusable_token(existing, name, server, p["min_remaining_seconds"])
        result["reused"] = token is not None
        if token is None:
            sts = module.client("sts")
            try:
                token = build_token(presigned_url(sts, name))
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                module.fail_json_aws(exc, msg="cannot presign STS GetCallerIdentity for cluster %s" % name)
            except EksTokenError as exc:
                module.fail_json(msg=str(exc))
        result["token"] = token
        result["expiration"] = iso(token_info(token)["expiration"])
    if p["auth"] != "none":
        try:
            result["kubeconfig"] = kubeconfig_entries(
                name, server, ca_mode=p["ca_mode"], ca_data=cluster.get("certificate_authority_data", ""),
                auth=p["auth"], token=token or "", region=module.region, role_arn=p["role_arn"], profile=p["exec_profile"],
                exec_command=p["exec_command"], namespace=p["namespace"])
        except EksTokenError as exc:
            module.fail_json(msg="cannot build the kubeconfig of %s: %s" % (name, exc), cluster=cluster)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
