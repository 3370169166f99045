"""The blue-green release state machine (plugins/module_utils/blue_green.py): the decision table.

Every phase x release status x verified image x action is planned, and the invariants hold for each:
traffic only goes to a verified color or through a candidate's gates, a rollback without a verified
color refuses, a release never deploys over the known-good color, an overdue unverified switch is
rolled back first by every action.
"""
from __future__ import annotations

import itertools

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import blue_green as bg

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cxr-inference@sha256:"
IMG = {k: REPO + k * 64 for k in "abcd"}
NOW = 1_000_000.0


def service(live, phase, previous="", candidate="", deadline=None):
    ann = {"cxr.mlops/phase": phase}
    if previous:
        ann["cxr.mlops/previous-color"] = previous
    if candidate:
        ann["cxr.mlops/candidate-color"] = candidate
    if deadline is not None:
        ann["cxr.mlops/deadline"] = "%.3f" % deadline
        ann["cxr.mlops/switched-at"] = "%.3f" % (deadline - 100)
    return {"metadata": {"name": "cxr-inference", "annotations": ann}, "spec": {"selector": {"color": live}}}


def deployment(color, image, status="deployed", verified="", replicas=1, version=None):
    ann = {"cxr.mlops/release-status": status}
    if verified:
        ann["cxr.mlops/verified-image"] = verified
    return {"metadata": {"name": "cxr-inference-" + color, "labels": {"color": color, "version": version or image[-1]},
                         "annotations": ann},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"readyReplicas": replicas}}


def state(live, phase, deps, **kw):
    return bg.read_state(service(live, phase, **kw), deps)


# --- the three release paths that sent traffic to a bad version (issue 15, 1-3) ----------------------------------

def test_rollback_after_a_blocked_release_keeps_the_good_color():
    # v2 failed its pre-switch gate on green: green is marked failed and scaled to 0, blue still serves.
    st = state("blue", "failed", [deployment("blue", IMG["a"], "deployed", IMG["a"]),
                                  deployment("green", IMG["b"], "failed", replicas=0)], previous="green",
               candidate="green")
    plan = bg.plan_rollback(st, now=NOW)
    assert plan["mode"] == "noop" and plan["target"] == "blue", plan
    assert "never got traffic" in plan["message"]
    # naming the failed color explicitly is refused with what was found
    plan = bg.plan_rollback(st, "green", now=NOW)
    assert plan["mode"] == "refuse" and "never passed its health gates" in plan["message"], plan
    assert "green: b" in plan["message"] and "failed" in plan["message"]


def test_rollback_after_an_interrupted_deploy_scales_the_candidate_down_and_keeps_traffic():
    st = state("blue", "deploying", [deployment("blue", IMG["a"], "idle", IMG["a"]),
                                     deployment("green", IMG["b"], "deployed")], previous="green", candidate="green")
    plan = bg.plan_rollback(st, now=NOW)
    assert plan["mode"] == "abandon" and plan["target"] == "blue" and plan["retire"] == "green", plan


def test_release_while_a_switch_is_unverified_rolls_it_back_first_and_never_deploys_over_the_good_color():
    st = state("green", "post-gate", [deployment("blue", IMG["a"], "deployed", IMG["a"]),
                                      deployment("green", IMG["b"], "deployed")], previous="blue",
               deadline=NOW + 500)
    plan = bg.plan_release(st, IMG["c"], "v3", now=NOW)
    assert plan["repair"] == {"to": "blue", "from": "green", "reason": plan["repair"]["reason"]}
    assert plan["mode"] == "cutover" and plan["candidate"] == "green" and plan["previous"] == "blue", plan
    # the same image resumes its gate instead (before the deadline)
    plan = bg.plan_release(st, IMG["b"], "v2", now=NOW)
    assert plan["mode"] == "resume-gate" and plan["candidate"] == "green" and plan["repair"] is None, plan


