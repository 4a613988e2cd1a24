/** Entry point: wires the server, the state, the views and the commands together. */
import * as vscode from "vscode";
import { ChatView, CHAT_VIEW_ID } from "./chat";
import { Commands, CHOSEN_AGENT_KEY, CURRENT_SESSION_KEY } from "./commands";
import { ConflictDecorations } from "./conflicts";
import { Conversation } from "./conversation";
import { AGENT_SCHEME } from "./core/agentUri";
import { BridgeApi } from "./core/api";
import { RESTART_SECTIONS } from "./core/settings";
import { BridgeState } from "./core/state";
import { Transcripts } from "./core/transcript";
import { AgentDocuments } from "./diff";
import { EventRouter } from "./events";
import { Mentions } from "./mentions";
import { ReviewNavigation } from "./navigate";
import { PENDING_VIEW_ID, PendingTree } from "./pendingTree";
import { InlinePreview } from "./preview";
import { Review } from "./review";
import { ServerSupervisor } from "./server";
import { StatusItem, SteeringStatus } from "./status";
import { Steering } from "./steering";

let supervisor: ServerSupervisor | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Agent Bridge", { log: true });
  const state = new BridgeState();
  state.currentSessionId = context.workspaceState.get<string>(CURRENT_SESSION_KEY);
  state.chosenAgent = context.workspaceState.get<string>(CHOSEN_AGENT_KEY);
  const transcripts = new Transcripts();

  const server = new ServerSupervisor(output, state);
  supervisor = server;
  const api = new BridgeApi(server.send);
  const docs = new AgentDocuments(api);
  const tree = new PendingTree(api, state, () => server.running, output);
  const review = new Review(api, state, tree, docs);
  const preview = new InlinePreview(tree);
  review.preview = preview;
  const navigation = new ReviewNavigation(api, state, tree);
  const showError = (error: unknown): void => {
    void vscode.window.showErrorMessage(`Agent Bridge: ${error instanceof Error ? error.message : String(error)}`);
  };
  const steering = new Steering(api, state, output);
  const mentions = new Mentions(steering);
  const chat: ChatView = new ChatView(state, transcripts, {
    prompt: (text, attachments): Promise<void> => commands.prompt(text, attachments).catch(showError),
    cancel: (): Promise<void> => commands.cancel(),
    rewind: (turnId): Promise<void> => conversation.rewind(turnId).catch(showError),
  }, steering, mentions, api, output);
  const conversation = new Conversation({
    api, state, transcripts, output,
    changed: (sessionId) => chat.transcriptChanged(sessionId),
    pendingChanged: (sessionId) => {
      void tree.refresh();
      docs.refresh(sessionId);
    },
  });
  const commands: Commands = new Commands({
    context, api, state, transcripts, chat, tree, review, navigation, preview, server, conversation, steering, output,
  });
  const router = new EventRouter(state, transcripts, {
    transcriptChanged: (sessionId) => chat.transcriptChanged(sessionId),
    pendingChanged: (sessionId) => {
      tree.scheduleRefresh();
      docs.refresh(sessionId);
    },
    steering: (event) => steering.handleEvent(event),
  }, output);
  server.middleware = review.middleware();
  server.onEvent = (params) => router.handle(params);

  context.subscriptions.push(
    output,
    server,
    docs,
    tree,
    chat,
    conversation,
    new ConflictDecorations(tree),
    preview,
    navigation,
    steering,
    mentions,
    new StatusItem(state),
    new SteeringStatus(steering),
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, chat, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.window.createTreeView(PENDING_VIEW_ID, { treeDataProvider: tree, showCollapseAll: true }),
    vscode.workspace.registerTextDocumentContentProvider(AGENT_SCHEME, docs),
    ...commands.register(),
    server.onReady(() => {
      void tree.refresh();
      void conversation.serverReady();
      // Whether agents can run sandboxed here, for the status bar; a failure only leaves it unknown.
      api.agents().then((agents) => state.setAgents(agents), () => undefined);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (RESTART_SECTIONS.some((s) => e.affectsConfiguration(s))) {
        output.info("settings changed: restarting the server");
        void server.restart();
      }
    }),
  );
  await server.start();
}

export async function deactivate(): Promise<void> {
  await supervisor?.stop();
  supervisor = undefined;
}
