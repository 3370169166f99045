# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS bearer tokens and the kubeconfig entries of the eks_access role.

An EKS token is what ``aws eks get-token`` prints: ``k8s-aws-v1.`` followed by the unpadded
base64url encoding of a presigned STS ``GetCallerIdentity`` URL whose signature covers the
``x-k8s-aws-id`` header (the cluster name). The URL is presigned for 60 s
(``X-Amz-Expires=60``); EKS accepts the token for 15 minutes after its ``X-Amz-Date``.

* :func:`presigned_url` (needs a boto3 STS client) and :func:`build_token` make a token.
* :func:`decode_token` / :func:`token_info` / :func:`token_remaining` read one back, so a token
  still valid long enough can be reused instead of rewriting the kubeconfig on every run.
* :func:`kubeconfig_entries` builds the cluster/user/context entries (token or exec user).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime

try:
    from urllib.parse import parse_qs, urlparse
except ImportError:  # pragma: no cover - Python 2
    from urlparse import parse_qs, urlparse

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_SECONDS = 60
TOKEN_LIFETIME_SECONDS = 15 * 60  # EKS accepts a token this long after X-Amz-Date
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


class EksTokenError(ValueError):
    """A token or kubeconfig input cannot be used; the message says why."""


def presigned_url(sts_client, cluster_name, expires=PRESIGN_SECONDS):
    """Presign STS GetCallerIdentity with the ``x-k8s-aws-id: <cluster_name>`` header signed in."""
    if not cluster_name:
        raise EksTokenError("cluster name is empty")

    def add_cluster_header(request, **kwargs):
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    events = sts_client.meta.events
    unique_id = "cxr-mlops-eks-token-%s" % id(add_cluster_header)
    events.register("before-sign.sts.GetCallerIdentity", add_cluster_header, unique_id=unique_id)
    try:
        return sts_client.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=int(expires),
                                                 HttpMethod="GET")
    finally:
        events.unregister("before-sign.sts.GetCallerIdentity", unique_id=unique_id)


def build_token(url):
    """``k8s-aws-v1.`` + unpadded base64url of the presigned URL."""
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return TOKEN_PREFIX + encoded


def decode_token(token):
    """The presigned URL inside a token."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise EksTokenError("not an EKS token (it must start with %s)" % TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX):]
    if not body or "=" in body:
        raise EksTokenError("EKS token body must be unpadded base64url")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise EksTokenError("EKS token body is not base64url: %s" % exc)


def _parse_amz_date(text):
    try:
        return datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise EksTokenError("X-Amz-Date %r is not a SigV4 timestamp" % (text,))


def token_info(token):
    """What a token says: URL, host, action, presign expiry, signed headers, signing time and EKS expiry."""
    url = decode_token(token)
    parsed = urlparse(url)
    query = dict((k, v[0]) for k, v in parse_qs(parsed.query).items())
    if query.get("Action") != "GetCallerIdentity":
        raise EksTokenError("EKS token is not a presigned GetCallerIdentity URL")
    for key in ("X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Credential"):
        if key not in query:
            raise EksTokenError("EKS token URL has no %s" % key)
    signed = query["X-Amz-SignedHeaders"].split(";")
    if CLUSTER_ID_HEADER not in signed:
        raise EksTokenError("EKS token URL does not sign the %s header" % CLUSTER_ID_HEADER)
    signed_at = _parse_amz_date(query["X-Amz-Date"])
    return {
        "url": url,
        "host": parsed.netloc,
        "action": query["Action"],
        "expires": int(query["X-Amz-Expires"]),
        "signed_headers": signed,
        "signed_at": signed_at,
        "expiration": signed_at + datetime.timedelta(seconds=TOKEN_LIFETIME_SECONDS),
    }


def token_remaining(token, now=None):
    """Seconds until EKS stops accepting ``token`` (negative once expired)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (token_info(token)["expiration"] - now).total_seconds()


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_user(cluster_name, region, role_arn="", profile="", command="aws"):
    """The exec credential plugin entry: kubectl runs ``aws eks get-token`` whenever it needs a token."""
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"]
    if role_arn:
        args += ["--role-arn", role_arn]
    entry = {"apiVersion": EXEC_API_VERSION, "command": command, "args": args, "interactiveMode": "Never",
             "provideClusterInfo": False}
    if profile:
        entry["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return {"exec": entry}


def kubeconfig_entries(name, server, ca_mode="cluster", ca_data="", auth="exec", token="", region="",
                       role_arn="", profile="", exec_command="aws", namespace=""):
    """clusters/users/contexts entries (kubernetes.core.kubeconfig format) for one EKS cluster.

    ``ca_mode``: ``cluster`` embeds ``ca_data``; ``insecure`` skips TLS verification (test servers only);
    ``none`` sets no CA (plain HTTP test servers, or a server certificate the system trusts).
    """
    if not name:
        raise EksTokenError("kubeconfig entry name is empty")
    if not server or not server.startswith(("https://", "http://")):
        raise EksTokenError("cluster endpoint %r is not an http(s) URL" % (server,))
    cluster = {"server": server}
    if ca_mode == "cluster":
        if not ca_data:
            raise EksTokenError("the cluster has no certificate authority data (use ca_mode insecure or none for test servers)")
        try:
            base64.b64decode(ca_data, validate=True)
        except (ValueError, TypeError):
            raise EksTokenError("certificate authority data is not base64")
        cluster["certificate-authority-data"] = ca_data
    elif ca_mode == "insecure":
        cluster["insecure-skip-tls-verify"] = True
    elif ca_mode != "none":
        raise EksTokenError("ca_mode must be cluster, insecure or none, got %r" % (ca_mode,))
    if auth == "token":
        if not token:
            raise EksTokenError("token auth needs a token")
        user = {"token": token}
    elif auth == "exec":
        if not region:
            raise EksTokenError("exec auth needs the cluster's region")
        user = exec_user(name, region, role_arn, profile, exec_command)
    else:
        raise EksTokenError("auth must be exec or token, got %r" % (auth,))
    context = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "clusters": [{"name": name, "behavior": "replace", "cluster": cluster}],
        "users": [{"name": name, "behavior": "replace", "user": user}],
        "contexts": [{"name": name, "behavior": "replace", "context": context}],
        "current_context": name,
    }


def reusable_token(kubeconfig, user_name, server, min_remaining, now=None):
    """The token of ``user_name`` in a loaded kubeconfig when it is for ``server`` and still valid for
    at least ``min_remaining`` seconds; else None."""
    if not isinstance(kubeconfig, dict):
        return None
    clusters = dict((c.get("name"), c.get("cluster") or {}) for c in kubeconfig.get("clusters") or [] if isinstance(c, dict))
    users = dict((u.get("name"), u.get("user") or {}) for u in kubeconfig.get("users") or [] if isinstance(u, dict))
    if (clusters.get(user_name) or {}).get("server") != server:
        return None
    token = (users.get(user_name) or {}).get("token")
    if not token:
        return None
    try:
        remaining = token_remaining(token, now)
    except EksTokenError:
        return None
    return token if remaining >= min_remaining else None
