/** The palette commands: prompt, cancel, sessions, agent choice, review (delegated) and server upkeep. */
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import type { PendingNode } from "./core/pendingModel";
import { attachmentsOf } from "./core/composer";
import type { Attachment, PromptArgs } from "./core/protocol";
import type { BridgeState } from "./core/state";
import type { Transcripts } from "./core/transcript";
import type { ChatView } from "./chat";
import type { Conversation } from "./conversation";
import type { ReviewNavigation } from "./navigate";
import type { PendingTree } from "./pendingTree";
import type { InlinePreview } from "./preview";
import type { Review, ReviewArg } from "./review";
import type { ServerSupervisor } from "./server";
import type { Steering } from "./steering";

export const CURRENT_SESSION_KEY = "agentBridge.currentSession";
export const CHOSEN_AGENT_KEY = "agentBridge.chosenAgent";

export interface CommandDeps {
  context: vscode.ExtensionContext;
  api: BridgeApi;
  state: BridgeState;
  transcripts: Transcripts;
  chat: ChatView;
  tree: PendingTree;
  review: Review;
  navigation: ReviewNavigation;
  preview: InlinePreview;
  server: ServerSupervisor;
  conversation: Conversation;
  steering: Steering;
  output: vscode.LogOutputChannel;
}

export class Commands {
  constructor(private readonly d: CommandDeps) {}

  register(): vscode.Disposable[] {
    const r = (id: string, fn: (...args: never[]) => Promise<void> | void): vscode.Disposable =>
      vscode.commands.registerCommand(id, async (...args: never[]) => {
        try {
          await fn(...args);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          this.d.output.error(`${id}: ${message}`);
          void vscode.window.showErrorMessage(`Agent Bridge: ${message}`);
        }
      });
    const { review } = this.d;
    return [
      r("agentBridge.ui.prompt", (arg?: string | { text?: string }) => this.prompt(typeof arg === "string" ? arg : arg?.text)),
      r("agentBridge.ui.cancel", () => this.cancel()),
      r("agentBridge.ui.newSession", () => this.newSession()),
      r("agentBridge.ui.switchSession", () => this.switchSession()),
      r("agentBridge.ui.closeSession", (node?: PendingNode) => this.closeSession(node?.sessionId)),
      r("agentBridge.ui.chooseAgent", () => this.chooseAgent()),
      r("agentBridge.ui.chooseMode", () => this.d.steering.chooseMode()),
      r("agentBridge.ui.chooseModel", () => this.d.steering.chooseModel()),
      r("agentBridge.ui.chooseOption", () => this.d.steering.chooseOption()),
      // Named apart from the server's `agentBridge.rewind`, which the language client registers as a command.
      r("agentBridge.ui.rewind", (turnId?: string) => this.d.conversation.rewind(typeof turnId === "string" ? turnId : undefined)),
      r("agentBridge.ui.applyHunk", (arg?: ReviewArg) => review.apply("hunk", arg)),
      r("agentBridge.ui.rejectHunk", (arg?: ReviewArg) => review.reject("hunk", arg)),
      r("agentBridge.ui.applyFile", (arg?: ReviewArg) => review.apply("file", arg)),
      r("agentBridge.ui.rejectFile", (arg?: ReviewArg) => review.reject("file", arg)),
      r("agentBridge.ui.applyAll", (arg?: ReviewArg) => review.apply("all", arg)),
      r("agentBridge.ui.rejectAll", (arg?: ReviewArg) => review.reject("all", arg)),
      r("agentBridge.ui.showDiff", (arg?: ReviewArg) => review.diff(arg)),
      r("agentBridge.ui.nextHunk", () => this.d.navigation.step(1)),
      r("agentBridge.ui.previousHunk", () => this.d.navigation.step(-1)),
      r("agentBridge.ui.undoReject", () => review.unreject()),
      r("agentBridge.ui.toggleInlinePreview", () => this.d.preview.toggle()),
      r("agentBridge.ui.refresh", () => this.d.tree.refresh()),
      r("agentBridge.ui.restartServer", () => this.d.server.restart()),
      r("agentBridge.ui.showLog", () => this.d.output.show(true)),
    ];
  }

  /** Prompts the chosen agent in the current session (a new one if none). From the palette (no
   * `attachments`) the editor's selection goes along as context; from the chat, what the user attached. */
  async prompt(given?: string, attachments?: Attachment[]): Promise<void> {
    const { state } = this.d;
    const text = given ?? (await vscode.window.showInputBox({
      title: `Prompt ${state.agent ?? "the agent"}${state.current ? ` (${state.current.title || "current session"})` : " (new session)"}`,
      prompt: "The selection, if any, goes along as context. Use the Chat view for prompts of several lines.",
      placeHolder: "What should the agent do?",
      ignoreFocusOut: true,
    }));
    if (text === undefined || text.trim() === "") {
      return;
    }
    const sessionId = state.currentSessionId;
    // No current session (none yet, or "New session"): start one, as the prompt box says; without
    // `newSession` the bridge would continue the workspace's latest session instead.
    const args: PromptArgs = sessionId !== undefined
      ? { text, agent: state.chosenAgent, sessionId }
      : { text, agent: state.chosenAgent, newSession: true };
    const attached = attachmentsOf(attachments ?? []);
    // Left out when empty: a bridge without attachments refuses the unknown field.
    if (attached.length > 0) {
      args.attachments = attached;
    }
    const editor = vscode.window.activeTextEditor;
    if (attachments === undefined && editor !== undefined && editor.document.uri.scheme === "file" && !editor.selection.isEmpty) {
      const s = editor.selection;
      args.uri = editor.document.uri.toString();
      args.range = {
        start: { line: s.start.line, character: s.start.character },
        end: { line: s.end.line, character: s.end.character },
      };
    }
    let result;
    try {
      result = await this.d.api.prompt(args);
    } catch (error) {
      if (args.sessionId === undefined || !String(error instanceof Error ? error.message : error).includes("unknown session")) {
        throw error;
      }
      // The session was closed elsewhere: start a new one.
      state.removeSession(args.sessionId);
      result = await this.d.api.prompt({ ...args, sessionId: undefined, newSession: true });
    }
    const agent = state.chosenAgent ?? state.defaultAgent ?? "agent";
    this.d.transcripts.startTurn(result.sessionId, result.turnId, agent, text);
    state.prompted(result.sessionId, result.turnId, state.chosenAgent ?? state.defaultAgent, text);
    await this.d.context.workspaceState.update(CURRENT_SESSION_KEY, result.sessionId);
    this.d.chat.transcriptChanged(result.sessionId);
    this.d.tree.scheduleRefresh();
    await this.d.chat.reveal();
  }

