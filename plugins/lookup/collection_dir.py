# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The directory of the cxr.mlops collection that is running (a checkout or an installed copy)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: collection_dir
author:
  - cxr.mlops platform engineers
version_added: "0.1.0"
short_description: The directory of the running cxr.mlops collection
description:
  - Returns the directory of the cxr.mlops collection Ansible loaded this plugin from. That is the repository
    root in a checkout, or the installed copy (C(.../ansible_collections/cxr/mlops)) in an execution
    environment.
  - The inventories use it for C(cxr_project_dir), the folder that holds C(infrastructure/) and the values
    files, so that nothing depends on where the inventory file sits. An inventory that AWX exported to
    C(/runner/inventory) still finds the project.
options: {}
"""

EXAMPLES = r"""
- name: Point a role at the collection's Terraform root
  ansible.builtin.set_fact:
    terraform_apply_project_dir: "{{ lookup('cxr.mlops.collection_dir') }}/infrastructure/terraform"
"""

RETURN = r"""
_raw:
  description: One element, the absolute path of the collection's directory.
  type: list
  elements: path
"""

import os

from ansible.plugins.lookup import LookupBase


def collection_dir(plugin_file=__file__):
    """plugins/lookup/<this file> -> the collection's directory (three levels up, symlinks resolved)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(plugin_file))))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [collection_dir()]
