"""The molecule scenario terraform_apply (the longest), in a file of its own so that ``--dist loadfile`` runs it on
another worker than the other scenarios (tests/integration/test_molecule.py)."""
from __future__ import annotations

import pytest

from tests.integration.test_molecule import OWN_FILE, SCENARIOS, run_scenario

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", OWN_FILE)
def test_molecule_scenario(scenario, sandbox):
    assert scenario in SCENARIOS, "molecule/%s is gone: drop it from OWN_FILE" % scenario
    run_scenario(scenario, sandbox)
