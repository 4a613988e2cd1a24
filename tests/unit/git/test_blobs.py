"""Reading git output in one process: many blobs with one `git cat-file --batch` (the same bytes as one
`cat-file blob` each), a diff's records and patch from one `git diff --raw -z -p`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bridge.git.pending import read_blobs, split_raw_and_patch


def hash_blob(repo: Path, data: bytes) -> str:
    return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True,
                          check=True).stdout.decode().strip()


def test_read_blobs_returns_each_blob_exactly(repo: Path) -> None:
    contents = [b"", b"one line\n", b"no final newline", b"\x00\xffbinary\n\n", b"a\r\nb\r\n" * 1000]
    oids = [hash_blob(repo, c) for c in contents]
    missing = "0" * 39 + "1"
    found = read_blobs(repo, [*oids, oids[1], missing])
    assert [found[o] for o in oids] == contents
    assert missing not in found
    assert read_blobs(repo, []) == {}


def test_one_diff_process_gives_the_records_and_the_patch_apart() -> None:
    records = b":100644 100644 " + b"a" * 40 + b" " + b"b" * 40 + b" M\0tab\there\0"
    patch = b"diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n"
    assert split_raw_and_patch(records + b"\0" + patch) == (records, patch)
    assert split_raw_and_patch(b"") == (b"", b"")
    assert split_raw_and_patch(records) == (records, b"")
