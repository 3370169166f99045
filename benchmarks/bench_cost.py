#!/usr/bin/env python3
"""Benchmark: price 1,000- and 10,000-resource plans with cxr.mlops.cost_estimate's logic (offline).

    .venv/bin/python benchmarks/bench_cost.py [--resources 1000 10000] [--runs 5]

Builds a plan by repeating the seed-sized plan's resources (every priced type, free types,
an unpriced type, two regions) under numbered modules, then prints the median and best wall time
of estimate(), recommendations and the Infracost conversion included. Issue 20's goal for 10,000 resources: under 0.5 s on the
project's 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate, to_infracost  # noqa: E402
from ansible_collections.cxr.mlops.plugins.module_utils.pricing import PriceCatalog  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "cost", "seed-plan.json")


def big_plan(n):
    base = json.load(open(FIXTURE))
    changes = base["resource_changes"]
    out = []
    copy_no = 0
    while len(out) < n:
        for rc in changes:
            if len(out) >= n:
                break
            item = copy.deepcopy(rc)
            item["address"] = "module.copy%d.%s" % (copy_no, rc["address"])
            out.append(item)
        copy_no += 1
    plan = copy.deepcopy(base)
    plan["resource_changes"] = out
    return plan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for size in args.resources:
        run(size, args.runs)
    return 0


GOAL_10K = 0.5


def run(size, runs):
    plan = big_plan(size)
    catalog = PriceCatalog.default()
    utilization = {"on_demand": {"cpu": 0.3, "memory": 0.3}}
    times = []
    cpu = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = estimate(plan, usage={"preset": "medium"}, catalog=catalog, utilization=utilization)
        to_infracost(result)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    start = time.perf_counter()
    PriceCatalog.default()
    load = time.perf_counter() - start
    print("cost_estimate benchmark: %d resources (%d priced, %d free, %d unpriced), %d runs"
          % (result["summary"]["resources"], result["summary"]["priced"], result["summary"]["free"],
             result["summary"]["unpriced"], runs))
    print("  total monthly cost      : $%s" % format(result["total_monthly_cost"], ",.2f"))
    print("  estimate median         : %.3f s" % statistics.median(times))
    print("  estimate best           : %.3f s" % min(times))
    print("  estimate CPU (median)   : %.3f s (wall time above includes waiting for a busy CPU)" % statistics.median(cpu))
    print("  host load average (1 m) : %.2f" % os.getloadavg()[0])
    print("  per resource (median)   : %.1f us" % (statistics.median(times) / result["summary"]["resources"] * 1e6))
    print("  catalog load (embedded) : %.4f s" % load)
    print("  recommendations         : %d" % len(result["recommendations"]))
    if size >= 10000:
        print("  goal (10,000 under %.1f s): %s" % (GOAL_10K, "met" if statistics.median(cpu) * 10000 / size < GOAL_10K
                                                  else "NOT met"))


if __name__ == "__main__":
    sys.exit(main())
