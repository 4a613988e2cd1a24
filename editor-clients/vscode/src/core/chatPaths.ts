/**
 * Paths in the chat as the user knows them: the agent works in its own worktree, so what it reports
 * (`/…/state/worktrees/51793fbbc370/src/a.py`) is shown relative to the workspace (`src/a.py`) and points at
 * the user's file. Pure: no VS Code (existence checks come in as a function).
 */
import * as path from "node:path";

export interface PathContext {
  /** The shown session's worktree (absolute), when the server told us. */
  worktree?: string;
  /** The workspace the session's worktree mirrors; else the first workspace folder. */
  workspace?: string;
  /** The open workspace folders. */
  roots: string[];
  /** Whether a relative path the agent wrote names a file (only then is it made clickable). */
  isFile?: (absolute: string) => boolean;
}

export interface ShownPath {
  /** What the chat shows: relative to the workspace. */
  label: string;
  /** The user's file it stands for (absolute); the chat asks the extension to open it. */
  target: string;
}

export const NO_PATHS: PathContext = { roots: [] };

function inside(root: string, p: string): string | undefined {
  const rel = path.relative(root, p);
  if (rel === "") {
    return ".";
  }
  if (rel.startsWith("..") || path.isAbsolute(rel)) {
    return undefined;
  }
  return rel.split(path.sep).join("/");
}

function home(ctx: PathContext): string | undefined {
  return ctx.workspace ?? ctx.roots[0];
}

/** An absolute path in the worktree or the workspace, as the chat shows it; undefined for any other path. */
export function showPath(p: string, ctx: PathContext): ShownPath | undefined {
  if (!path.isAbsolute(p)) {
    return undefined;
  }
  const normal = path.normalize(p);
  const workspace = home(ctx);
  if (ctx.worktree !== undefined && workspace !== undefined) {
    const rel = inside(ctx.worktree, normal);
    if (rel !== undefined) {
      return { label: rel, target: path.join(workspace, rel) };
    }
  }
  for (const root of [workspace, ...ctx.roots]) {
    const rel = root === undefined ? undefined : inside(root, normal);
    if (rel !== undefined) {
      return { label: rel, target: normal };
    }
  }
  return undefined;
}

/** A path the agent wrote in its answer (absolute, or relative to the workspace, maybe with `:line`): shown
 * relative and clickable when it names a file of the worktree or workspace. */
export function pathInText(text: string, ctx: PathContext): ShownPath | undefined {
  const candidate = text.trim().replace(/:\d+(?::\d+)?$/, "");
  if (candidate === "" || /\s/.test(candidate) || /^[a-z][a-z0-9+.-]*:/i.test(candidate)) {
    return undefined;
  }
  const absolute = showPath(candidate, ctx);
  if (absolute !== undefined) {
    return absolute;
  }
  const workspace = home(ctx);
  // A bare word ("make", "true") is not a path: it needs a directory or an extension.
  if (path.isAbsolute(candidate) || workspace === undefined || !/[/.]/.test(candidate) || candidate.startsWith("..")) {
    return undefined;
  }
  const target = path.join(workspace, candidate);
  if (inside(workspace, target) === undefined) {
    return undefined;
  }
  const inWorktree = ctx.worktree === undefined ? undefined : path.join(ctx.worktree, candidate);
  const exists = ctx.isFile?.(target) || (inWorktree !== undefined && ctx.isFile?.(inWorktree));
  return exists ? { label: candidate, target } : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Splits `text` around the worktree and workspace paths in it (each shown relative); the rest stays text. */
export function splitPaths(text: string, ctx: PathContext): (string | ShownPath)[] {
  const prefixes = [ctx.worktree, home(ctx), ...ctx.roots]
    .filter((p): p is string => p !== undefined && p !== "" && p !== path.sep)
    .map((p) => path.normalize(p).replace(/[\\/]+$/, ""));
  if (prefixes.length === 0) {
    return [text];
  }
  // The longest first: a worktree may sit inside the workspace (a state dir in the project).
  const alternatives = [...new Set(prefixes)].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|");
  const pattern = new RegExp(`(?:${alternatives})(?:/[^\\s'"\`<>()\\[\\]{},;]*)?`, "g");
  const parts: (string | ShownPath)[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    // Trailing punctuation ends a sentence, not the path.
    const found = match[0].replace(/[.:!?]+$/, "");
    const shown = showPath(found, ctx);
    if (shown === undefined) {
      continue;
    }
    const start = match.index ?? 0;
    if (start > last) {
      parts.push(text.slice(last, start));
    }
    parts.push(shown);
    last = start + found.length;
  }
  if (last < text.length) {
    parts.push(text.slice(last));
  }
  return parts;
}

/** `text` with the worktree and workspace paths in it shown relative (commands, their output, a cwd). */
export function relativize(text: string, ctx: PathContext): string {
  return splitPaths(text, ctx).map((p) => (typeof p === "string" ? p : p.label)).join("");
}
