from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.daemons import end_daemons_under
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


@pytest.fixture(autouse=True)
def no_daemon_outlives_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """`agent-bridge serve` leaves a daemon behind while a turn still runs after the last window left; a test's
    daemons (their state dirs are in its tmp_path) end with the test."""
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is not None:
        end_daemons_under(root)
