/**
 * Reviewing in place, as plain data: what the inline preview draws for each pending hunk of a document (the
 * lines it removes, where the agent's lines go, and those lines), and the order "next / previous change" walks
 * hunks in across files. Pure: no VS Code.
 */
import type { HunkSelection, PendingFile, PendingHunk, Range } from "./protocol";
import { hunkSummary, relativePath, spanOf } from "./pendingModel";

export interface PreviewBlock {
  sessionId: string;
  uri: string;
  hunkId: string;
  agent: string;
  /** "add 2 lines", "replace 1 line with 3", as the lenses say it. */
  summary: string;
  conflict: boolean;
  /** The lines the hunk removes (zero-based, end inclusive) in the live document, if it removes any. */
  removed?: { startLine: number; endLine: number };
  /** The agent's lines show right below this line (a pure insertion before line 0 shows below line 0). */
  anchorLine: number;
  /** True when the agent's lines go above `anchorLine` (an insertion at the top of the file). */
  above: boolean;
  /** The agent's lines, without the final newline; empty when the hunk only removes. */
  added: string;
}

/** Where a hunk is in the live document: the diagnostic's range (follows your edits), else `liveRange`,
 * else the base range. */
export function currentRange(hunk: PendingHunk & { liveRange?: Range | null }, live: Map<string, Range>): Range {
  return live.get(hunk.hunkId) ?? hunk.liveRange ?? hunk.range;
}

function dropFinalNewline(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** The preview of every text hunk of `uri` (binary files and pure renames have nothing to show inline). */
export function previewBlocks(files: PendingFile[], uri: string, live: Map<string, Range> = new Map()): PreviewBlock[] {
  return files
    .filter((f) => f.uri === uri && !f.binary)
    .flatMap((f) => f.hunks
      .filter((h) => h.oldText !== "" || h.newText !== "")
      .map((h): PreviewBlock => {
        const range = currentRange(h, live);
        const span = spanOf(f.sessionId, f.uri, h.hunkId, range);
        const removes = h.oldText !== "";
        const above = !removes && range.start.line === 0;
        return {
          sessionId: f.sessionId,
          uri: f.uri,
          hunkId: h.hunkId,
          agent: h.agent,
          summary: hunkSummary(f, h),
          conflict: h.conflict === true,
          removed: removes ? { startLine: span.startLine, endLine: span.endLine } : undefined,
          // Below the last removed line, like a unified diff; an insertion shows below the line before it.
          anchorLine: removes ? span.endLine : Math.max(range.start.line - 1, 0),
          above,
          added: dropFinalNewline(h.newText),
        };
      }))
    .sort((a, b) => a.anchorLine - b.anchorLine);
}

export interface HunkStop extends HunkSelection {
  uri: string;
  hunkId: string;
  /** Zero-based line to put the cursor on. */
  line: number;
  /** The file does not exist for you yet (the agent created it): show it as a diff. */
  created: boolean;
}

/**
 * Every pending hunk in review order: files by path, then hunks by line; several sessions interleave per file.
 * `lastLine` (open documents) keeps a hunk appended at the end on the document's last line: its range may
 * name the line after it.
 */
export function hunkStops(
  files: PendingFile[], roots: string[], live: (uri: string) => Map<string, Range> = () => new Map(),
  lastLine: (uri: string) => number | undefined = () => undefined,
): HunkStop[] {
  const byPath = [...files].sort((a, b) => relativePath(a.uri, roots).localeCompare(relativePath(b.uri, roots)));
  return byPath.flatMap((f) => {
    const ranges = live(f.uri);
    const last = lastLine(f.uri);
    return f.hunks.map((h): HunkStop => ({
      sessionId: f.sessionId,
      uri: f.uri,
      hunkId: h.hunkId,
      line: Math.min(currentRange(h, ranges).start.line, last ?? Number.MAX_SAFE_INTEGER),
      created: f.change === "create",
    })).sort((a, b) => a.line - b.line);
  });
}

/**
 * The hunk after (dir 1) or before (dir -1) the cursor at `uri`:`line`, wrapping around the end. The hunk
 * the cursor is on counts as "here": next moves past it. With no position (no editor), the first or last.
 */
export function stepHunk(stops: HunkStop[], dir: 1 | -1, at?: { uri: string; line: number }): HunkStop | undefined {
  if (stops.length === 0) {
    return undefined;
  }
  const fileIndex = new Map<string, number>();
  stops.forEach((s) => {
    if (!fileIndex.has(s.uri)) {
      fileIndex.set(s.uri, fileIndex.size);
    }
  });
  if (at === undefined) {
    return dir === 1 ? stops[0] : stops[stops.length - 1];
  }
  const here = fileIndex.get(at.uri);
  const key = (s: HunkStop): [number, number] => [fileIndex.get(s.uri) ?? 0, s.line];
  const before = (a: [number, number], b: [number, number]): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  if (here === undefined) {
    // From a file without hunks: next is the first hunk, previous the last.
    return dir === 1 ? stops[0] : stops[stops.length - 1];
  }
  const cursor: [number, number] = [here, at.line];
  if (dir === 1) {
    return stops.find((s) => before(cursor, key(s))) ?? stops[0];
  }
  return [...stops].reverse().find((s) => before(key(s), cursor)) ?? stops[stops.length - 1];
}
