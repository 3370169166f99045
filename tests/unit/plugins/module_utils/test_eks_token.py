"""EKS token format (what `aws eks get-token` prints) and the kubeconfig entries, with a real botocore signer."""
from __future__ import annotations

import base64
import datetime
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import eks_token as et


@pytest.fixture
def sts():
    # Real botocore presigning with fixed fake credentials: no network call is made.
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                                    region_name="us-east-1")
    return session.client("sts", region_name="us-east-1", endpoint_url="https://sts.us-east-1.amazonaws.com")


def test_token_is_k8s_aws_v1_plus_unpadded_base64url_of_a_presigned_url(sts):
    token = et.build_token(et.presigned_url(sts, "cxr-production"))
    assert token.startswith("k8s-aws-v1.")
    body = token[len("k8s-aws-v1."):]
    assert "=" not in body and "+" not in body and "/" not in body
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.scheme == "https" and parsed.netloc == "sts.us-east-1.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert len(query["X-Amz-Signature"][0]) == 64


def test_the_signature_covers_the_cluster_name(sts):
    sig = {name: parse_qs(urlparse(et.presigned_url(sts, name)).query)["X-Amz-Signature"][0] for name in ("a", "b")}
    assert sig["a"] != sig["b"]
    # and the header handler does not leak into later, unrelated presigned calls
    plain = parse_qs(urlparse(sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)).query)
    assert plain["X-Amz-SignedHeaders"] == ["host"]


def test_token_info_round_trip_and_15_minute_lifetime(sts):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    token = et.build_token(et.presigned_url(sts, "cxr-local"))
    info = et.token_info(token)
    assert info["action"] == "GetCallerIdentity" and info["expires"] == 60
    assert before - datetime.timedelta(seconds=1) <= info["signed_at"] <= before + datetime.timedelta(seconds=5)
    assert info["expiration"] - info["signed_at"] == datetime.timedelta(minutes=15)
    assert 880 <= et.token_remaining(token) <= 900
    assert et.token_remaining(token, now=info["signed_at"] + datetime.timedelta(minutes=20)) == -300


@pytest.mark.parametrize("token, message", [
    ("Bearer abc", "must start with k8s-aws-v1."),
    ("k8s-aws-v1.", "unpadded base64url"),
    ("k8s-aws-v1.aGVsbG8=", "unpadded base64url"),
    (et.build_token("https://sts.amazonaws.com/?Action=ListUsers"), "not a presigned GetCallerIdentity"),
    (et.build_token("https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60"
                    "&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Credential=x"), "does not sign the x-k8s-aws-id"),
])
def test_malformed_tokens_are_refused(token, message):
    with pytest.raises(et.EksTokenError, match=message):
        et.token_info(token)


def test_exec_entries_are_what_aws_eks_update_kubeconfig_writes():
    entries = et.kubeconfig_entries("cxr-prod", "https://ABC.gr7.us-east-1.eks.amazonaws.com", ca_data="Y2E=",
                                    auth="exec", region="us-east-1", role_arn="arn:aws:iam::1:role/deployer",
                                    profile="prod")
    (user,) = entries["users"]
    assert user["user"]["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
        "args": ["--region", "us-east-1", "eks", "get-token", "--cluster-name", "cxr-prod", "--output", "json",
                 "--role-arn", "arn:aws:iam::1:role/deployer"],
        "interactiveMode": "Never", "provideClusterInfo": False, "env": [{"name": "AWS_PROFILE", "value": "prod"}]}
    assert entries["clusters"][0]["cluster"] == {"server": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
                                                 "certificate-authority-data": "Y2E="}
    assert entries["contexts"][0]["context"] == {"cluster": "cxr-prod", "user": "cxr-prod"}
    assert entries["current_context"] == "cxr-prod"
    assert {e["behavior"] for k in ("clusters", "users", "contexts") for e in entries[k]} == {"replace"}


def test_token_entries_and_ca_modes():
    entries = et.kubeconfig_entries("c", "http://127.0.0.1:20501", ca_mode="none", auth="token", token="k8s-aws-v1.x")
    assert entries["users"][0]["user"] == {"token": "k8s-aws-v1.x"}
    assert entries["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:20501"}
    insecure = et.kubeconfig_entries("c", "https://h", ca_mode="insecure", auth="token", token="t")
    assert insecure["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True


@pytest.mark.parametrize("kwargs, message", [
    ({"server": "ftp://x"}, "not an http\\(s\\) URL"),
    ({"ca_mode": "cluster", "ca_data": ""}, "no certificate authority data"),
    ({"ca_mode": "cluster", "ca_data": "not base64!"}, "not base64"),
    ({"auth": "token", "token": ""}, "token auth needs a token"),
    ({"auth": "exec", "region": ""}, "exec auth needs the cluster's region"),
])
def test_bad_kubeconfig_input(kwargs, message):
    args = {"name": "c", "server": "https://h", "ca_mode": "insecure", "auth": "exec", "region": "us-east-1", **kwargs}
    with pytest.raises(et.EksTokenError, match=message):
        et.kubeconfig_entries(**args)


def test_a_token_is_reused_only_for_the_same_server_while_valid_long_enough(sts):
    token = et.build_token(et.presigned_url(sts, "c"))
    kubeconfig = {"clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                  "users": [{"name": "c", "user": {"token": token}}]}
    signed_at = et.token_info(token)["signed_at"]
    assert et.reusable_token(kubeconfig, "c", "http://127.0.0.1:1", 600, now=signed_at) == token
    assert et.reusable_token(kubeconfig, "c", "http://127.0.0.1:2", 600, now=signed_at) is None
    assert et.reusable_token(kubeconfig, "c", "http://127.0.0.1:1", 600,
                             now=signed_at + datetime.timedelta(minutes=6)) is None
    kubeconfig["users"][0]["user"]["token"] = "garbage"
    assert et.reusable_token(kubeconfig, "c", "http://127.0.0.1:1", 0, now=signed_at) is None
    assert et.reusable_token(None, "c", "http://127.0.0.1:1", 0) is None
