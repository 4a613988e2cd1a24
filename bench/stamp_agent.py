"""A stdio pass-through in front of an ACP agent that notes when the agent answers `session/prompt`.

`python bench/stamp_agent.py STAMPS -- AGENT ARGV...`: every line the agent writes is passed on unchanged; before
passing on one that carries a `stopReason` (the end of a turn, the agent's last word on it), the wall-clock time
is appended to STAMPS. bench_turn_end.py compares it with when the editor gets `turnEnded`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import BinaryIO


def pump(source: BinaryIO, sink: BinaryIO) -> None:
    while chunk := source.read1(65536):  # type: ignore[attr-defined]
        sink.write(chunk)
        sink.flush()
    sink.close()


def main() -> int:
    stamps, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    agent = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert agent.stdin is not None and agent.stdout is not None
    threading.Thread(target=pump, args=(sys.stdin.buffer, agent.stdin), daemon=True).start()
    out = sys.stdout.buffer
    with open(stamps, "a") as log:
        for line in agent.stdout:
            if b'"stopReason"' in line:
                log.write(f"{time.time()}\n")
                log.flush()
            out.write(line)
            out.flush()
    return agent.wait()


if __name__ == "__main__":
    sys.exit(main())
