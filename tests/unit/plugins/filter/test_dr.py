"""Unit tests of the disaster-recovery filter (plugins/filter/dr.py)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter import dr


def test_recovery_point_within_and_beyond_the_rpo():
    fresh = dr.dr_recovery_point("2026-12-04T10:00:00+00:00", 60, now="2026-12-04T10:45:00Z")
    assert fresh == {"recovery_point": "2026-12-04T10:00:00Z", "age_minutes": 45.0, "rpo_minutes": 60, "within_rpo": True}
    stale = dr.dr_recovery_point("2026-12-04T10:00:00Z", 60, now="2026-12-04T11:00:30Z")
    assert stale["age_minutes"] == 60.5 and stale["within_rpo"] is False


def test_naive_times_are_utc_and_future_points_count_as_fresh():
    assert dr.dr_recovery_point("2026-12-04T10:00:00", 60, now="2026-12-04T10:30:00+01:00")["within_rpo"] is True
    assert dr.dr_recovery_point("2026-12-04T10:05:00Z", 60, now="2026-12-04T10:00:00Z")["age_minutes"] == 0.0


def test_without_now_the_age_is_measured_against_the_clock():
    assert dr.dr_recovery_point("2000-01-01T00:00:00Z", 60)["within_rpo"] is False


@pytest.mark.parametrize("point, rpo", [("yesterday", 60), ("", 60), (None, 60), ("2026-12-04T10:00:00Z", 0),
                                        ("2026-12-04T10:00:00Z", True), ("2026-12-04T10:00:00Z", "60")])
def test_bad_input_names_the_filter(point, rpo):
    with pytest.raises(AnsibleFilterError, match="^dr_recovery_point: "):
        dr.dr_recovery_point(point, rpo, now="2026-12-04T10:00:00Z")
