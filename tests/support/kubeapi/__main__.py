"""``python -m kubeapi --port N``: run the Kubernetes API test server (see kubeapi.server)."""
import sys

from kubeapi.server import main

sys.exit(main())
