/**
 * Typed calls of the bridge's `workspace/executeCommand` commands over any transport: the extension passes
 * the LanguageClient's request, the protocol tests a plain vscode-languageserver-protocol connection, so
 * both run this same code. Pure: no VS Code import.
 */
import type {
  AgentInfo, AgentStateResult, ApplyResult, DiffResult, HistoryEntry, HunkSelection, PendingFile, PromptArgs, PromptResult,
  RejectResult, RewindResult, SessionInfo, TurnResult, UnrejectResult,
} from "./protocol";
import { ServerCommands } from "./protocol";

/** Sends `workspace/executeCommand {command, arguments: [arg]}` and resolves with its result. */
export type SendCommand = (command: string, arg: object) => Promise<unknown>;

export class BridgeApi {
  constructor(private readonly send: SendCommand) {}

  prompt(args: PromptArgs): Promise<PromptResult> {
    return this.call<PromptResult>(ServerCommands.prompt, dropUndefined(args));
  }

  awaitTurn(sessionId: string, turnId?: string, timeout?: number): Promise<TurnResult> {
    return this.call<TurnResult>(ServerCommands.awaitTurn, dropUndefined({ sessionId, turnId, timeout }));
  }

  async cancel(sessionId: string): Promise<boolean> {
    return (await this.call<{ cancelled: boolean }>(ServerCommands.cancel, { sessionId })).cancelled;
  }

  sessions(): Promise<SessionInfo[]> {
    return this.call<SessionInfo[]>(ServerCommands.sessions, {});
  }

  async closeSession(sessionId: string): Promise<boolean> {
    return (await this.call<{ closed: boolean }>(ServerCommands.closeSession, { sessionId })).closed;
  }

  agents(): Promise<AgentInfo[]> {
    return this.call<AgentInfo[]>(ServerCommands.agents, {});
  }

  pending(sessionId?: string, uri?: string): Promise<PendingFile[]> {
    return this.call<PendingFile[]>(ServerCommands.pending, dropUndefined({ sessionId, uri }));
  }

  apply(selection: HunkSelection): Promise<ApplyResult> {
    return this.call<ApplyResult>(ServerCommands.apply, dropUndefined({ ...selection }));
  }

  reject(selection: HunkSelection): Promise<RejectResult> {
    return this.call<RejectResult>(ServerCommands.reject, dropUndefined({ ...selection }));
  }

  /** Puts the hunks of a rejection back (pending again, same ids); fails when the worktree moved on. */
  unreject(sessionId: string, rejectionId: string): Promise<UnrejectResult> {
    return this.call<UnrejectResult>(ServerCommands.unreject, { sessionId, rejectionId });
  }

  diff(sessionId: string, uri: string): Promise<DiffResult> {
    return this.call<DiffResult>(ServerCommands.diff, { sessionId, uri });
  }

  history(sessionId: string): Promise<HistoryEntry[]> {
    return this.call<HistoryEntry[]>(ServerCommands.history, { sessionId });
  }

  /** Undoes the agent changes of `turnId` and every later turn of the session (what the user applied stays). */
  rewind(sessionId: string, turnId: string): Promise<RewindResult> {
    return this.call<RewindResult>(ServerCommands.rewind, { sessionId, turnId });
  }

  /** The modes, config options and commands `agent` (omitted: the session's last, else the default) offers. */
  agentState(sessionId: string, agent?: string): Promise<AgentStateResult> {
    return this.call<AgentStateResult>(ServerCommands.agentState, dropUndefined({ sessionId, agent }));
  }

  setMode(sessionId: string, modeId: string, agent?: string): Promise<AgentStateResult> {
    return this.call<AgentStateResult>(ServerCommands.setMode, dropUndefined({ sessionId, agent, modeId }));
  }

  setOption(sessionId: string, optionId: string, value: string | boolean, agent?: string): Promise<AgentStateResult> {
    return this.call<AgentStateResult>(ServerCommands.setOption, dropUndefined({ sessionId, agent, optionId, value }));
  }

  private async call<T>(command: string, arg: object): Promise<T> {
    return (await this.send(command, arg)) as T;
  }
}

/** The bridge rejects unknown or null fields, so optional ones left undefined must not be sent at all. */
export function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
