"""The signature checks in documentation/guides/receive-events.md, run as written (Python, and
JavaScript on Node.js), against what the platform sends."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from app.integrations.delivery import signature
from tests.helpers import ROOT

GUIDE = (ROOT / "documentation" / "guides" / "receive-events.md").read_text()
BODY = b'{"id":"54929e77","type":"message.sent","data":{"message":{"text":"Hola! \xc2\xbfen qu\xc3\xa9?"}}}'
SECRET = "whsec_test_secret"


def _block(lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", GUIDE, re.S)
    [code] = [b for b in blocks if "verify" in b]
    return code


def _cases() -> list[tuple[str, bytes, bool]]:
    now = int(time.time())
    good = signature(SECRET, now, BODY)
    return [
        (good, BODY, True),
        (good, BODY.replace(b"sent", b"failed"), False),  # forged body
        (signature("whsec_other", now, BODY), BODY, False),  # someone else's secret
        (signature(SECRET, now - 3600, BODY), BODY, False),  # replayed an hour later
    ]


def test_the_python_sample_verifies_what_the_platform_signs() -> None:
    scope: dict[str, Any] = {}
    exec(compile(_block("python"), "receive-events.md", "exec"), scope)  # noqa: S102
    for header, body, expected in _cases():
        assert scope["verify"](SECRET, header, body) is expected


def test_the_javascript_sample_verifies_what_the_platform_signs(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    checks = "\n".join(
        f"results.push(verify({SECRET!r}, {header!r}, Buffer.from({body.hex()!r}, 'hex')));"
        for header, body, _ in _cases())
    script = tmp_path / "verify.mjs"
    script.write_text(_block("js") + "\nconst results = [];\n" + checks
                      + "\nconsole.log(JSON.stringify(results));\n")
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.strip() == "[true,false,false,false]"
