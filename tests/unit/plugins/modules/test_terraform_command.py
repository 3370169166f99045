"""cxr.mlops.terraform_command: secret Terraform variables travel as TF_VAR_* of Terraform's process only."""
import json
import sys

from ansible_collections.cxr.mlops.plugins.module_utils.terraform_process import run
from ansible_collections.cxr.mlops.plugins.modules.terraform_command import tf_var_env


def test_strings_go_raw_and_other_values_as_json():
    env = tf_var_env({"redis_auth_token": "s3cret-token-0123456789", "sizes": [1, 2], "on": True}, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "TF_VAR_redis_auth_token": "s3cret-token-0123456789",
                   "TF_VAR_sizes": "[1, 2]", "TF_VAR_on": "true"}


def test_the_child_process_sees_the_variable():
    env = tf_var_env({"db_password": "pw-xyz"}, {"PATH": "/usr/bin:/bin"})
    res = run([sys.executable, "-c", "import json, os; print(json.dumps(os.environ.get('TF_VAR_db_password')))"],
              timeout=30, env=env)
    assert res["rc"] == 0 and json.loads(res["stdout"]) == "pw-xyz"
