from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.lsp_harness import Editor, make_repo, start_editor

SAMPLE = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"greet.py": SAMPLE, "README.md": "# project\n"})


@pytest.fixture
async def editor(repo: Path, tmp_path: Path) -> AsyncIterator[Editor]:
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log")
    try:
        yield ed
    finally:
        await ed.client.shutdown_session()
