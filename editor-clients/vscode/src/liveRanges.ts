/**
 * Where the bridge's hunks are in a live document. The server's hint diagnostics (source "agent-bridge",
 * code = hunk id) move with your edits; the pending ranges it sent do not, so whatever draws or finds a hunk
 * in an open editor reads its range from here.
 */
import * as vscode from "vscode";
import type { Range } from "./core/protocol";

/** Where each hunk is now: the bridge's diagnostics (code = hunk id) follow your edits. */
export function liveRanges(uri: vscode.Uri): Map<string, Range> {
  const live = new Map<string, Range>();
  for (const d of vscode.languages.getDiagnostics(uri)) {
    if (d.source === "agent-bridge" && typeof d.code === "string") {
      live.set(d.code, {
        start: { line: d.range.start.line, character: d.range.start.character },
        end: { line: d.range.end.line, character: d.range.end.character },
      });
    }
  }
  return live;
}
