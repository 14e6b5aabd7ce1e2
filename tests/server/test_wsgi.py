"""The WSGI module as gunicorn imports it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.portable
ROOT = Path(__file__).resolve().parents[2]


def test_what_django_loaded_is_kept_out_of_garbage_collections():
    code = "import gc; before = gc.get_freeze_count(); import batchhub.wsgi; print(before, gc.get_freeze_count())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ}, capture_output=True, text=True, check=True
    ).stdout
    before, after = map(int, out.split())
    assert before == 0 and after > 10_000  # Django, the apps and their modules
