"""playbooks/cost_report.yml through a real ansible-playbook run, and cost_estimate on a plan made
by real terraform (init from the filesystem mirror, plan, show -json; no AWS call)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "cost"
PROD = FIXTURES / "production-plan.json"
PLAYBOOK = ROOT / "playbooks" / "cost_report.yml"
TF_MIRROR = Path("/opt/tf-plugins")

pytestmark = pytest.mark.slow

LOCAL = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
ENV = {"ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (ROOT / ".collections", os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")),
       "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # messages unwrapped


def report(ansible_playbook, out_dir, *args, **extra):
    extra_vars = {"cost_report_plan": str(extra.pop("plan", PROD)), "cost_report_output_dir": str(out_dir), **extra}
    return ansible_playbook(PLAYBOOK, *LOCAL, *args, env=ENV, extra_vars=extra_vars, timeout=300)


def test_report_of_the_production_plan(ansible_playbook, tmp_path):
    out = tmp_path / "report"
    first = report(ansible_playbook, out)
    assert first.rc == 0, first
    md = (out / "cost-report.md").read_text()
    doc = json.loads((out / "cost-report.json").read_text())
    png = (out / "cost-by-category.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["totalMonthlyCost"] == "641.07" and doc["currency"] == "USD"
    assert doc["projects"][0]["summary"]["unsupportedResourceCounts"] == {"aws_sns_topic": 1}
    # the seed's table with its ranges, every category inside
    for line in ("| EKS (control plane + nodes + EBS) | $243.69 | **$270.22** | $395.35 | $150-$300 | yes |",
                 "| RDS | $128.12 | **$132.87** | $147.12 | $100-$200 | yes |",
                 "| ElastiCache | $99.28 | **$99.28** | $99.28 | $50-$100 | yes |",
                 "| S3 | $8.25 | **$33.60** | $180.00 | $20-$50 | yes |",
                 "| Data transfer (+NAT) | $38.05 | **$51.00** | $144.00 | $30-$60 | yes |",
                 "| **Total** | $554.92 | **$641.07** | $1,091.61 | $350-$710 | yes |"):
        assert line in md
    # every priced resource and component is explained in the report
    result = estimate(str(PROD))
    for res in result["resources"]:
        if res["status"] == "priced":
            assert "`%s`" % res["address"] in md, res["address"]
            for comp in res["components"]:
                assert comp["explanation"] in md, comp
    assert "aws_sns_topic" in md and "not in the cost model" in md
    assert "1 x 730 h x $0.144/h (RDS postgres db.t3.medium Multi-AZ, us-east-1)" in md
    # the table is printed
    assert "Data transfer (+NAT)" in first.stdout and "$641.07" in first.stdout
    # idempotent
    second = report(ansible_playbook, out)
    assert second.rc == 0 and second.changed == 0, second


def test_check_mode_writes_nothing(ansible_playbook, tmp_path):
    out = tmp_path / "report"
    result = report(ansible_playbook, out, "--check")
    assert result.rc == 0, result
    assert not out.exists()


def test_budget_overrun_writes_the_report_then_fails(ansible_playbook, tmp_path):
    out = tmp_path / "report"
    result = report(ansible_playbook, out, cost_report_budget=500)
    assert result.rc != 0
    assert "exceeds the budget $500.00 by $141.07" in result.stdout
    assert "module.eks.aws_eks_node_group.on_demand $144.16" in result.stdout
    assert (out / "cost-report.md").exists()


def test_not_a_plan_fails_clearly(ansible_playbook, tmp_path):
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"resources": []}')
    result = report(ansible_playbook, tmp_path / "report", plan=bogus)
    assert result.rc != 0
    assert "is not Terraform plan JSON" in result.stdout


# --- real terraform --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_plan(tmp_path_factory):
    if not shutil.which("terraform") or not TF_MIRROR.is_dir():
        pytest.skip("needs terraform on PATH and the provider mirror %s" % TF_MIRROR)
    work = tmp_path_factory.mktemp("tf")
    shutil.copytree(FIXTURES / "tf", work / "root")
    rc = work / "terraform.rc"
    rc.write_text('provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n'
                  '    include = ["registry.terraform.io/*/*"]\n  }\n}\n' % TF_MIRROR)
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
               TF_DATA_DIR=str(work / ".terraform"))
    root = work / "root"
    for cmd in (["terraform", "init", "-input=false", "-no-color"],
                ["terraform", "plan", "-input=false", "-no-color", "-out", str(work / "plan.bin")]):
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    show = subprocess.run(["terraform", "show", "-json", str(work / "plan.bin")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    path = work / "plan.json"
    path.write_text(show.stdout)
    return path


@pytest.mark.terraform
def test_prices_a_plan_made_by_real_terraform(real_plan):
    result = estimate(str(real_plan), usage={"preset": "medium"})
    by_address = dict((r["address"], r) for r in result["resources"])
    db = by_address["aws_db_instance.this"]
    assert [(c["name"], c["monthly_cost"]) for c in db["components"]] == [
        ("Database instance (db.t3.medium, Multi-AZ)", 105.12), ("Storage (gp3, Multi-AZ)", 23),
        ("Backup storage beyond the free allowance", 4.75)]
    assert by_address["aws_nat_gateway.this"]["monthly_cost"] == 37.35     # 32.85 + 100 GB x 0.045
    assert by_address["aws_eip.nat"]["monthly_cost"] == 3.65
    replica = by_address["module.replica_bucket.aws_s3_bucket.replica"]
    assert replica["region"] == "us-west-2" and replica["monthly_cost"] == 11.2
    assert by_address["aws_vpc.this"]["status"] == "free"
    assert result["total_monthly_cost"] == 195.07   # 132.87 + 37.35 + 3.65 + 11.20 + data transfer 10.00
    assert "not-a-real-password" not in json.dumps(result)


@pytest.mark.terraform
def test_report_on_a_real_plan_with_a_delta(ansible_playbook, real_plan, tmp_path):
    out = tmp_path / "report"
    result = report(ansible_playbook, out, plan=real_plan, cost_report_compare_to=str(PROD), cost_report_chart=False)
    assert result.rc == 0, result
    md = (out / "cost-report.md").read_text()
    assert "## Change against `production-plan.json`" in md
    assert not (out / "cost-by-category.png").exists()
    doc = json.loads((out / "cost-report.json").read_text())
    assert doc["projects"][0]["diff"]["totalMonthlyCost"].startswith("-")