def test_an_overdue_unverified_switch_is_rolled_back_by_every_action():
    st = state("green", "post-gate", [deployment("blue", IMG["a"], "deployed", IMG["a"]),
                                      deployment("green", IMG["b"], "deployed")], previous="blue", deadline=NOW - 30)
    repair = bg.plan_repair(st, NOW)
    assert repair["to"] == "blue" and repair["from"] == "green" and "deadline passed 30 s ago" in repair["reason"]
    rel = bg.plan_release(st, IMG["b"], "v2", now=NOW)
    assert rel["repair"]["to"] == "blue" and rel["mode"] == "cutover" and rel["candidate"] == "green", rel
    back = bg.plan_rollback(st, now=NOW)
    assert back["mode"] == "switch" and back["target"] == "blue" and "past its deadline" in back["message"], back
    assert bg.plan_repair(st, NOW - 31) is None


def test_first_release_unverified_has_nothing_to_go_back_to():
    st = state("blue", "post-gate", [deployment("blue", IMG["a"])], deadline=NOW - 1)
    assert bg.plan_repair(st, NOW) is None
    plan = bg.plan_rollback(st, now=NOW)
    assert plan["mode"] == "refuse" and "no known-good color" in plan["message"], plan
    assert "live color blue; phase post-gate" in plan["message"]
    assert bg.plan_release(st, IMG["a"], "v1", now=NOW)["mode"] == "resume-gate"


def test_the_usual_paths():
    assert bg.plan_release(bg.read_state({}, []), IMG["a"], "v1", "green")["candidate"] == "green"
    complete = state("green", "complete", [deployment("blue", IMG["a"], "idle", IMG["a"], replicas=0),
                                           deployment("green", IMG["b"], "deployed", IMG["b"])], previous="blue")
    assert bg.plan_release(complete, IMG["b"], "v2", now=NOW)["mode"] == "noop"
    nxt = bg.plan_release(complete, IMG["c"], "v3", now=NOW)
    assert (nxt["mode"], nxt["candidate"], nxt["previous"]) == ("cutover", "blue", "green")
    back = bg.plan_rollback(complete, now=NOW)
    assert (back["mode"], back["target"], back["retire"]) == ("switch", "blue", "green")
    draining = state("green", "draining", complete and [deployment("blue", IMG["a"], "deployed", IMG["a"]),
                                                         deployment("green", IMG["b"], "deployed", IMG["b"])],
                     previous="blue")
    assert bg.plan_release(draining, IMG["b"], "v2", now=NOW)["mode"] == "resume-window"
    rolled = state("blue", "rolled-back", [deployment("blue", IMG["a"], "deployed", IMG["a"]),
                                           deployment("green", IMG["b"], "rolled-back", IMG["b"], replicas=0)],
                   previous="green")
    assert bg.plan_rollback(rolled, now=NOW)["mode"] == "noop"
    # an explicit, verified target is honoured even after it was rolled back by hand
    assert bg.plan_rollback(rolled, "green", now=NOW)["mode"] == "switch"


def test_objects_written_before_verified_images_existed_are_read_from_the_phase():
    legacy = state("green", "complete", [deployment("blue", IMG["a"], "idle", replicas=0),
                                         deployment("green", IMG["b"], "deployed")], previous="blue")
    assert legacy["legacy"] and legacy["known_good"] == "green"
    # only the live color counts as good in a legacy complete phase: the previous one cannot be proven
    assert bg.plan_rollback(legacy, now=NOW)["mode"] == "refuse"
    legacy_unverified = state("green", "post-gate", [deployment("blue", IMG["a"], "deployed"),
                                                     deployment("green", IMG["b"], "deployed")], previous="blue")
    assert legacy_unverified["known_good"] == "blue"
    assert bg.plan_rollback(legacy_unverified, now=NOW)["target"] == "blue"


