"""Scripts that CI does not run still parse."""

import shutil
import subprocess

import pytest
from conftest import REPO


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_device_check_script_parses():
    # Run only on a machine lent a GPU; `bash -n` checks its syntax here.
    script = REPO / "scripts" / "device_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "--fetch-wheels" in text and "--device" in text
