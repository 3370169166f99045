#!/usr/bin/env python3
"""Launcher of the Kubernetes API test server (a test double, not Kubernetes).

    python tests/support/kubeapi_server.py --host 127.0.0.1 --port N [--state-file PATH]

Serves plain HTTP on 127.0.0.1 for kubectl, the Python client, kubernetes.core and Helm where no
real cluster can run; it runs no containers and enforces no RBAC (see tests/support/kubeapi/server.py
and docs/kubeapi-test-server.md for what it does and does not emulate). The implementation lives in
the kubeapi package so that starting it loads cached bytecode. In process:

    from kubeapi_server import serve
    srv = serve("127.0.0.1", 0)    # srv.url, srv.write_kubeconfig(path), srv.stop()
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Start-up time matters (the sandbox waits for /readyz): cache the bytecode of the kubeapi package
# even where PYTHONDONTWRITEBYTECODE is set (__pycache__/ is git-ignored).
sys.dont_write_bytecode = False

from kubeapi.server import *
from kubeapi.server import main

if __name__ == "__main__":
    sys.exit(main())
