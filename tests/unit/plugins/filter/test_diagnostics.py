import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter.diagnostics import FilterModule

F = FilterModule().filters()


def test_filters_name_themselves_on_bad_input():
    with pytest.raises(AnsibleFilterError, match="^monitoring_findings:"):
        F["monitoring_findings"]("not a list", [])
    with pytest.raises(AnsibleFilterError, match="^eks_findings:"):
        F["eks_findings"]([], "not a mapping")


def test_summary_through_the_filter():
    assert F["findings_summary"]([])["status"] == "ok"
