/** The Pending Changes tree: session → files → hunks, each attributed to its agent, refreshed on events. */
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import type { FileNode, HunkNode, PendingNode, SessionNode } from "./core/pendingModel";
import { buildPendingTree, hunkClick, selectionOf } from "./core/pendingModel";
import type { PendingFile } from "./core/protocol";
import type { BridgeState } from "./core/state";

export const PENDING_VIEW_ID = "agentBridge.pending";
const REFRESH_DELAY_MS = 100;

export class PendingTree implements vscode.TreeDataProvider<PendingNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<PendingNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly loaded = new vscode.EventEmitter<void>();
  /** Fires after each refresh that got the server's pending files (`files` is new). */
  readonly onDidLoad = this.loaded.event;
  private roots: SessionNode[] = [];
  private timer?: ReturnType<typeof setTimeout>;
  private chain: Promise<void> = Promise.resolve();
  /** The pending files from the last refresh, for commands that pick a hunk. */
  files: PendingFile[] = [];

  constructor(
    private readonly api: BridgeApi,
    private readonly state: BridgeState,
    private readonly canQuery: () => boolean,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  /** Asks for a refresh soon; several requests in a burst make one round trip. */
  scheduleRefresh(): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.refresh();
      }, REFRESH_DELAY_MS);
    }
  }

  /** Refreshes now (after any refresh in flight) and resolves when the tree holds the server's state. */
  refresh(): Promise<void> {
    this.chain = this.chain.then(() => this.load());
    return this.chain;
  }

  private async load(): Promise<void> {
    if (!this.canQuery()) {
      return;
    }
    try {
      const [sessions, files] = await Promise.all([this.api.sessions(), this.api.pending()]);
      this.files = files;
      this.state.setSessions(sessions);
      const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
      this.roots = buildPendingTree(sessions, files, roots, this.state.currentSessionId);
      this.changed.fire(undefined);
      this.loaded.fire();
    } catch (error) {
      this.output.warn(`refreshing pending changes: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  getChildren(node?: PendingNode): PendingNode[] {
    if (node === undefined) {
      return this.roots;
    }
    if (node.kind === "session") {
      return node.files;
    }
    if (node.kind === "file") {
      return node.hunks;
    }
    return [];
  }

  getTreeItem(node: PendingNode): vscode.TreeItem {
    switch (node.kind) {
      case "session":
        return sessionItem(node);
      case "file":
        return fileItem(node);
      case "hunk":
        return hunkItem(node);
    }
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.changed.dispose();
    this.loaded.dispose();
  }
}

function sessionItem(node: SessionNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `session:${node.sessionId}`;
  item.description = node.description;
  item.tooltip = `Session ${node.sessionId}`;
  item.contextValue = "session";
  item.iconPath = new vscode.ThemeIcon(node.current ? "comment-discussion" : "comment");
  return item;
}

function fileItem(node: FileNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `file:${node.sessionId}:${node.uri}`;
  item.resourceUri = vscode.Uri.parse(node.uri);
  item.description = node.description;
  item.contextValue = "file";
  item.command = { title: "Show Diff", command: "agentBridge.ui.showDiff", arguments: [selectionOf(node)] };
  return item;
}

function hunkItem(node: HunkNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
  item.id = `hunk:${node.sessionId}:${node.uri}:${node.hunkId}`;
  item.description = node.description;
  item.contextValue = "hunk";
  if (node.conflict) {
    // Applying the file or the session skips a conflict hunk; applying it alone puts the agent's lines over yours.
    item.tooltip = `${node.label}: conflict (hunk ${node.hunkId})${node.conflictReason ? `\n${node.conflictReason}` : ""}` +
      "\nApply this change to replace your lines with the agent's; Apply File/All skip it.";
    item.iconPath = new vscode.ThemeIcon("warning", new vscode.ThemeColor("list.warningForeground"));
  } else {
    item.tooltip = `${node.label} (hunk ${node.hunkId})`;
    item.iconPath = new vscode.ThemeIcon("diff");
  }
  const click = hunkClick(node);
  item.command = click.kind === "diff"
    ? { title: "Show Diff", command: "agentBridge.ui.showDiff", arguments: [click.selection] }
    : {
        title: "Go to Change",
        command: "vscode.open",
        arguments: [vscode.Uri.parse(node.uri), { selection: new vscode.Range(click.line, 0, click.line, 0), preview: true }],
      };
  return item;
}
