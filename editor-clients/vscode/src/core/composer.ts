/**
 * The chat composer's completions: `/` at the start of the prompt completes the agent's slash commands, `@`
 * completes workspace files (and "selection") that go along as attachments, shown as chips. Pure: no VS Code;
 * the extension lists the files and the webview only draws the list and splices the chosen text in.
 */
import type { AgentCommand, Attachment, Range } from "./protocol";

/** What is being completed: the text from `start` to `end` (the cursor) is replaced by the chosen item. */
export interface Trigger {
  kind: "command" | "file";
  query: string;
  start: number;
  end: number;
}

/** An attachment as the composer shows it (a chip) and sends it (`uri`, `range`). */
export interface Chip extends Attachment {
  label: string;
  /** The chip's tooltip: the path and, for a range, its lines. */
  title: string;
}

export interface CompletionItem {
  label: string;
  detail?: string;
  /** Replaces the trigger's text. */
  insert: string;
  /** Added to the composer's chips when chosen. */
  chip?: Chip;
}

/** Files listed per `@` completion at most. */
export const MAX_FILE_ITEMS = 50;
/** Workspace files looked at per listing at most (vscode.workspace.findFiles' maxResults). */
export const MAX_FILES_LISTED = 5000;
/**
 * The exclude glob for listing files: what `files.exclude` and `search.exclude` hide (the patterns set to true),
 * as VS Code's own Quick Open does. findFiles applies only files.exclude by itself, and then a project's
 * node_modules would fill the listing's cap before its own files.
 */
export function excludeGlob(...settings: (Record<string, unknown> | undefined)[]): string | undefined {
  const patterns = new Set<string>();
  for (const setting of settings) {
    for (const [pattern, on] of Object.entries(setting ?? {})) {
      if (on === true && !pattern.includes("{") && !pattern.includes(",")) {
        patterns.add(pattern);
      }
    }
  }
  return patterns.size === 0 ? undefined : `{${[...patterns].join(",")}}`;
}

/** The `@` entry that attaches the editor's selection. */
export const SELECTION_KEYWORD = "selection";

/**
 * The completion the cursor is in, if any. A slash command is the prompt's first word (`/na|`), as agents
 * read it; a mention is a word starting with `@` anywhere (`explain @src/ma|`).
 */
export function triggerAt(text: string, cursor: number): Trigger | undefined {
  const before = text.slice(0, Math.max(0, Math.min(cursor, text.length)));
  const command = /^\s*\/([^\s/]*)$/.exec(before);
  if (command) {
    return { kind: "command", query: command[1], start: before.length - command[1].length - 1, end: before.length };
  }
  const mention = /(?:^|\s)@([^\s@]*)$/.exec(before);
  if (mention) {
    return { kind: "file", query: mention[1], start: before.length - mention[1].length - 1, end: before.length };
  }
  return undefined;
}

/** The agent's commands matching `query`: names starting with it first, then names containing it. */
export function commandItems(commands: readonly AgentCommand[], query: string): CompletionItem[] {
  const q = query.toLowerCase();
  const scored = commands
    .filter((c) => typeof c.name === "string" && c.name !== "")
    .map((c) => ({ c, name: c.name.toLowerCase() }))
    .map(({ c, name }) => ({ c, score: name.startsWith(q) ? 0 : name.includes(q) ? 1 : -1 }))
    .filter((s) => s.score >= 0)
    .sort((a, b) => a.score - b.score || a.c.name.localeCompare(b.c.name));
  return scored.map(({ c }) => ({
    label: `/${c.name}`,
    detail: [c.description, c.input?.hint ? `<${c.input.hint}>` : ""].filter(Boolean).join(" "),
    insert: `/${c.name} `,
  }));
}

/**
 * How well `path` (workspace-relative, `/`-separated) matches `query`: lower is better, undefined is no match.
 * A file name starting with the query beats one containing it, which beats the path containing it, which beats
 * the query's letters in order from the start of a word of the path (`gp` finds `greet.py`, `sm` finds
 * `src/main.py`; `@end` typed as a word does not drag in every path with an e, n and d). Case is ignored.
 */
