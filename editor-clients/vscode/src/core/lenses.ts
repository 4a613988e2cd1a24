/**
 * The server's code lenses are "Apply (...)" and "Reject" per hunk; the extension adds "Diff" after each
 * Reject so a hunk reads "Apply | Reject | Diff". Generic over the lens type so the same code runs on
 * VS Code's CodeLens objects and on raw LSP lenses in the protocol tests. Pure: no VS Code.
 */
import type { HunkSelection } from "./protocol";
import { ServerCommands } from "./protocol";

export const SHOW_DIFF_COMMAND = "agentBridge.ui.showDiff";

export interface LensLike {
  command?: { title: string; command: string; arguments?: unknown[] };
}

export function lensSelection(lens: LensLike): HunkSelection | undefined {
  const arg = lens.command?.arguments?.[0];
  if (typeof arg !== "object" || arg === null) {
    return undefined;
  }
  const a = arg as Record<string, unknown>;
  if (typeof a.sessionId !== "string" || typeof a.uri !== "string" || typeof a.hunkId !== "string") {
    return undefined;
  }
  return { sessionId: a.sessionId, uri: a.uri, hunkId: a.hunkId };
}

export function withDiffLenses<L extends LensLike>(lenses: L[], makeDiff: (after: L, selection: HunkSelection) => L): L[] {
  const out: L[] = [];
  for (const lens of lenses) {
    out.push(lens);
    const selection = lens.command?.command === ServerCommands.reject ? lensSelection(lens) : undefined;
    if (selection !== undefined) {
      out.push(makeDiff(lens, selection));
    }
  }
  return out;
}
