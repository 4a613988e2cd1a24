"""`agent-bridge daemon status` and `daemon stop`: control requests over the daemon's socket."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from bridge.daemon.attach import request, wait_released
from bridge.daemon.lock import is_locked, recorded_pid

STOP_TIMEOUT = 60.0  # the daemon stops its agents first; a turn's process tree can take a while to go


def status(state_dir: Path, *, as_json: bool = False, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    try:
        info = json.loads(request(state_dir, "STATUS"))
    except (OSError, ValueError):
        if is_locked(state_dir):
            print(f"the daemon (pid {recorded_pid(state_dir)}) for {state_dir} is not answering (stopping?)",
                  file=sys.stderr)
        else:
            print(f"no daemon running for {state_dir}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(info), file=out)
        return 0
    print(f"daemon   pid {info.get('pid')}, version {info.get('version')}", file=out)
    for key in ("socket", "clients", "sessions"):
        print(f"{key:<8} {info.get(key)}", file=out)
    return 0


def stop(state_dir: Path, *, out: IO[str] | None = None) -> int:
    """Ask the daemon to stop and wait until it has released the state dir. 0 also when none was running."""
    out = out or sys.stdout
    pid = recorded_pid(state_dir)
    try:
        reply = request(state_dir, "STOP")
    except OSError:
        reply = None
    if reply is None and not is_locked(state_dir):
        print(f"no daemon running for {state_dir}", file=out)
        return 0
    if reply not in (None, "OK"):
        print(f"agent-bridge: unexpected answer from the daemon: {reply!r}", file=sys.stderr)
        return 1
    # Asked, or already stopping (its socket is gone but it still holds the lock): wait for it to finish.
    if not wait_released(state_dir, STOP_TIMEOUT):
        print(f"agent-bridge: the daemon (pid {pid}) still holds {state_dir} after {STOP_TIMEOUT:g} s",
              file=sys.stderr)
        return 1
    print(f"stopped the daemon (pid {pid})", file=out)
    return 0
