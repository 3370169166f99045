"""The AWX objects as code load with the awx.awx modules' own argument validation.

There is no AWX server here: the playbook runs against a closed port, so every task must get past
argument validation and fail only when it tries to connect. A typo in a parameter, a wrong choice or
a missing required option fails validation instead, and this test names it.
"""
import json
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / ".tools" / "collections" / "ansible_collections" / "awx" / "awx"
VALIDATION_ERRORS = ("Unsupported parameters", "missing required", "must be one of", "mutually exclusive",
                     "is not a valid", "parameters are required together", "unable to convert")

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_awx_object_passes_module_validation(ansible_playbook):
    assert AWX.exists(), "awx.awx is missing: scripts/bootstrap.sh extracts it into .tools/collections"
    result = ansible_playbook(
        "playbooks/awx_configure.yml",
        extra_vars={"awx_controller_host": f"http://127.0.0.1:{closed_port()}", "awx_controller_oauthtoken": "t0ken",
                    "awx_continue_on_error": True, "awx_validate_certs": False},
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    report = json.loads(result.stdout[result.stdout.index("{"):])
    messages = {}
    for task in report["plays"][0]["tasks"]:
        res = task["hosts"]["localhost"]
        items = res.get("results") or [res]
        messages[task["task"]["name"]] = [str(item.get("msg", "")) for item in items]
    definitions = __import__("yaml").safe_load((ROOT / "playbooks" / "vars" / "awx.yml").read_text())
    assert len(messages["Job templates"]) == len(definitions["awx_job_templates"])
    assert len(messages["Workflow nodes (plan -> approval -> apply -> platform -> release)"]) == len(
        definitions["awx_workflow"]["nodes"])
    # a failed release is followed by the rollback job (it repairs an unverified switch)
    nodes = {n["identifier"]: n for n in definitions["awx_workflow"]["nodes"]}
    assert nodes[nodes["release"]["failure_nodes"][0]]["unified_job_template"] == "cxr-rollback"
    bad = {name: m for name, msgs in messages.items() for m in msgs if any(e in m for e in VALIDATION_ERRORS)}
    assert not bad, f"AWX definitions rejected by module validation: {bad}"
    # ... and every task really got as far as trying to reach the controller.
    unreached = {name: m for name, msgs in messages.items() for m in msgs
                 if not any(word in m.lower() for word in ("connect", "refused", "unable to", "failed to"))}
    assert not unreached, unreached
