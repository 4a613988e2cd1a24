"""Which paths under a directory changed since the last look, without looking at the others (Linux inotify).

Every turn used to ask git to stat every file of the user's checkout (the catch-up snapshot) and of the session's
worktree (staging what the agent left): work proportional to the repository, 60 ms of `git add -A` at 20k files.
A watch makes it proportional to what changed. The kernel queues an inotify event before the write that caused it
returns, so reading the queue without waiting (`DirWatch.take`) sees every change made before the call: no
debounce, no barrier, no thread (a watcher library's background thread and delay would leave a change that just
happened unseen).

Whenever a watch cannot vouch for the answer, `take` says so (None: "anything may have changed") and the caller
does the full work, as without a watch: the first look, a queue overflow, a watched directory moved, a `.gitignore`
changed, a repository inside the tree (its HEAD moves in its own, unwatched `.git`), more directories than
`max_dirs` (a hostile agent creating directories by the thousand must not use up
the user's inotify watches, which their editor's own file watcher needs too), no inotify on this system.
Directories named `.git` and those `skip` lists (ignored by git) are not watched: nothing in them reaches a tree.

All watches share one inotify instance (a user has 128 of them, and 100 sessions must not take them all).
Thread-safe: one lock guards the instance and every watch's state.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import inotify_simple
except (ImportError, OSError, AttributeError):  # not Linux: every look says "anything may have changed"
    inotify_simple = None

Everything = None  # what `take` returns when it cannot say which paths changed
# Met while walking: a repository inside the tree (submodule, embedded repository). Git records its HEAD, which
# moves with commits made in its own `.git`, unwatched: the watch gives up rather than vouch for a stale answer.
_NESTED = "\0nested"
MAX_DIRS = 8192  # per watch
MAX_WATCHED = 65536  # all watches together, well under the kernel's default per-user limit

if inotify_simple is not None:
    _F = inotify_simple.flags
    _MASK = (
        _F.CREATE | _F.DELETE | _F.MODIFY | _F.ATTRIB | _F.MOVED_FROM | _F.MOVED_TO | _F.CLOSE_WRITE
        | _F.DELETE_SELF | _F.MOVE_SELF | _F.ONLYDIR | _F.DONT_FOLLOW | _F.EXCL_UNLINK
    )
    _NEW_DIR = _F.CREATE | _F.MOVED_TO

_lock = threading.RLock()
_inotify: inotify_simple.INotify | None = None
_owners: dict[int, dict[DirWatch, str]] = {}  # watch descriptor -> the watches of that directory, its path in each


# Where the kernel sees every change: a network or host-shared file system (NFS, 9p, virtiofs, FUSE) changed from
# elsewhere sends no event, so a watch there would vouch for a stale answer.
_LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs",
                       "jfs", "reiserfs", "nilfs2"})


def local_file_system(path: Path) -> bool:
    """Whether `path` lies on a file system whose changes all pass through this kernel."""
    try:
        target = os.path.realpath(path)
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            best, kind = "", ""
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return False
    return kind in _LOCAL_FS


def _instance() -> inotify_simple.INotify | None:
    global _inotify
    if _inotify is None and inotify_simple is not None:
        try:
            _inotify = inotify_simple.INotify(nonblocking=True)
        except OSError:
            return None  # no instance left for this user: watches give up, work goes on as without them
    return _inotify


def _dispatch() -> None:
    """Hand every queued event to the watches of its directory (hold the lock)."""
    if _inotify is None:
        return
    try:
        events = _inotify.read(timeout=0)
    except OSError:
        events = []
        _lose_all()
    for event in events:
        if event.mask & _F.Q_OVERFLOW:
            _lose_all()
            continue
        owners = _owners.get(event.wd)
        if not owners:
            continue  # a directory removed a moment ago: its removal was reported by its parent
        if event.mask & _F.IGNORED:
            for watch in list(owners):
                watch._wds.discard(event.wd)
            del _owners[event.wd]
            continue
        for watch, parent in list(owners.items()):
            watch._event(parent, event.name, event.mask)


def _lose_all() -> None:
    """Events were lost (the queue overflowed or could not be read): no watch can vouch for anything."""
    for watch in {w for owners in _owners.values() for w in owners}:
        watch._lost = True


class DirWatch:
    """The paths changed under `root` since the previous `take` (relative, '/'-separated)."""

    def __init__(self, root: Path, skip: Callable[[], set[str]] | None = None, max_dirs: int = MAX_DIRS) -> None:
        self.root = Path(root)
        self._skip_source = skip
        self._skip: set[str] = set()
        self._max_dirs = max_dirs
        self._wds: set[int] = set()
        self._changed: set[str] = set()
        self._new_dirs: list[str] = []
        self._lost = True  # the next `take` rebuilds the watches and answers Everything
        self.gave_up = inotify_simple is None

    def take(self) -> frozenset[str] | None:
        """What changed since the last call (files and directories, relative to the root), or Everything."""
        with _lock:
            if self.gave_up:
                return Everything
            _dispatch()
            while self._new_dirs and not self._lost:
                # Its files made before this watch are in the caller's look (it comes after `take`), those made
                # after are events: a new directory is watched before anything relies on it.
                self._watch_tree(self._new_dirs.pop())
                _dispatch()
            if self.gave_up:
                return Everything
            if not self._lost:
                changed, self._changed = frozenset(self._changed), set()
                return changed
        skip = self._skipped()  # a git process, maybe: not under the lock every watch shares
        with _lock:
            # Watches first, the caller's full look second: a change in between shows up in both, none in neither.
            self._rebuild(skip)
        return Everything

    def forget(self) -> None:
        """The caller could not act on what `take` said: the next `take` answers Everything."""
        with _lock:
            self._lost = True

    def close(self) -> None:
        with _lock:
            self._unwatch()
            self._lost = True

    def _event(self, parent: str, name: str, mask: int) -> None:
        if self._lost:
            return
        if not name:
            if mask & _F.MOVE_SELF:
                self._lost = True  # a watched directory moved: the paths known below it are stale
            return  # the directory itself deleted: its parent reported it
        if name == ".gitignore" or (name == ".git" and parent):
            # What git ignores changed: the skipped directories must be listed again. Or a repository appeared
            # inside (a submodule, `git init`): see `_NESTED`.
            self._lost = True
            return
        rel = f"{parent}/{name}" if parent else name
        self._changed.add(rel)
        if mask & _F.ISDIR and mask & _NEW_DIR and rel not in self._skip:
            self._new_dirs.append(rel)

    def _unwatch(self) -> None:
        for wd in self._wds:
            owners = _owners.get(wd)
            if owners is None:
                continue
            owners.pop(self, None)
            if not owners:
                del _owners[wd]
                if _inotify is not None:
                    try:
                        _inotify.rm_watch(wd)
                    except OSError:
                        pass  # gone with its directory
        self._wds.clear()
        self._changed.clear()
        self._new_dirs.clear()

    def _skipped(self) -> set[str]:
        try:
            return set(self._skip_source()) if self._skip_source else set()
        except Exception:  # whatever listing ignored directories raised, watching them is safe
            return set()

    def _rebuild(self, skip: set[str]) -> None:
        self._unwatch()
        if _instance() is None or not local_file_system(self.root):
            self.gave_up = True
            return
        self._skip = skip
        self._lost = False
        self._watch_tree("")

    def _watch_tree(self, top: str) -> None:
        """Watch `top` and every directory below it; past `max_dirs` the watch gives up for good."""
        assert _inotify is not None
        for rel in self._walk(top):
            if rel is _NESTED or len(self._wds) >= self._max_dirs or len(_owners) >= MAX_WATCHED:
                self._unwatch()
                self.gave_up = True
                return
            try:
                wd = _inotify.add_watch(os.path.join(self.root, rel), _MASK)
            except OSError:
                continue  # gone already (its removal is an event of its parent) or not a directory any more
            self._wds.add(wd)
            _owners.setdefault(wd, {})[self] = rel

    def _walk(self, top: str) -> Iterator[str]:
        """`top` and the directories below it, or `_NESTED` on meeting another repository's `.git`."""
        pending = [top]
        while pending:
            rel = pending.pop()
            yield rel
            try:
                with os.scandir(os.path.join(self.root, rel)) as entries:
                    for entry in entries:
                        if entry.name == ".git" and rel:
                            yield _NESTED
                        if entry.name == ".git" or not entry.is_dir(follow_symlinks=False):
                            continue
                        child = f"{rel}/{entry.name}" if rel else entry.name
                        if child not in self._skip:
                            pending.append(child)
            except OSError:
                continue
