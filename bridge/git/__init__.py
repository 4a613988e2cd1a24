"""Git: snapshots, session worktrees, diffs and hunks, three-way merges, the orphan reaper.

Imports nothing from the core or the LSP layer."""