def test_deadline_budget_is_the_worst_case_gate_plus_a_margin():
    # 5 rounds 30 s apart, 4 queries of up to 5 s each per round, 60 s margin
    assert bg.post_gate_budget_seconds(5, 30, 4, 5) == 4 * 30 + 5 * 4 * 5 + 60
    with pytest.raises(ValueError):
        bg.post_gate_budget_seconds(0, 30, 4, 5)


# --- the whole table ---------------------------------------------------------------------------------------------

PHASES = list(bg.PHASES) + [""]
STATUSES = ["deployed", "failed", "idle", "rolled-back", "abandoned"]
VERIFIED = ["own", "other", ""]  # verified-image equal to its image, an older image, none


def _cases():
    for live, phase, b_status, g_status, b_ver, g_ver, overdue in itertools.product(
            ["blue", "green"], PHASES, STATUSES, STATUSES, VERIFIED, VERIFIED, [False, True]):
        if not (b_ver or g_ver):
            continue  # legacy objects are covered above
        deps = []
        for color, status, ver, img in (("blue", b_status, b_ver, IMG["a"]), ("green", g_status, g_ver, IMG["b"])):
            deps.append(deployment(color, img, status, {"own": img, "other": IMG["d"], "": ""}[ver],
                                   replicas=0 if status in ("failed", "idle") else 1))
        yield state(live, phase, deps, previous=bg.other(live), candidate=bg.other(live),
                    deadline=(NOW - 1) if overdue else (NOW + 100))


CASES = list(_cases())


def test_the_table_covers_every_combination():
    assert len(CASES) == 2 * len(PHASES) * len(STATUSES) ** 2 * (len(VERIFIED) ** 2 - 1) * 2


@pytest.mark.parametrize("action", ["release-same", "release-new", "rollback", "rollback-to-other", "repair"])
def test_invariants_hold_for_every_state_and_action(action):
    for st in CASES:
        live = st["live"]
        if action.startswith("release"):
            img = st["colors"][live]["image"] if action == "release-same" else IMG["c"]
            plan = bg.plan_release(st, img, "vX", now=NOW)
            assert plan["mode"] in ("noop", "cutover", "resume-gate", "resume-window", "refuse"), plan
            if plan["repair"]:
                assert st["colors"][plan["repair"]["to"]]["verified"], (bg.describe(st), plan)
            after = bg.after_repair(st, plan["repair"])
            if plan["mode"] == "cutover":
                # never deploy over the known-good color
                assert plan["candidate"] != after["known_good"], (bg.describe(st), plan)
                assert plan["candidate"] != after["live"]
            if plan["mode"] in ("noop", "resume-window"):
                assert after["colors"][after["live"]]["image"] == img and after["colors"][after["live"]]["verified"]
            if plan["mode"] == "resume-gate":
                assert after["phase"] == "post-gate" and after["colors"][after["live"]]["image"] == img
            if _overdue_with_good(st):
                assert plan["repair"] and plan["repair"]["to"] == st["known_good"], (bg.describe(st), plan)
        elif action.startswith("rollback"):
            plan = bg.plan_rollback(st, bg.other(live) if action == "rollback-to-other" else "", now=NOW)
            assert plan["mode"] in ("switch", "abandon", "noop", "refuse"), plan
            if plan["mode"] == "switch":
                assert plan["target"] != live and st["colors"][plan["target"]]["verified"], (bg.describe(st), plan)
                assert plan["retire"] == live
            if plan["mode"] == "abandon":
                assert plan["target"] == live and st["colors"][live]["verified"] and plan["retire"] != live
            if plan["mode"] == "refuse":
                assert "Found:" in plan["message"] or "does not exist" in plan["message"], plan
            if action == "rollback" and _overdue_with_good(st):
                assert plan["mode"] == "switch" and plan["target"] == st["known_good"], (bg.describe(st), plan)
        else:
            repair = bg.plan_repair(st, NOW)
            assert (repair is not None) == _overdue_with_good(st)


def _overdue_with_good(st):
    return bool(st["phase"] == "post-gate" and st["deadline"] < NOW and st["known_good"]
            and st["known_good"] != st["live"])
