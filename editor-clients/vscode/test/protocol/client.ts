/**
 * A plain LSP client (vscode-languageserver-protocol, the library under vscode-languageclient) for the real
 * `agent-bridge serve`: it keeps open documents, applies the server's workspace edits to them as VS Code
 * would, answers permission questions, and records events, progress and diagnostics.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type {
  ApplyWorkspaceEditParams, ApplyWorkspaceEditResult, CodeLens, Diagnostic, LogMessageParams, MessageActionItem,
  ProtocolConnection, ShowMessageRequestParams, TextDocumentEdit, TextEdit,
} from "vscode-languageserver-protocol/node";
import {
  ApplyWorkspaceEditRequest, CodeLensRefreshRequest, CodeLensRequest, createProtocolConnection,
  DidChangeTextDocumentNotification, DidOpenTextDocumentNotification, ExecuteCommandRequest, ExitNotification,
  InitializedNotification, InitializeRequest, LogMessageNotification, PublishDiagnosticsNotification, ShowMessageRequest, ShutdownRequest,
  StreamMessageReader, StreamMessageWriter, WorkDoneProgressCreateRequest,
} from "vscode-languageserver-protocol/node";
import type { SendCommand } from "../../src/core/api";
import { EVENT_NOTIFICATION, EVENTS_CAPABILITY } from "../../src/core/protocol";
import type { BridgeEvent } from "../../src/core/protocol";

const REPO = path.resolve(__dirname, "..", "..", "..", "..", "..");

export function agentBridgeExecutable(): string | undefined {
  const candidate = process.env.AGENT_BRIDGE ?? path.join(REPO, ".venv", "bin", "agent-bridge");
  return fs.existsSync(candidate) ? candidate : undefined;
}

export function makeRepo(dir: string, files: Record<string, string>): string {
  const env = {
    ...process.env, GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "T",
    GIT_COMMITTER_EMAIL: "t@example.com",
  };
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: dir, env });
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), text);
  }
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-q", "-m", "initial"], { cwd: dir, env });
  return dir;
}

export function uriOf(file: string): string {
  return pathToFileURL(file).toString();
}

interface OpenDoc {
  text: string;
  version: number;
}

export class TestClient {
  readonly events: BridgeEvent[] = [];
  readonly progress: unknown[] = [];
  readonly diagnostics = new Map<string, Diagnostic[]>();
  readonly questions: ShowMessageRequestParams[] = [];
  /** `window/logMessage`s, e.g. the server's configuration warnings. */
  readonly logs: LogMessageParams[] = [];
  readonly docs = new Map<string, OpenDoc>();
  /** How to answer `window/showMessageRequest` (permission questions); default: dismiss. */
  answer: (params: ShowMessageRequestParams) => string | null = () => null;
  private readonly waiters: (() => void)[] = [];
  private connection!: ProtocolConnection;
  private proc!: ChildProcess;
  stderr = "";

  /** The extension's API runs over this: one executeCommand with one argument. */
  readonly send: SendCommand = (command, arg) =>
    this.connection.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] });

  async start(exe: string, workspace: string, stateDir: string, initializationOptions: object): Promise<void> {
    // `serve` attaches to the state dir's daemon; with no linger it ends with this client, as a test's should.
    const env = { ...process.env, AGENT_BRIDGE_DAEMON_LINGER: "0" };
    this.proc = spawn(exe, ["serve", "--state-dir", stateDir], { cwd: workspace, env, stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    const conn = createProtocolConnection(
      new StreamMessageReader(this.proc.stdout!), new StreamMessageWriter(this.proc.stdin!),
    );
    this.connection = conn;
    conn.onNotification(EVENT_NOTIFICATION, (params: BridgeEvent) => {
      this.events.push(params);
      this.wake();
    });
    conn.onNotification(PublishDiagnosticsNotification.type, (params) => {
      this.diagnostics.set(params.uri, params.diagnostics);
      this.wake();
    });
    conn.onNotification(LogMessageNotification.type, (params) => {
      this.logs.push(params);
      this.wake();
    });
    conn.onNotification("$/progress", (params: unknown) => {
      this.progress.push(params);
      this.wake();
    });
    conn.onRequest(WorkDoneProgressCreateRequest.type, () => undefined);
    conn.onRequest(CodeLensRefreshRequest.type, () => undefined);
    conn.onRequest(ShowMessageRequest.type, (params): MessageActionItem | null => {
      this.questions.push(params);
      this.wake();
      const title = this.answer(params);
      return title === null ? null : { title };
    });
    conn.onRequest(ApplyWorkspaceEditRequest.type, (params) => this.applyEdit(params));
    conn.listen();
    const folder = uriOf(workspace);
    await conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: folder,
      workspaceFolders: [{ uri: folder, name: path.basename(workspace) }],
      clientInfo: { name: "agent-bridge protocol tests" },
      initializationOptions,
      capabilities: {
        workspace: {
          applyEdit: true,
          workspaceEdit: { documentChanges: true, resourceOperations: ["create", "rename", "delete"] },
          codeLens: { refreshSupport: true },
          executeCommand: {},
        },
        window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: false } } },
        textDocument: { synchronization: { dynamicRegistration: false }, codeLens: {}, codeAction: {}, publishDiagnostics: {} },
        experimental: EVENTS_CAPABILITY,
      },
    });
    await conn.sendNotification(InitializedNotification.type, {});
  }

  async open(uri: string, text: string, languageId = "python"): Promise<void> {
    this.docs.set(uri, { text, version: 1 });
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId, version: 1, text },
    });
  }

  /** Replaces a document's text, as an editor does on undo or typing. */
  async change(uri: string, text: string): Promise<void> {
    const doc = this.docs.get(uri);
    if (doc === undefined) {
      throw new Error(`${uri} is not open`);
    }
    doc.text = text;
    doc.version += 1;
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: doc.version },
      contentChanges: [{ text }],
    });
  }

  codeLenses(uri: string): Promise<CodeLens[] | null> {
    return this.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
  }

  /** Resolves when `predicate` holds (checked on every message from the server), or fails after `ms`. */
  async until<T>(what: string, predicate: () => T | undefined | false, ms = 15_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = predicate();
      if (value !== undefined && value !== false) {
        return value;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; server stderr:\n${this.stderr.slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  eventsOf(turnId: string): BridgeEvent[] {
    return this.events.filter((e) => e.turnId === turnId);
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.connection.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 5000).unref())]);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // the server may be gone already
    }
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGKILL");
    }
    this.connection.dispose();
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) {
      resolve();
    }
  }

  /** Applies text edits to open documents (versions checked) and reports didChange, like VS Code. */
  private async applyEdit(params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const changes: TextDocumentEdit[] = [];
    for (const change of params.edit.documentChanges ?? []) {
      if (!("textDocument" in change)) {
        return { applied: false, failureReason: `resource operations are not supported by the test client` };
      }
      changes.push(change);
    }
    for (const [uri, edits] of Object.entries(params.edit.changes ?? {})) {
      changes.push({ textDocument: { uri, version: null }, edits });
    }
    for (const change of changes) {
      const doc = this.docs.get(change.textDocument.uri);
      if (doc === undefined) {
        return { applied: false, failureReason: `${change.textDocument.uri} is not open` };
      }
      if (change.textDocument.version !== null && change.textDocument.version !== doc.version) {
        return { applied: false, failureReason: `version ${change.textDocument.version} != ${doc.version}` };
      }
    }
    for (const change of changes) {
      const doc = this.docs.get(change.textDocument.uri)!;
      await this.change(change.textDocument.uri, applyTextEdits(doc.text, change.edits as TextEdit[]));
    }
    return { applied: true };
  }
}

function offsetAt(text: string, line: number, character: number): number {
  let offset = 0;
  for (let i = 0; i < line; i++) {
    const next = text.indexOf("\n", offset);
    if (next < 0) {
      return text.length;
    }
    offset = next + 1;
  }
  return Math.min(offset + character, text.length);
}

export function applyTextEdits(text: string, edits: TextEdit[]): string {
  const withOffsets = edits.map((e) => ({
    start: offsetAt(text, e.range.start.line, e.range.start.character),
    end: offsetAt(text, e.range.end.line, e.range.end.character),
    newText: e.newText,
  }));
  withOffsets.sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const e of withOffsets) {
    out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  }
  return out;
}
