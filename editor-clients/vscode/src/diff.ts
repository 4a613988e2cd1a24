/**
 * The native diff editor for agent changes: the live file (what you have, unsaved edits included) against
 * the agent's version, served as a virtual read-only document by `agentBridge.diff`.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import type { AgentDocRef, Side } from "./core/agentUri";
import { AGENT_SCHEME, agentDocQuery, parseAgentDocQuery, sideText } from "./core/agentUri";
import type { HunkSelection } from "./core/protocol";

export class AgentDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly api: BridgeApi) {}

  static uri(ref: AgentDocRef): vscode.Uri {
    const file = vscode.Uri.parse(ref.uri);
    return vscode.Uri.from({ scheme: AGENT_SCHEME, path: file.path, query: agentDocQuery(ref) });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = parseAgentDocQuery(uri.query);
    if (ref === undefined) {
      return "";
    }
    try {
      return sideText(await this.api.diff(ref.sessionId, ref.uri), ref.side);
    } catch {
      // No pending change any more (applied or rejected): the agent's version is what you have.
      return liveText(vscode.Uri.parse(ref.uri));
    }
  }

  /** Pending changes of a session moved: open agent documents of it reload. */
  refresh(sessionId?: string): void {
    for (const doc of vscode.workspace.textDocuments) {
      if (doc.uri.scheme !== AGENT_SCHEME) {
        continue;
      }
      const ref = parseAgentDocQuery(doc.uri.query);
      if (ref !== undefined && (sessionId === undefined || ref.sessionId === sessionId)) {
        this.changed.fire(doc.uri);
      }
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}

async function liveText(uri: vscode.Uri): Promise<string> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open !== undefined) {
    return open.getText();
  }
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    return "";
  }
}

/** Open in the editor or on disk. */
export async function exists(uri: vscode.Uri): Promise<boolean> {
  if (vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString())) {
    return true;
  }
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

/** Opens the diff editor for the file of `selection`: your live file on the left, the agent's on the right. */
export async function showDiff(api: BridgeApi, selection: HunkSelection & { uri: string }): Promise<void> {
  const diff = await api.diff(selection.sessionId, selection.uri);
  const file = vscode.Uri.parse(selection.uri);
  const side = (s: Side): vscode.Uri => AgentDocuments.uri({ sessionId: selection.sessionId, uri: selection.uri, side: s });
  const left = diff.baseText !== null && (await exists(file)) ? file : side("base");
  const pending = await api.pending(selection.sessionId, selection.uri);
  const agents = [...new Set(pending.flatMap((f) => f.hunks.map((h) => h.agent)))].join(", ") || "agent";
  const name = path.posix.basename(file.path);
  const title = `${name} (yours ↔ ${agents}, ${diff.change})`;
  await vscode.commands.executeCommand("vscode.diff", left, side("agent"), title, { preview: true });
}
