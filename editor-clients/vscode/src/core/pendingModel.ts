/**
 * The Pending Changes tree as plain data: sessions → files → hunks, each hunk attributed to its agent, and
 * how to pick the hunk under the cursor. Pure: no VS Code.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { ChangeKind, HunkSelection, PendingFile, PendingHunk, Range, SessionInfo } from "./protocol";

export interface HunkNode {
  kind: "hunk";
  sessionId: string;
  uri: string;
  hunkId: string;
  agent: string;
  label: string;
  description: string;
  range: Range;
  /** The file's change: a hunk of a file the agent created opens as a diff (there is no file to open yet). */
  change: ChangeKind;
  /** You and the agent both changed these lines: applying the file or session skips this hunk. */
  conflict: boolean;
  conflictReason?: string;
}

export interface FileNode {
  kind: "file";
  sessionId: string;
  uri: string;
  change: ChangeKind;
  label: string;
  description: string;
  hunks: HunkNode[];
}

export interface SessionNode {
  kind: "session";
  sessionId: string;
  label: string;
  description: string;
  current: boolean;
  files: FileNode[];
}

export type PendingNode = SessionNode | FileNode | HunkNode;

function lines(text: string): number {
  if (text === "") {
    return 0;
  }
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The same wording as the server's lenses: "replace 2 lines with 3", "add 1 line", "create file". */
export function hunkSummary(file: Pick<PendingFile, "change" | "binary">, hunk: Pick<PendingHunk, "oldText" | "newText">): string {
  if (file.binary) {
    return "binary file";
  }
  const oldN = lines(hunk.oldText);
  const newN = lines(hunk.newText);
  if (oldN === 0 && newN === 0) {
    return `${file.change} file`;
  }
  if (oldN && newN) {
    return `replace ${plural(oldN, "line")} with ${newN}`;
  }
  return newN ? `add ${plural(newN, "line")}` : `remove ${plural(oldN, "line")}`;
}

export function uriToPath(uri: string): string {
  try {
    return fileURLToPath(uri);
  } catch {
    return uri;
  }
}

/** `uri` relative to the first root that holds it, else its full path. */
export function relativePath(uri: string, roots: string[]): string {
  const p = uriToPath(uri);
  for (const root of roots) {
    const rel = path.relative(root, p);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) {
      return rel.split(path.sep).join("/");
    }
  }
  return p;
}

const CHANGE_LABELS: Record<ChangeKind, string> = {
  modify: "modified",
  create: "new file",
  delete: "deleted",
  rename: "renamed",
};

export function buildPendingTree(
  sessions: SessionInfo[], files: PendingFile[], roots: string[], currentSessionId?: string,
): SessionNode[] {
  const bySession = new Map<string, PendingFile[]>();
  for (const file of files) {
    const list = bySession.get(file.sessionId) ?? [];
    list.push(file);
    bySession.set(file.sessionId, list);
  }
  const known = new Set(sessions.map((s) => s.sessionId));
  const ordered = [
    ...sessions,
    ...[...bySession.keys()].filter((id) => !known.has(id)).map((id): SessionInfo => ({
      sessionId: id, title: "", createdAt: "", agents: [], pendingHunks: 0,
    })),
  ];
  return ordered
    .filter((s) => (bySession.get(s.sessionId)?.length ?? 0) > 0 || s.sessionId === currentSessionId)
    .map((s) => {
      const fileNodes = (bySession.get(s.sessionId) ?? [])
        .map((f) => fileNode(f, roots))
        .sort((a, b) => a.label.localeCompare(b.label));
      const hunkCount = fileNodes.reduce((n, f) => n + f.hunks.length, 0);
      const agents = [...new Set(fileNodes.flatMap((f) => f.hunks.map((h) => h.agent)))];
      const title = s.title || s.sessionId;
      return {
        kind: "session" as const,
        sessionId: s.sessionId,
        label: title,
        description: [
          s.sessionId === currentSessionId ? "current" : "",
          hunkCount ? plural(hunkCount, "change") : "no pending changes",
          agents.join(", "),
        ].filter(Boolean).join(" · "),
        current: s.sessionId === currentSessionId,
        files: fileNodes,
      };
    });
}

