"""The dated price catalog: coverage, provenance, embedded copy, look-ups, the refresh script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils.price_catalog import CATALOG
from ansible_collections.cxr.mlops.plugins.module_utils.pricing import PriceCatalog, PricingError

ROOT = Path(__file__).resolve().parents[4]
CATALOG_JSON = ROOT / "data" / "pricing" / "aws-catalog.json"
REFRESH = ROOT / "scripts" / "refresh_price_catalog.py"

INVENTORY_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
EC2_TYPES = ["t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge", "g4dn.xlarge"] + [
    "%s.%s" % (family, size) for family in ("m5", "m6i", "c5", "r5") for size in ("large", "xlarge", "2xlarge")]
RDS_CLASSES = ["db.%s.%s" % (family, size) for family in ("t3", "t4g") for size in ("micro", "small", "medium", "large")] + [
    "db.%s.%s" % (family, size) for family in ("m5", "m6g", "r6g") for size in ("large", "xlarge", "2xlarge")]
CACHE_NODES = ["cache.%s.%s" % (f, s) for f in ("t3", "t4g") for s in ("micro", "small", "medium")] + [
    "cache.%s.%s" % (f, s) for f in ("m6g", "r6g") for s in ("large", "xlarge", "2xlarge")]


@pytest.fixture(scope="module")
def catalog():
    return PriceCatalog.default()


def test_embedded_catalog_is_the_json_catalog():
    assert json.loads(CATALOG_JSON.read_text()) == CATALOG


def test_embedded_module_is_generated_from_the_json(tmp_path):
    out = tmp_path / "price_catalog.py"
    proc = subprocess.run([sys.executable, str(REFRESH), "--embed-only", "--embedded", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    committed = ROOT / "plugins" / "module_utils" / "price_catalog.py"
    assert out.read_text() == committed.read_text(), "run scripts/refresh_price_catalog.py --embed-only"


def test_catalog_is_dated_and_every_service_has_a_source(catalog):
    assert catalog.catalog_date == CATALOG["catalog_date"]
    assert catalog.hours_per_month == 730
    for name, meta in CATALOG["services"].items():
        assert meta["source"].startswith("https://aws.amazon.com/"), name
        assert meta["valid_as_of"] == catalog.catalog_date, name
        assert isinstance(meta["unsure"], list), name
    for region in INVENTORY_REGIONS:
        assert set(CATALOG["regions"][region]) <= set(CATALOG["services"]), region


@pytest.mark.parametrize("region", INVENTORY_REGIONS)
def test_catalog_covers_what_the_platform_uses(catalog, region):
    for itype in EC2_TYPES:
        assert catalog.lookup(region, "ec2", "instance_hour", itype) > 0, itype
    for cls in RDS_CLASSES:
        single = catalog.lookup_pair(region, "rds", 0, "instance_hour", "postgres", cls)
        multi = catalog.lookup_pair(region, "rds", 1, "instance_hour", "postgres", cls)
        assert single > 0 and multi == 2 * single, cls
    for node in CACHE_NODES:
        assert catalog.lookup(region, "elasticache", "node_hour", node) > 0, node
    for tier in ("standard", "standard_ia", "intelligent_tiering", "glacier_ir", "deep_archive"):
        assert catalog.lookup(region, "s3", "storage_gb_month", tier) > 0, tier
    for service, key in (("eks", "cluster_hour"), ("ebs", "gp3_iops_month"), ("vpc", "nat_gateway_hour"),
                         ("vpc", "nat_gateway_gb"), ("elb", "alb_hour"), ("elb", "alb_lcu_hour"), ("kms", "key_month"),
                         ("cloudwatch", "logs_ingest_gb"), ("cloudwatch", "alarm_month"), ("ecr", "storage_gb_month"),
                         ("waf", "web_acl_month"), ("secretsmanager", "secret_month"),
                         ("dynamodb", "write_request_million"), ("vpc", "flow_logs_cloudwatch_gb"),
                         ("rds", "backup_gb_month")):
        assert catalog.lookup(region, service, key) > 0, (service, key)
    for storage in ("gp2", "gp3"):
        assert catalog.lookup_pair(region, "rds", 0, "storage_gb_month", storage) > 0


def test_known_list_prices_in_us_east_1(catalog):
    # Spot checks against AWS's public pages (us-east-1): these are the figures the seed estimate rests on.
    assert catalog.lookup("us-east-1", "eks", "cluster_hour") == Decimal("0.10")
    assert catalog.lookup("us-east-1", "ec2", "instance_hour", "m5.large") == Decimal("0.096")
    assert catalog.lookup("us-east-1", "vpc", "nat_gateway_hour") == Decimal("0.045")
    assert catalog.lookup("us-east-1", "s3", "storage_gb_month", "standard") == Decimal("0.023")


def test_unknown_region_is_a_clear_error(catalog):
    with pytest.raises(PricingError, match=r"unknown region 'mars-north-1'.*us-east-1"):
        catalog.lookup("mars-north-1", "ec2", "instance_hour", "m5.large")


def test_missing_price_is_none_not_zero(catalog):
    assert catalog.lookup("us-east-1", "ec2", "instance_hour", "p9.mega") is None
    assert catalog.lookup("us-east-1", "nosuchservice", "x") is None


def test_catalog_validation(tmp_path):
    with pytest.raises(PricingError, match="lacks key"):
        PriceCatalog({"currency": "USD"})
    bad = tmp_path / "c.json"
    bad.write_text("{nope")
    with pytest.raises(PricingError, match="not JSON"):
        PriceCatalog.from_file(str(bad))
    data = json.loads(CATALOG_JSON.read_text())
    data["spot_discount"] = 1.5
    with pytest.raises(PricingError, match="spot_discount"):
        PriceCatalog(data)


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_refresh_fails_clearly_when_the_price_list_api_is_unreachable(tmp_path):
    catalog = tmp_path / "aws-catalog.json"
    catalog.write_text(CATALOG_JSON.read_text())
    embedded = tmp_path / "price_catalog.py"
    env = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:%d" % _closed_port(), AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test")
    proc = subprocess.run([sys.executable, str(REFRESH), "--catalog", str(catalog), "--embedded", str(embedded),
                           "--timeout", "2"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2
    assert "AWS Price List API could not be used" in proc.stderr
    assert "unchanged" in proc.stderr
    assert catalog.read_text() == CATALOG_JSON.read_text()
    assert not embedded.exists()
