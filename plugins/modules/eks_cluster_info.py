#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: eks_cluster_info
short_description: Describe an EKS cluster and its managed node groups
version_added: "0.1.0"
description:
  - Returns the C(DescribeCluster) description of one EKS cluster and the C(DescribeNodegroup) description of
    each of its managed node groups, in the API's own (camelCase) shape so that the collection's
    C(cxr.mlops.eks_findings) filter can read them unchanged.
  - C(amazon.aws) and C(community.aws) manage EKS clusters and node groups but have no info module for them.
  - A cluster that does not exist is not an error; C(found) is false and C(nodegroups) empty, so a health check
    can report it rather than crash.
  - Read-only; check mode and normal mode do the same. Uses C(AnsibleAWSModule) with jittered-backoff retries;
    C(AWS_ENDPOINT_URL) (the sandbox's moto) is honoured by botocore.
author:
  - cxr.mlops platform engineers
options:
  name:
    description: Name of the EKS cluster.
    type: str
    required: true
  nodegroups:
    description: Also list and describe the cluster's managed node groups.
    type: bool
    default: true
  security_groups:
    description:
      - Also describe the cluster's security groups (RV(security_group_ids)) and check that they let nodes reach
        the API server (TCP 443) and the control plane reach the kubelets (TCP 10250); see RV(security_group_findings).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(eks:DescribeCluster), C(eks:ListNodegroups), C(eks:DescribeNodegroup) and C(ec2:DescribeSecurityGroups).
"""

EXAMPLES = r"""
- name: Describe the platform's cluster and node groups
  cxr.mlops.eks_cluster_info:
    name: cxr-production-eks
  register: eks

- name: Show the node roles
  ansible.builtin.debug:
    msg: "{{ eks.nodegroups | map(attribute='nodeRole') | list }}"
"""

RETURN = r"""
found:
  description: Whether the cluster exists.
  type: bool
  returned: always
cluster:
  description: The C(cluster) of C(DescribeCluster) (camelCase keys, times as ISO 8601 strings); empty when not found.
  type: dict
  returned: always
  sample: {"name": "cxr-production-eks", "status": "ACTIVE", "version": "1.30",
           "resourcesVpcConfig": {"securityGroupIds": ["sg-0123"], "clusterSecurityGroupId": "sg-0456"}}
nodegroups:
  description: The C(nodegroup) of C(DescribeNodegroup) for each managed node group, sorted by name.
  type: list
  elements: dict
  returned: always
  sample: [{"nodegroupName": "ondemand", "status": "ACTIVE", "nodeRole": "arn:aws:iam::123456789012:role/cxr-node",
            "scalingConfig": {"minSize": 2, "maxSize": 6, "desiredSize": 2}, "health": {"issues": []}}]
node_role_names:
  description: The distinct node IAM role names of the node groups (the last part of each C(nodeRole) ARN).
  type: list
  elements: str
  returned: always
  sample: ["cxr-production-node"]
security_group_ids:
  description: The cluster security group and the additional control-plane security groups, de-duplicated.
  type: list
  elements: str
  returned: always
security_groups:
  description: The described security groups (snake_case, as C(amazon.aws.ec2_security_group_info) returns them).
  type: list
  elements: dict
  returned: when security_groups is true and the cluster exists
security_group_findings:
  description:
    - Findings (C(area), C(severity), C(check), C(resource), C(cause), C(fix)) about missing security groups or
      rules that keep nodes from joining; empty when the rules are fine. Same shape as the C(cxr.mlops.eks_findings) filter.
  type: list
  elements: dict
  returned: always
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.cxr.mlops.plugins.module_utils import eks_info


def describe(module, client):
    """Return (cluster, nodegroups) or (None, []) when the cluster does not exist."""
    name = module.params["name"]
    try:
        cluster = client.describe_cluster(name=name, aws_retry=True)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None, []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="cannot describe EKS cluster %s" % name)
    nodegroups = []
    if module.params["nodegroups"]:
        try:
            names = []
            for page in client.get_paginator("list_nodegroups").paginate(clusterName=name):
                names.extend(page.get("nodegroups", []))
            for ng_name in sorted(names):
                nodegroups.append(client.describe_nodegroup(clusterName=name, nodegroupName=ng_name,
                                                            aws_retry=True)["nodegroup"])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="cannot describe the node groups of EKS cluster %s" % name)
    return cluster, nodegroups


def describe_security_groups(module, client, group_ids):
    """Describe the groups that exist (one call per id: a missing id must not hide the others)."""
    groups = []
    for group_id in group_ids:
        try:
            found = client.describe_security_groups(GroupIds=[group_id], aws_retry=True)["SecurityGroups"]
        except is_boto3_error_code(["InvalidGroup.NotFound", "InvalidGroupId.Malformed"]):
            continue
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg="cannot describe security group %s" % group_id)
        groups.extend(camel_dict_to_snake_dict(g, ignore_list=["Tags"]) for g in found)
    return groups


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        nodegroups=dict(type="bool", default=True),
        security_groups=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        eks_info.validate_cluster_name(module.params["name"])
    except ValueError as exc:
        module.fail_json(msg="eks_cluster_info: %s" % exc)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    cluster, nodegroups = describe(module, client)
    result = eks_info.summarize(cluster, nodegroups)
    result["security_group_findings"] = []
    if cluster and module.params["security_groups"]:
        ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        result["security_groups"] = describe_security_groups(module, ec2, result["security_group_ids"])
        result["security_group_findings"] = eks_info.security_group_findings(result["cluster"], result["security_groups"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