function fileNode(file: PendingFile, roots: string[]): FileNode {
  const hunks = file.hunks.map((h): HunkNode => ({
    kind: "hunk",
    sessionId: file.sessionId,
    uri: file.uri,
    hunkId: h.hunkId,
    agent: h.agent,
    label: `${h.agent}: ${hunkSummary(file, h)}`,
    description: [
      h.conflict ? "conflict" : "",
      file.hunks.length === 1 && !file.hunks[0].oldText && !file.hunks[0].newText ? "" : `line ${h.range.start.line + 1}`,
    ].filter(Boolean).join(" · "),
    range: h.range,
    change: file.change,
    conflict: h.conflict === true,
    conflictReason: h.conflictReason ?? undefined,
  }));
  const conflicts = hunks.filter((h) => h.conflict).length;
  const renamedFrom = file.oldUri ? ` from ${relativePath(file.oldUri, roots)}` : "";
  const agents = [...new Set(hunks.map((h) => h.agent))];
  return {
    kind: "file",
    sessionId: file.sessionId,
    uri: file.uri,
    change: file.change,
    label: relativePath(file.uri, roots),
    description: [
      `${CHANGE_LABELS[file.change]}${renamedFrom}`,
      plural(hunks.length, "change"),
      conflicts ? plural(conflicts, "conflict") : "",
      agents.join(", "),
    ].filter(Boolean).join(" · "),
    hunks,
  };
}

/** What clicking a hunk row does: go to its line, or (a file the agent created, not on your disk yet) show
 * the diff of nothing against the agent's text. */
export function hunkClick(node: HunkNode): { kind: "open"; line: number } | { kind: "diff"; selection: HunkSelection } {
  return node.change === "create"
    ? { kind: "diff", selection: selectionOf(node) }
    : { kind: "open", line: node.range.start.line };
}

/** What an apply/reject/diff command acts on, from a tree node. */
export function selectionOf(node: PendingNode): HunkSelection {
  switch (node.kind) {
    case "session":
      return { sessionId: node.sessionId };
    case "file":
      return { sessionId: node.sessionId, uri: node.uri };
    case "hunk":
      return { sessionId: node.sessionId, uri: node.uri, hunkId: node.hunkId };
  }
}

export interface HunkSpan {
  sessionId: string;
  uri: string;
  hunkId: string;
  /** Zero-based lines in the live document, end inclusive. */
  startLine: number;
  endLine: number;
}

/** A hunk's lines from an LSP range: an end at column 0 does not include that line; insertions span one line. */
export function spanOf(sessionId: string, uri: string, hunkId: string, range: Range): HunkSpan {
  const endLine = range.end.line > range.start.line && range.end.character === 0 ? range.end.line - 1 : range.end.line;
  return { sessionId, uri, hunkId, startLine: range.start.line, endLine: Math.max(endLine, range.start.line) };
}

/** `span` kept within a document whose last line is `lastLine`: a hunk appended at the end of a file may be
 * reported on the line after the last one, where no cursor can go. */
export function clampSpan(span: HunkSpan, lastLine: number): HunkSpan {
  return { ...span, startLine: Math.min(span.startLine, lastLine), endLine: Math.min(span.endLine, lastLine) };
}

/** The hunk under the cursor's line; with several (insertions at one line), the one from the current session. */
export function hunkAtLine(spans: HunkSpan[], line: number, preferSession?: string): HunkSpan | undefined {
  const touching = spans.filter((s) => s.startLine <= line && line <= s.endLine);
  return touching.find((s) => s.sessionId === preferSession) ?? touching[0];
}

export interface ConflictSpan extends HunkSpan {
  agent: string;
  reason?: string;
}

/** The conflict hunks of one document, for its warning decorations; `live` maps a hunk id to where the
 * hunk is in the live document now (its diagnostic follows your edits; the pending range does not). */
export function conflictSpans(files: PendingFile[], uri: string, live: Map<string, Range> = new Map()): ConflictSpan[] {
  return files
    .filter((f) => f.uri === uri)
    .flatMap((f) => f.hunks.filter((h) => h.conflict).map((h) => ({
      ...spanOf(f.sessionId, f.uri, h.hunkId, live.get(h.hunkId) ?? h.range),
      agent: h.agent,
      reason: h.conflictReason ?? undefined,
    })));
}
