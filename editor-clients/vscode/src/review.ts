/**
 * Reviewing agent changes: Apply / Reject for a hunk, a file or a whole session, the "Diff" lens next to the
 * server's "Apply | Reject" lenses, and conflict reports. Applying goes through the server's
 * `workspace/applyEdit`, which VS Code applies as a WorkspaceEdit, so undo works (a new file goes to an
 * unsaved document, see newFiles.ts). A reject says what it did and offers Undo (`agentBridge.unreject`).
 */
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import type { BridgeApi } from "./core/api";
import { AGENT_SCHEME, parseAgentDocQuery } from "./core/agentUri";
import { SHOW_DIFF_COMMAND, withDiffLenses } from "./core/lenses";
import type { HunkSpan, PendingNode } from "./core/pendingModel";
import { clampSpan, hunkAtLine, hunkSummary, relativePath, selectionOf, spanOf } from "./core/pendingModel";
import type { ApplyResult, HunkSelection, PendingFile, RejectResult } from "./core/protocol";
import { ServerCommands } from "./core/protocol";
import type { BridgeState } from "./core/state";
import type { AgentDocuments } from "./diff";
import { showDiff } from "./diff";
import { handleApplyEdit } from "./newFiles";
import { liveRanges } from "./liveRanges";
import type { PendingTree } from "./pendingTree";
import type { InlinePreview } from "./preview";

export type Scope = "hunk" | "file" | "all";

/** What review commands get: a tree node, a selection (from a lens), an inline preview block, the agent's side
 * of a diff editor (its title buttons pass the Uri) or nothing (palette, keys: use the cursor). */
export type ReviewArg = PendingNode | HunkSelection | vscode.Uri | vscode.CommentThread | undefined;

export class Review {
  /** Set once the inline preview exists: maps its blocks (comment threads) to hunks. */
  preview?: InlinePreview;
  /** The last reject with a way back, for "Undo Last Reject". */
  private lastRejection?: { sessionId: string; rejectionId: string; rejected: number };

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
          reportApply(result as ApplyResult, "hunk");
          this.tree.scheduleRefresh();
        } else if (command === ServerCommands.reject) {
          const sessionId = (args[0] as { sessionId?: unknown } | undefined)?.sessionId;
          if (typeof sessionId === "string") {
            this.reportReject(sessionId, result as RejectResult);
          }
          this.tree.scheduleRefresh();
        }
        return result;
      },
      workspace: {
        handleApplyEdit: (params, next) => handleApplyEdit(params, next),
      },
    };
  }

  async apply(scope: Scope, arg?: ReviewArg): Promise<void> {
    const selection = await this.resolve(scope, arg);
    if (selection === undefined) {
      return;
    }
    reportApply(await this.api.apply(selection), selection.uri === undefined ? "all" : selection.hunkId === undefined ? "file" : "hunk");
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
    this.reportReject(selection.sessionId, await this.api.reject(selection));
    await this.after(selection.sessionId);
  }

  /** Says what a reject did, with an Undo button when the server can take it back. */
  private reportReject(sessionId: string, result: RejectResult | undefined): void {
    const rejected = result?.rejected ?? 0;
    if (rejected === 0) {
      void vscode.window.showInformationMessage("Agent Bridge: nothing to reject.");
      return;
    }
    const message = `Agent Bridge: Rejected ${rejected} change${rejected === 1 ? "" : "s"}`;
    const rejectionId = result?.rejectionId;
    if (!rejectionId) {
      vscode.window.setStatusBarMessage(message, 4000);
      return;
    }
    const rejection = { sessionId, rejectionId, rejected };
    this.lastRejection = rejection;
    void vscode.window.showInformationMessage(`${message}.`, "Undo").then((choice) => {
      if (choice === "Undo") {
        void this.unreject(rejection);
      }
    });
  }

  /** Puts a rejection's hunks back (the last one when none is given). */
  async unreject(rejection = this.lastRejection): Promise<void> {
    if (rejection === undefined) {
      void vscode.window.showInformationMessage("Agent Bridge: no reject to undo.");
      return;
    }
    try {
      const { restored } = await this.api.unreject(rejection.sessionId, rejection.rejectionId);
      if (this.lastRejection === rejection) {
        this.lastRejection = undefined;
      }
      void vscode.window.showInformationMessage(`Agent Bridge: Restored ${restored} change${restored === 1 ? "" : "s"}; they are pending again.`);
    } catch (error) {
      void vscode.window.showErrorMessage(`Agent Bridge: could not undo the reject: ${error instanceof Error ? error.message : String(error)}`);
    }
    await this.after(rejection.sessionId);
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
  private async resolve(scope: Scope, given: ReviewArg): Promise<HunkSelection | undefined> {
    const arg = this.fromUiArg(given);
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
      const last = Math.max(editor.document.lineCount - 1, 0);
      const spans = this.spans(editor.document.uri, inFile).map((s) => clampSpan(s, last));
      const here = hunkAtLine(spans, editor.selection.active.line, this.state.currentSessionId);
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

  /** A diff editor's agent side (its title buttons) or an inline preview block, as the hunks they show. */
  private fromUiArg(arg: ReviewArg): PendingNode | HunkSelection | undefined {
    if (arg instanceof vscode.Uri) {
      const ref = arg.scheme === AGENT_SCHEME ? parseAgentDocQuery(arg.query) : undefined;
      return ref === undefined ? undefined : { sessionId: ref.sessionId, uri: ref.uri };
    }
    if (arg !== undefined && !("sessionId" in arg)) {
      return this.preview?.selectionOf(arg);
    }
    return arg;
  }

  /** Hunk spans in the live document: the hint diagnostics follow your edits; the pending ranges do not. */
  private spans(uri: vscode.Uri, files: PendingFile[]): HunkSpan[] {
    const live = liveRanges(uri);
    return files.flatMap((f) => f.hunks.map((h) => spanOf(f.sessionId, f.uri, h.hunkId, live.get(h.hunkId) ?? h.range)));
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

/** Says what an apply did: the status bar for one hunk, a notification for a file or a session. */
function reportApply(result: ApplyResult | undefined, scope: Scope): void {
  if (result === undefined || result === null) {
    return;
  }
  for (const conflict of result.conflicts ?? []) {
    const name = vscode.workspace.asRelativePath(vscode.Uri.parse(conflict.uri));
    void vscode.window.showWarningMessage(`Agent Bridge: could not apply the change to ${name}: ${conflict.reason}`);
  }
  const skipped = (result.conflicts ?? []).reduce((n, c) => n + Math.max(c.hunkIds.length, 1), 0);
  if (result.applied > 0 && scope !== "hunk") {
    void vscode.window.showInformationMessage(
      `Agent Bridge: Applied ${result.applied} change${result.applied === 1 ? "" : "s"}` +
      `${skipped ? `, skipped ${skipped} (see the warnings)` : ""}. Save to keep them; undo with Ctrl+Z.`,
    );
  } else if (result.applied > 0) {
    vscode.window.setStatusBarMessage(
      `Agent Bridge: applied ${result.applied} change${result.applied === 1 ? "" : "s"} (undo with Ctrl+Z; save to keep)`,
      5000,
    );
  } else if ((result.conflicts ?? []).length === 0) {
    void vscode.window.showInformationMessage("Agent Bridge: nothing to apply.");
  }
}
