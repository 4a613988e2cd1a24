/**
 * Reviewing agent changes: Apply / Reject for a hunk, a file or a whole session, the "Diff" lens next to the
 * server's "Apply | Reject" lenses, and conflict reports. Applying goes through the server's
 * `workspace/applyEdit`, which VS Code applies as a WorkspaceEdit, so undo works.
 */
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import type { BridgeApi } from "./core/api";
import { SHOW_DIFF_COMMAND, withDiffLenses } from "./core/lenses";
import type { HunkSpan, PendingNode } from "./core/pendingModel";
import { hunkAtLine, hunkSummary, relativePath, selectionOf, spanOf } from "./core/pendingModel";
import type { ApplyResult, HunkSelection, PendingFile } from "./core/protocol";
import { ServerCommands } from "./core/protocol";
import type { BridgeState } from "./core/state";
import type { AgentDocuments } from "./diff";
import { showDiff } from "./diff";
import type { PendingTree } from "./pendingTree";

export type Scope = "hunk" | "file" | "all";

/** What review commands get: a tree node, a selection (from a lens) or nothing (palette: use the cursor). */
export type ReviewArg = PendingNode | HunkSelection | undefined;

export class Review {
  constructor(
    private readonly api: BridgeApi,
    private readonly state: BridgeState,
    private readonly tree: PendingTree,
    private readonly docs: AgentDocuments,
  ) {}

