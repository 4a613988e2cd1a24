/**
 * The Chat view: the current session's streamed transcript, the agent's mode and model pickers in its header,
 * and a composer that completes `/commands` and `@files` (attachments as chips). A webview view.
 * Links in the transcript lead here, never straight from the page: a path opens your file (its diff while
 * the session has changes to it pending), a web address opens through VS Code's external opener.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import { EMPTY_EARLIER_SESSION, EMPTY_NEW_SESSION, renderTranscript } from "./core/chatHtml";
import { chatPage } from "./core/chatPage";
import type { PathContext } from "./core/chatPaths";
import { showPath } from "./core/chatPaths";
import type { Attachment } from "./core/protocol";
import type { BridgeState } from "./core/state";
import { steeringView } from "./core/steering";
import type { Transcripts } from "./core/transcript";
import type { Mentions } from "./mentions";
import type { Steering } from "./steering";

export const CHAT_VIEW_ID = "agentBridge.chat";
const RENDER_DELAY_MS = 50;

export interface ChatActions {
  prompt(text: string, attachments: Attachment[]): Promise<void>;
  cancel(): Promise<void>;
  rewind(turnId: string): Promise<void>;
}

type FromWebview =
  | { type: "prompt"; text: string; attachments?: unknown }
  | { type: "cancel" }
  | { type: "ready" }
  | { type: "rewind"; turnId: string }
  | { type: "open"; path: string }
  | { type: "link"; href: string }
  | { type: "complete"; id: number; text: string; cursor: number }
  | { type: "setMode"; modeId: string }
  | { type: "setOption"; optionId: string; value: string | boolean };

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private view?: vscode.WebviewView;
  private timer?: ReturnType<typeof setTimeout>;
  private readonly subscriptions: { dispose(): void }[] = [];

  constructor(
    private readonly state: BridgeState,
    private readonly transcripts: Transcripts,
    private readonly actions: ChatActions,
    private readonly steering: Steering,
    private readonly mentions: Mentions,
    private readonly api: BridgeApi,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.subscriptions.push(
      state.onChange(() => this.scheduleRender()),
      steering.onDidChange(() => this.scheduleRender()),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true, localResourceRoots: [] };
    view.webview.html = chatPage(randomBytes(16).toString("base64"), view.webview.cspSource);
    this.subscriptions.push(
      view.webview.onDidReceiveMessage((msg: FromWebview) => this.receive(msg)),
      view.onDidChangeVisibility(() => view.visible && this.render()),
      view.onDidDispose(() => {
        this.view = undefined;
      }),
    );
  }

  /** A session's transcript changed; re-render if it is the one shown (or none is shown yet). */
  transcriptChanged(sessionId: string): void {
    if (this.state.currentSessionId === undefined || this.state.currentSessionId === sessionId) {
      this.scheduleRender();
    }
  }

  /** Shows the chat without taking the focus from the editor. */
  async reveal(): Promise<void> {
    if (this.view !== undefined) {
      this.view.show(true);
      return;
    }
    const editor = vscode.window.activeTextEditor;
    await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    if (editor !== undefined) {
      await vscode.window.showTextDocument(editor.document, editor.viewColumn, false);
    }
  }

  focusPrompt(): void {
    void this.view?.webview.postMessage({ type: "focus" });
  }

  private receive(msg: FromWebview): void {
    if (msg.type === "prompt") {
      const attachments = Array.isArray(msg.attachments) ? (msg.attachments as Attachment[]) : [];
      void this.actions.prompt(msg.text, attachments);
    } else if (msg.type === "complete") {
      void this.complete(msg.id, msg.text, msg.cursor);
    } else if (msg.type === "setMode" && typeof msg.modeId === "string") {
      void this.steering.setMode(msg.modeId).finally(() => this.render());
    } else if (msg.type === "setOption" && typeof msg.optionId === "string" && ["string", "boolean"].includes(typeof msg.value)) {
      void this.steering.setOption(msg.optionId, msg.value).finally(() => this.render());
    } else if (msg.type === "cancel") {
      void this.actions.cancel();
    } else if (msg.type === "rewind" && typeof msg.turnId === "string") {
      void this.actions.rewind(msg.turnId);
    } else if (msg.type === "open" && typeof msg.path === "string") {
      void this.openPath(msg.path).catch((error: unknown) => this.output.warn(`opening ${msg.path} from the chat: ${String(error)}`));
    } else if (msg.type === "link" && typeof msg.href === "string") {
      // The page only marks http(s) and mailto addresses as links; check again, it shows untrusted text.
      if (/^(https?:|mailto:)/i.test(msg.href)) {
        void vscode.env.openExternal(vscode.Uri.parse(msg.href, true));
      }
    } else if (msg.type === "ready") {
      this.render();
    }
  }

  /** Answers the composer's question "what completes the text at the cursor?" (nothing: an empty list). */
  private async complete(id: number, text: string, cursor: number): Promise<void> {
    if (typeof text !== "string" || typeof cursor !== "number") {
      return;
    }
    const answer = await this.mentions.complete(text, cursor);
    if (answer !== undefined) {
      void this.view?.webview.postMessage({ type: "completions", id, ...answer });
    }
  }

  /** Where the shown session's paths point: its worktree stands for the workspace it mirrors. */
  private paths(): PathContext {
    const session = this.state.current;
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    return {
      worktree: session?.worktree,
      workspace: session?.workspace ?? roots[0],
      roots,
      isFile: (p) => {
        try {
          return fs.statSync(p).isFile();
        } catch {
          return false;
        }
      },
    };
  }

  /** A path clicked in the chat: the diff when the session has changes to that file pending, else the file.
   * Only paths in the workspace open (the page sends what the transcript drew, but it shows agent text). */
  private async openPath(target: string): Promise<void> {
    const shown = showPath(target, this.paths());
    if (shown === undefined) {
      return;
    }
    const uri = vscode.Uri.file(shown.target);
    const sessionId = this.state.currentSessionId;
    if (sessionId !== undefined) {
      const pending = await this.api.pending(sessionId, uri.toString());
      if (pending.length > 0) {
        await vscode.commands.executeCommand("agentBridge.ui.showDiff", { sessionId, uri: uri.toString() });
        return;
      }
    }
    let stat: vscode.FileStat;
    try {
      stat = await vscode.workspace.fs.stat(uri);
    } catch {
      void vscode.window.showInformationMessage(`Agent Bridge: ${shown.label} is not in your workspace (no change to it is pending).`);
      return;
    }
    if (stat.type & vscode.FileType.Directory) {
      await vscode.commands.executeCommand("revealInExplorer", uri);
    } else {
      await vscode.window.showTextDocument(uri, { preview: true });
    }
  }

  private scheduleRender(): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.render();
      }, RENDER_DELAY_MS);
    }
  }

  private render(): void {
    const view = this.view;
    if (view === undefined) {
      return;
    }
    const sessionId = this.state.currentSessionId;
    const session = this.state.current;
    const header = session
      ? `${session.title || session.sessionId} · ${this.state.agent ?? "default agent"}`
      : `New session · ${this.state.agent ?? "default agent"}`;
    const html = renderTranscript(
      sessionId === undefined ? undefined : this.transcripts.get(sessionId),
      session?.usage,
      session === undefined ? EMPTY_NEW_SESSION : EMPTY_EARLIER_SESSION,
      this.paths(),
    );
    // After a failed or refused change the pickers are drawn again from the state: they show what holds.
    void view.webview.postMessage({ type: "render", html, header, steering: steeringView(this.steering.model.state) });
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    for (const s of this.subscriptions) {
      s.dispose();
    }
  }
}
