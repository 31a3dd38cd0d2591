"""The optional extras stay optional: ``import gradtrack`` imports none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ["torch", "transformers", "tinker", "tensorboard", "mlflow"]

PROBE = """
import json, sys
import gradtrack
import gradtrack.custom_loss, gradtrack.loggers, gradtrack.integrations, gradtrack.pipeline
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps(loaded))
"""


def search_path() -> str:
    return os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])


def test_import_gradtrack_imports_no_optional_package() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(EXTRAS)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_probe_would_see_an_extra_that_is_imported() -> None:
    # The check above could not fail if the probe were blind: importing a real
    # module of the standard library under a watched name shows up.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    probe = PROBE.replace("import gradtrack\n", "import gradtrack\nimport wave\n")
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(["wave"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(done.stdout) == ["wave"]
