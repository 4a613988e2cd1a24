/**
 * Moving hunk to hunk across files (Next / Previous Agent Change), and the context keys the keybindings'
 * when-clauses read, so a key only acts where it applies:
 * - `agentBridge.hasPending`: some session has pending hunks;
 * - `agentBridge.pendingInEditor`: the focused editor's file has some;
 * - `agentBridge.hunkAtCursor`: the cursor is on one;
 * - `agentBridge.turnRunning`: a turn is running (the current session's, else any).
 */
import * as vscode from "vscode";
import { AGENT_SCHEME, parseAgentDocQuery } from "./core/agentUri";
import type { BridgeApi } from "./core/api";
import { clampSpan, hunkAtLine, spanOf } from "./core/pendingModel";
import { currentRange, hunkStops, stepHunk } from "./core/reviewModel";
import type { BridgeState } from "./core/state";
import { exists, showDiff } from "./diff";
import { liveRanges } from "./liveRanges";
import type { PendingTree } from "./pendingTree";

export class ReviewNavigation implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[];
  private readonly keys = new Map<string, boolean>();

  constructor(
    private readonly api: BridgeApi,
    private readonly state: BridgeState,
    private readonly tree: PendingTree,
  ) {
    this.subscriptions = [
      tree.onDidLoad(() => this.updateKeys()),
      vscode.window.onDidChangeActiveTextEditor(() => this.updateKeys()),
      vscode.window.onDidChangeTextEditorSelection(() => this.updateKeys()),
      vscode.languages.onDidChangeDiagnostics(() => this.updateKeys()),
      state.onChange(() => this.updateKeys()),
    ];
    this.updateKeys();
  }

  private roots(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  }

  /** Goes to the next (1) or previous (-1) pending hunk, in this file or the next one; wraps around. */
  async step(dir: 1 | -1): Promise<void> {
    if (this.tree.files.length === 0) {
      await this.tree.refresh();
    }
    const stops = hunkStops(this.tree.files, this.roots(), (uri) => liveRanges(vscode.Uri.parse(uri)), lastLineOf);
    const stop = stepHunk(stops, dir, here(dir));
    if (stop === undefined) {
      void vscode.window.showInformationMessage("Agent Bridge: no pending agent changes.");
      return;
    }
    const index = stops.indexOf(stop) + 1;
    vscode.window.setStatusBarMessage(`Agent Bridge: change ${index} of ${stops.length}`, 3000);
    const file = vscode.Uri.parse(stop.uri);
    if (stop.created && !(await exists(file))) {
      // Nothing to put a cursor in yet: the agent's new file as a diff against nothing.
      await showDiff(this.api, { sessionId: stop.sessionId, uri: stop.uri });
      return;
    }
    const position = new vscode.Position(stop.line, 0);
    const shown = await vscode.window.showTextDocument(file, { selection: new vscode.Range(position, position), preview: false });
    shown.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private updateKeys(): void {
    const files = this.tree.files;
    const editor = vscode.window.activeTextEditor;
    const uri = editor?.document.uri.toString();
    const inEditor = uri === undefined ? [] : files.filter((f) => f.uri === uri);
    let atCursor = false;
    if (editor !== undefined && inEditor.length > 0) {
      const live = liveRanges(editor.document.uri);
      const last = Math.max(editor.document.lineCount - 1, 0);
      const spans = inEditor.flatMap((f) => f.hunks.map((h) => clampSpan(spanOf(f.sessionId, f.uri, h.hunkId, currentRange(h, live)), last)));
      atCursor = hunkAtLine(spans, editor.selection.active.line) !== undefined;
    }
    const running = this.state.current?.turn === "running" || this.state.list().some((s) => s.turn === "running");
    this.set("agentBridge.hasPending", files.length > 0);
    this.set("agentBridge.pendingInEditor", inEditor.length > 0);
    this.set("agentBridge.hunkAtCursor", atCursor);
    this.set("agentBridge.turnRunning", running);
  }

  private set(key: string, value: boolean): void {
    if (this.keys.get(key) !== value) {
      this.keys.set(key, value);
      void vscode.commands.executeCommand("setContext", key, value);
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
  }
}

/** The last line of `uri` when it is open (a hunk appended at the end may be reported one line past it). */
function lastLineOf(uri: string): number | undefined {
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  return doc === undefined ? undefined : Math.max(doc.lineCount - 1, 0);
}

/** Where "next" starts: the cursor in a file; in a diff editor of an agent change, the file as a whole (its
 * lines are the agent's, not yours), so next goes past its hunks and previous before them. */
function here(dir: 1 | -1): { uri: string; line: number } | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    return undefined;
  }
  const uri = editor.document.uri;
  if (uri.scheme === "file") {
    return { uri: uri.toString(), line: editor.selection.active.line };
  }
  const ref = uri.scheme === AGENT_SCHEME ? parseAgentDocQuery(uri.query) : undefined;
  return ref === undefined ? undefined : { uri: ref.uri, line: dir === 1 ? Number.MAX_SAFE_INTEGER : -1 };
}
