/**
 * The inline preview: each pending hunk shown where it lives. The lines it removes are struck through on a
 * "removed" background; the agent's lines show right below them, read-only, in a comment-style block (the one
 * stable API that puts whole lines between editor lines), whose title bar has Apply and Reject. It follows
 * the pending hunks (the tree's refreshes) and your edits (the bridge's diagnostics move with them).
 * `agentBridge.review.inlinePreview` turns it off; "Toggle Inline Preview" flips the setting.
 */
import * as vscode from "vscode";
import type { PreviewBlock } from "./core/reviewModel";
import { previewBlocks } from "./core/reviewModel";
import type { HunkSelection } from "./core/protocol";
import { liveRanges } from "./liveRanges";
import type { PendingTree } from "./pendingTree";

export const PREVIEW_SETTING = "agentBridge.review.inlinePreview";
export const PREVIEW_CONTROLLER_ID = "agentBridge.preview";

interface Shown {
  thread: vscode.CommentThread;
  selection: HunkSelection;
  anchor: number;
}

export class InlinePreview implements vscode.Disposable {
  private readonly removed = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor("diffEditor.removedLineBackground"),
    textDecoration: "line-through",
    overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.deletedForeground"),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  private readonly controller = vscode.comments.createCommentController(PREVIEW_CONTROLLER_ID, "Agent changes");
  /** Comment threads by `session|uri|hunk`. */
  private readonly threads = new Map<string, Shown>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly tree: PendingTree) {
    // No commenting ranges: the user does not write here, so no "+" in the gutter.
    this.controller.options = { prompt: "", placeHolder: "" };
    this.subscriptions = [
      tree.onDidLoad(() => this.update()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.update()),
      vscode.languages.onDidChangeDiagnostics((e) => {
        const visible = new Set(vscode.window.visibleTextEditors.map((ed) => ed.document.uri.toString()));
        if (e.uris.some((u) => visible.has(u.toString()))) {
          this.update();
        }
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(PREVIEW_SETTING)) {
          this.update();
        }
      }),
    ];
  }

  get enabled(): boolean {
    return vscode.workspace.getConfiguration().get<boolean>(PREVIEW_SETTING, true);
  }

  /** Flips the setting where it is set (the workspace's if it has one, else the user's). */
  async toggle(): Promise<void> {
    const inspect = vscode.workspace.getConfiguration().inspect<boolean>(PREVIEW_SETTING);
    const target = inspect?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    const on = !this.enabled;
    await vscode.workspace.getConfiguration().update(PREVIEW_SETTING, on, target);
    vscode.window.setStatusBarMessage(`Agent Bridge: inline preview ${on ? "on" : "off"}`, 3000);
  }

  /** What a preview block's Apply / Reject acts on (the title bar's buttons pass their thread). */
  selectionOf(thread: unknown): HunkSelection | undefined {
    for (const shown of this.threads.values()) {
      if (shown.thread === thread) {
        return shown.selection;
      }
    }
    return undefined;
  }

  update(): void {
    const on = this.enabled;
    const wanted = new Set<string>();
    for (const editor of vscode.window.visibleTextEditors) {
      const uri = editor.document.uri;
      if (uri.scheme !== "file") {
        continue;
      }
      const blocks = on ? previewBlocks(this.tree.files, uri.toString(), liveRanges(uri)) : [];
      const last = Math.max(editor.document.lineCount - 1, 0);
      const clamp = (line: number): number => Math.min(Math.max(line, 0), last);
      editor.setDecorations(this.removed, blocks.flatMap((b) => b.removed === undefined
        ? []
        : [new vscode.Range(clamp(b.removed.startLine), 0, clamp(b.removed.endLine), 0)]));
      for (const block of blocks) {
        if (block.added === "") {
          continue;
        }
        const key = `${block.sessionId}|${block.uri}|${block.hunkId}`;
        wanted.add(key);
        this.show(key, block, editor.document, clamp(block.anchorLine));
      }
    }
    for (const [key, shown] of this.threads) {
      if (!wanted.has(key)) {
        shown.thread.dispose();
        this.threads.delete(key);
      }
    }
  }

  private show(key: string, block: PreviewBlock, document: vscode.TextDocument, anchor: number): void {
    const existing = this.threads.get(key);
    const range = new vscode.Range(anchor, 0, anchor, 0);
    if (existing !== undefined) {
      if (existing.anchor !== anchor) {
        existing.thread.range = range;
        existing.anchor = anchor;
      }
      return;
    }
    const comment: vscode.Comment = {
      author: { name: block.agent },
      body: body(block, document.languageId),
      mode: vscode.CommentMode.Preview,
      contextValue: "agentBridge.pendingHunk",
    };
    const thread = this.controller.createCommentThread(document.uri, range, [comment]);
    thread.label = `${block.agent}: ${block.summary}${block.conflict ? " (conflict with your edit)" : ""}`;
    thread.canReply = false;
    thread.contextValue = "agentBridge.pendingHunk";
    thread.collapsibleState = vscode.CommentThreadCollapsibleState.Expanded;
    this.threads.set(key, { thread, selection: { sessionId: block.sessionId, uri: block.uri, hunkId: block.hunkId }, anchor });
  }

  dispose(): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
    for (const shown of this.threads.values()) {
      shown.thread.dispose();
    }
    this.threads.clear();
    this.controller.dispose();
    this.removed.dispose();
  }
}

/** The agent's lines as a highlighted code block (a fence longer than any run of backticks in them). */
function body(block: PreviewBlock, languageId: string): vscode.MarkdownString {
  const longest = Math.max(0, ...(block.added.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  const where = block.above ? "above line 1" : "";
  const text = new vscode.MarkdownString(`${where ? `*${where}*\n\n` : ""}${fence}${languageId}\n${block.added}\n${fence}`);
  text.supportHtml = false;
  return text;
}