export function fileScore(path: string, query: string): number | undefined {
  const q = query.toLowerCase();
  const p = path.toLowerCase();
  const name = p.slice(p.lastIndexOf("/") + 1);
  if (q === "" || name.startsWith(q)) {
    return 0;
  }
  if (name.includes(q)) {
    return 1;
  }
  if (p.includes(q)) {
    return 2;
  }
  for (let start = 0; start < p.length; start++) {
    if (p[start] === q[0] && (start === 0 || WORD_START.test(p[start - 1])) && inOrder(p, q, start)) {
      return 3;
    }
  }
  return undefined;
}

const WORD_START = /[/._\- ]/;

function inOrder(p: string, q: string, from: number): boolean {
  let i = 0;
  for (let j = from; j < p.length && i < q.length; j++) {
    if (p[j] === q[i]) {
      i++;
    }
  }
  return i === q.length;
}

/** The files matching `query`, best first (then shorter paths, then by name), at most `max`. */
export function rankFiles<T extends { path: string }>(files: readonly T[], query: string, max = MAX_FILE_ITEMS): T[] {
  return files
    .map((f) => ({ f, score: fileScore(f.path, query) }))
    .filter((s): s is { f: T; score: number } => s.score !== undefined)
    .sort((a, b) => a.score - b.score || a.f.path.length - b.f.path.length || a.f.path.localeCompare(b.f.path))
    .slice(0, max)
    .map((s) => s.f);
}

/** "greet.py" or, for a range, "greet.py:3-5" (one-based lines, as editors show them). */
export function chipLabel(path: string, range?: Range): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (range === undefined) {
    return name;
  }
  const first = range.start.line + 1;
  // A selection ending at column 0 of a line does not take that line.
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

export function fileChip(uri: string, path: string, range?: Range): Chip {
  const label = chipLabel(path, range);
  return { uri, range, label, title: range === undefined ? path : `${path}, lines ${label.slice(label.lastIndexOf(":") + 1)}` };
}

/** The `@` items: the editor's selection first (when there is one and it matches), then the files. */
export function fileItems(
  files: readonly { uri: string; path: string }[], query: string,
  selection?: { uri: string; path: string; range: Range },
): CompletionItem[] {
  const items: CompletionItem[] = [];
  if (selection !== undefined && SELECTION_KEYWORD.startsWith(query.toLowerCase())) {
    const chip = fileChip(selection.uri, selection.path, selection.range);
    items.push({ label: `@${SELECTION_KEYWORD}`, detail: chip.title, insert: `@${chip.label} `, chip });
  }
  for (const f of rankFiles(files, query)) {
    // Name, then its folder (as Quick Open shows files); a file at the root has no folder to show.
    const slash = f.path.lastIndexOf("/");
    items.push({
      label: f.path.slice(slash + 1), detail: slash < 0 ? undefined : f.path.slice(0, slash), insert: `@${f.path} `,
      chip: fileChip(f.uri, f.path),
    });
  }
  return items;
}

/** Adds a chip unless the same file and range is attached already. */
export function addChip(chips: readonly Chip[], chip: Chip): Chip[] {
  const key = attachmentKey(chip);
  return chips.some((c) => attachmentKey(c) === key) ? [...chips] : [...chips, chip];
}

/** What `agentBridge.prompt` gets: each attachment once, `range` only when there is one. The chips come from
 * the webview, so anything not shaped like an attachment is dropped rather than sent. */
export function attachmentsOf(chips: readonly Attachment[]): Attachment[] {
  const seen = new Set<string>();
  const out: Attachment[] = [];
  for (const c of chips) {
    if (typeof c !== "object" || c === null || typeof c.uri !== "string" || c.uri === "" || (c.range !== undefined && !isRange(c.range))) {
      continue;
    }
    const key = attachmentKey(c);
    if (seen.has(key)) {
      continue;
    }
    seen.add(key);
    out.push(c.range === undefined ? { uri: c.uri } : { uri: c.uri, range: c.range });
  }
  return out;
}

function attachmentKey(a: Attachment): string {
  const r = a.range;
  return r === undefined ? a.uri : `${a.uri}#${r.start.line}:${r.start.character}-${r.end.line}:${r.end.character}`;
}

function isRange(r: unknown): r is Range {
  const pos = (p: unknown): boolean =>
    typeof p === "object" && p !== null
    && Number.isInteger((p as { line?: unknown }).line) && Number.isInteger((p as { character?: unknown }).character);
  return typeof r === "object" && r !== null && pos((r as Range).start) && pos((r as Range).end);
}