  /** LanguageClient middleware: adds the Diff lens and reports the outcome of lens-driven applies. */
  middleware(): Middleware {
    return {
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        if (!lenses) {
          return lenses;
        }
        return withDiffLenses(lenses, (after, selection) => new vscode.CodeLens(after.range, {
          title: "Diff",
          command: SHOW_DIFF_COMMAND,
          arguments: [selection],
          tooltip: "Compare your file with the agent's version",
        }));
      },
      executeCommand: async (command, args, next) => {
        const result: unknown = await next(command, args);
        if (command === ServerCommands.apply) {
          reportApply(result as ApplyResult);
          this.tree.scheduleRefresh();
        } else if (command === ServerCommands.reject) {
          this.tree.scheduleRefresh();
        }
        return result;
      },
    };
  }

  async apply(scope: Scope, arg?: ReviewArg): Promise<void> {
    const selection = await this.resolve(scope, arg);
    if (selection === undefined) {
      return;
    }
    reportApply(await this.api.apply(selection));
    await this.after(selection.sessionId);
  }

  async reject(scope: Scope, arg?: ReviewArg): Promise<void> {
    const selection = await this.resolve(scope, arg);
    if (selection === undefined) {
      return;
    }
    if (selection.uri === undefined) {
      const count = this.tree.files
        .filter((f) => f.sessionId === selection.sessionId)
        .reduce((n, f) => n + f.hunks.length, 0);
      const ok = await vscode.window.showWarningMessage(
        `Reject all ${count} pending change${count === 1 ? "" : "s"} of this session? The agent is told what you rejected.`,
        { modal: true },
        "Reject All",
      );
      if (ok !== "Reject All") {
        return;
      }
    }
    const { rejected } = await this.api.reject(selection);
    vscode.window.setStatusBarMessage(`Agent Bridge: rejected ${rejected} change${rejected === 1 ? "" : "s"}`, 4000);
    await this.after(selection.sessionId);
  }

  async diff(arg?: ReviewArg): Promise<void> {
    const selection = await this.resolve("file", arg);
    if (selection?.uri === undefined) {
      return;
    }
    await showDiff(this.api, { ...selection, uri: selection.uri });
  }

  private async after(sessionId: string): Promise<void> {
    await this.tree.refresh();
    this.docs.refresh(sessionId);
  }

  /** Turns a command's argument, or the cursor when there is none, into what to act on. */
  private async resolve(scope: Scope, arg: ReviewArg): Promise<HunkSelection | undefined> {
    if (arg !== undefined && typeof arg === "object" && "sessionId" in arg) {
      const selection = "kind" in arg ? selectionOf(arg) : { ...arg };
      if (scope === "file") {
        delete selection.hunkId;
      } else if (scope === "all") {
        return { sessionId: selection.sessionId };
      }
      return selection;
    }
    await this.tree.refresh();
    if (scope === "all") {
      return this.pickSession();
    }
    const editor = vscode.window.activeTextEditor;
    const uri = editor?.document.uri.toString();
    const inFile = this.tree.files.filter((f) => f.uri === uri);
    if (scope === "hunk" && editor !== undefined && inFile.length > 0) {
      const here = hunkAtLine(this.spans(editor.document.uri, inFile), editor.selection.active.line, this.state.currentSessionId);
      if (here !== undefined) {
        return { sessionId: here.sessionId, uri: here.uri, hunkId: here.hunkId };
      }
    }
    if (scope === "file" && inFile.length > 0) {
      const file = inFile.find((f) => f.sessionId === this.state.currentSessionId) ?? inFile[0];
      return { sessionId: file.sessionId, uri: file.uri };
    }
    return scope === "hunk" ? this.pickHunk(inFile.length ? inFile : this.tree.files) : this.pickFile();
  }

  /** Hunk spans in the live document: the hint diagnostics follow your edits; the pending ranges do not. */
  private spans(uri: vscode.Uri, files: PendingFile[]): HunkSpan[] {
    const live = new Map<string, vscode.Range>();
    for (const d of vscode.languages.getDiagnostics(uri)) {
      if (d.source === "agent-bridge" && typeof d.code === "string") {
        live.set(d.code, d.range);
      }
    }
    return files.flatMap((f) => f.hunks.map((h) => {
      const r = live.get(h.hunkId);
      return r === undefined
        ? spanOf(f.sessionId, f.uri, h.hunkId, h.range)
        : spanOf(f.sessionId, f.uri, h.hunkId, {
            start: { line: r.start.line, character: r.start.character },
            end: { line: r.end.line, character: r.end.character },
          });
    }));
  }

  private roots(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  }

  private async pickHunk(files: PendingFile[]): Promise<HunkSelection | undefined> {
    const items = files.flatMap((f) => f.hunks.map((h) => ({
      label: `${h.agent}: ${hunkSummary(f, h)}`,
      description: `${relativePath(f.uri, this.roots())}:${h.range.start.line + 1}`,
      selection: { sessionId: f.sessionId, uri: f.uri, hunkId: h.hunkId },
    })));
    if (items.length === 0) {
      void vscode.window.showInformationMessage("Agent Bridge: no pending agent changes.");
      return undefined;
    }
    return (await vscode.window.showQuickPick(items, { placeHolder: "Which agent change?" }))?.selection;
  }

  private async pickFile(): Promise<HunkSelection | undefined> {
    const items = this.tree.files.map((f) => ({
      label: relativePath(f.uri, this.roots()),
      description: `${f.change} · ${f.hunks.length} change${f.hunks.length === 1 ? "" : "s"}`,
      selection: { sessionId: f.sessionId, uri: f.uri },
    }));
    if (items.length === 0) {
      void vscode.window.showInformationMessage("Agent Bridge: no pending agent changes.");
      return undefined;
    }
    return (await vscode.window.showQuickPick(items, { placeHolder: "Which file?" }))?.selection;
  }

  private async pickSession(): Promise<HunkSelection | undefined> {
    const withPending = [...new Set(this.tree.files.map((f) => f.sessionId))];
    if (withPending.length === 0) {
      void vscode.window.showInformationMessage("Agent Bridge: no pending agent changes.");
      return undefined;
    }
    const current = this.state.currentSessionId;
    if (current !== undefined && withPending.includes(current)) {
      return { sessionId: current };
    }
    if (withPending.length === 1) {
      return { sessionId: withPending[0] };
    }
    const items = withPending.map((id) => ({ label: this.state.session(id)?.title || id, description: id, id }));
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Which session?" });
    return pick ? { sessionId: pick.id } : undefined;
  }
}

function reportApply(result: ApplyResult | undefined): void {
  if (result === undefined || result === null) {
    return;
  }
  for (const conflict of result.conflicts ?? []) {
    const name = vscode.workspace.asRelativePath(vscode.Uri.parse(conflict.uri));
    void vscode.window.showWarningMessage(`Agent Bridge: could not apply the change to ${name}: ${conflict.reason}`);
  }
  if (result.applied > 0) {
    vscode.window.setStatusBarMessage(
      `Agent Bridge: applied ${result.applied} change${result.applied === 1 ? "" : "s"} (undo with Ctrl+Z; save to keep)`,
      5000,
    );
  } else if ((result.conflicts ?? []).length === 0) {
    void vscode.window.showInformationMessage("Agent Bridge: nothing to apply.");
  }
}