  async cancel(): Promise<void> {
    const session = this.d.state.current ?? this.d.state.list().find((s) => s.turn === "running");
    if (session === undefined) {
      void vscode.window.showInformationMessage("Agent Bridge: no session to cancel.");
      return;
    }
    const cancelled = await this.d.api.cancel(session.sessionId);
    if (!cancelled) {
      void vscode.window.showInformationMessage("Agent Bridge: no turn is running.");
    }
  }

  async newSession(): Promise<void> {
    this.d.state.setCurrent(undefined);
    await this.d.context.workspaceState.update(CURRENT_SESSION_KEY, undefined);
    await vscode.commands.executeCommand("agentBridge.chat.focus");
    this.d.chat.focusPrompt();
  }

  async switchSession(): Promise<void> {
    const sessions = await this.d.api.sessions();
    this.d.state.setSessions(sessions);
    type Item = vscode.QuickPickItem & { sessionId?: string };
    const items: Item[] = sessions.map((s) => ({
      label: `${s.sessionId === this.d.state.currentSessionId ? "$(check) " : ""}${s.title || s.sessionId}`,
      description: [s.agents.map((a) => `${a.agent} (${a.status})`).join(", "), s.busy ? "running" : "",
        s.pendingHunks ? `${s.pendingHunks} pending` : ""].filter(Boolean).join(" · "),
      detail: `${s.sessionId} · started ${s.createdAt}`,
      sessionId: s.sessionId,
    }));
    items.push({ label: "$(add) New session", description: "the next prompt starts it" });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Switch to session" });
    if (pick === undefined) {
      return;
    }
    this.d.state.setCurrent(pick.sessionId);
    await this.d.context.workspaceState.update(CURRENT_SESSION_KEY, pick.sessionId);
    await this.d.tree.refresh();
  }

  async closeSession(sessionId?: string): Promise<void> {
    const sessions = await this.d.api.sessions();
    let id = sessionId;
    if (id === undefined) {
      const items = sessions.map((s) => ({
        label: s.title || s.sessionId,
        description: `${s.sessionId === this.d.state.currentSessionId ? "current · " : ""}${s.pendingHunks} pending`,
        sessionId: s.sessionId,
      }));
      if (items.length === 0) {
        void vscode.window.showInformationMessage("Agent Bridge: no open sessions.");
        return;
      }
      items.sort((a, b) => Number(b.sessionId === this.d.state.currentSessionId) - Number(a.sessionId === this.d.state.currentSessionId));
      id = (await vscode.window.showQuickPick(items, { placeHolder: "Close which session?" }))?.sessionId;
    }
    if (id === undefined) {
      return;
    }
    const info = sessions.find((s) => s.sessionId === id);
    if (info !== undefined && info.pendingHunks > 0) {
      const ok = await vscode.window.showWarningMessage(
        `Close "${info.title || id}"? Its ${info.pendingHunks} unreviewed change${info.pendingHunks === 1 ? " is" : "s are"} kept in git at refs/agent-bridge/archive/${id}.`,
        { modal: true },
        "Close Session",
      );
      if (ok !== "Close Session") {
        return;
      }
    }
    await this.d.api.closeSession(id);
    this.d.transcripts.forget(id);
    this.d.state.removeSession(id);
    if (this.d.context.workspaceState.get(CURRENT_SESSION_KEY) === id) {
      await this.d.context.workspaceState.update(CURRENT_SESSION_KEY, undefined);
    }
    await this.d.tree.refresh();
  }

  async chooseAgent(): Promise<void> {
    const agents = await this.d.api.agents();
    type Item = vscode.QuickPickItem & { name?: string };
    const items: Item[] = agents.map((a) => ({
      label: `${a.name === this.d.state.agent ? "$(check) " : ""}${a.name}`,
      description: `${a.protocol}${a.default ? " · default" : ""}${a.available ? "" : " · not installed"}`,
      detail: a.detail,
      name: a.name,
    }));
    items.push({ label: "$(settings) Use the configured default", name: undefined });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Agent for the next prompts" });
    if (pick === undefined) {
      return;
    }
    this.d.state.chooseAgent(pick.name);
    await this.d.context.workspaceState.update(CHOSEN_AGENT_KEY, pick.name);
  }
}
