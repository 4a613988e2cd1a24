/**
 * What the extension knows about the bridge: server state, open sessions, the current session, the chosen
 * agent and each session's turn. Events and command results update it; views subscribe. Pure: no VS Code.
 */
import type { AgentInfo, BridgeEvent, SessionInfo, TurnStatus, Usage } from "./protocol";

export type ServerState = "starting" | "running" | "restarting" | "stopped";
export type TurnState = "idle" | "running" | TurnStatus;

export interface SessionView {
  sessionId: string;
  title: string;
  agents: string[];
  turn: TurnState;
  turnId?: string;
  /** The agent of the running (or last) turn. */
  turnAgent?: string;
  pendingHunks: number;
  pendingFiles?: number;
  /** Tokens and cost so far per agent, as `agentBridge.sessions` reports them (updated after each turn). */
  usage: { agent: string; usage: Usage }[];
  /** The session's worktree and the workspace it mirrors (the chat shows worktree paths relative to it). */
  worktree?: string;
  workspace?: string;
}

export type Listener = () => void;

export interface SandboxStatus {
  /** Why sandboxes cannot be made here (undefined: they can). */
  problem?: string;
  /** The agents set to run sandboxed: while `problem` is set they refuse to start. */
  sandboxed: string[];
}

export class BridgeState {
  server: ServerState = "starting";
  serverDetail?: string;
  currentSessionId?: string;
  /** The agent the user picked with "Choose Agent"; undefined: the configured default. */
  chosenAgent?: string;
  defaultAgent?: string;
  /** Whether agents can run sandboxed here, and which are set to (from `agentBridge.agents`); unknown before. */
  sandbox?: SandboxStatus;
  private readonly sessions = new Map<string, SessionView>();
  private readonly listeners = new Set<Listener>();

  onChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  get agent(): string | undefined {
    return this.chosenAgent || this.defaultAgent || undefined;
  }

  get current(): SessionView | undefined {
    return this.currentSessionId === undefined ? undefined : this.sessions.get(this.currentSessionId);
  }

  list(): SessionView[] {
    return [...this.sessions.values()];
  }

  session(sessionId: string): SessionView | undefined {
    return this.sessions.get(sessionId);
  }

  setServer(state: ServerState, detail?: string): void {
    this.server = state;
    this.serverDetail = detail;
    this.changed();
  }

  setCurrent(sessionId: string | undefined): void {
    this.currentSessionId = sessionId;
    this.changed();
  }

  chooseAgent(agent: string | undefined): void {
    this.chosenAgent = agent;
    this.changed();
  }

  /** Takes the sandbox facts from the server's agent list (`agentBridge.agents`). */
  setAgents(agents: AgentInfo[]): void {
    const problem = agents.find((a) => typeof a.sandboxProblem === "string")?.sandboxProblem ?? undefined;
    this.sandbox = { problem: problem ?? undefined, sandboxed: agents.filter((a) => a.sandbox).map((a) => a.name) };
    this.changed();
  }

  /** Replaces the session list with the server's (`agentBridge.sessions`), keeping turn states we know. */
  setSessions(infos: SessionInfo[]): void {
    const seen = new Set<string>();
    for (const info of infos) {
      seen.add(info.sessionId);
      const view = this.ensure(info.sessionId);
      view.title = info.title;
      view.agents = info.agents.map((a) => a.agent);
      view.usage = info.agents.filter((a) => a.usage !== undefined).map((a) => ({ agent: a.agent, usage: a.usage ?? {} }));
      view.pendingHunks = info.pendingHunks;
      view.worktree = info.worktree ?? view.worktree;
      view.workspace = info.workspace ?? view.workspace;
      if (info.busy && view.turn !== "running") {
        view.turn = "running";
      } else if (info.busy === false && view.turn === "running") {
        view.turn = "idle";
      }
    }
    for (const id of [...this.sessions.keys()]) {
      if (!seen.has(id)) {
        this.sessions.delete(id);
      }
    }
    if (this.currentSessionId !== undefined && !this.sessions.has(this.currentSessionId)) {
      this.currentSessionId = undefined;
    }
    this.changed();
  }

  /** A prompt was queued: the session exists (maybe just created) and becomes current. */
  prompted(sessionId: string, turnId: string, agent: string | undefined, text: string): void {
    const view = this.ensure(sessionId);
    if (!view.title) {
      view.title = firstLine(text);
    }
    view.turn = "running";
    view.turnId = turnId;
    view.turnAgent = agent ?? view.turnAgent;
    this.currentSessionId = sessionId;
    this.changed();
  }

  removeSession(sessionId: string): void {
    this.sessions.delete(sessionId);
    if (this.currentSessionId === sessionId) {
      this.currentSessionId = undefined;
    }
    this.changed();
  }

  applyEvent(event: BridgeEvent): void {
    const view = this.ensure(event.sessionId);
    switch (event.kind) {
      case "turnStarted":
        view.turn = "running";
        view.turnId = event.turnId ?? undefined;
        view.turnAgent = event.agent ?? view.turnAgent;
        if (!view.title) {
          view.title = firstLine(event.prompt);
        }
        if (event.agent && !view.agents.includes(event.agent)) {
          view.agents.push(event.agent);
        }
        break;
      case "turnEnded":
        if (view.turnId === undefined || view.turnId === event.turnId) {
          view.turn = event.status;
        }
        break;
      case "pendingChanged":
        view.pendingHunks = event.hunks;
        view.pendingFiles = event.files;
        break;
      case "sessionInfo":
        view.title = event.title;
        break;
      default:
        return;
    }
    this.changed();
  }

  private ensure(sessionId: string): SessionView {
    let view = this.sessions.get(sessionId);
    if (view === undefined) {
      view = { sessionId, title: "", agents: [], turn: "idle", pendingHunks: 0, usage: [] };
      this.sessions.set(sessionId, view);
    }
    return view;
  }

  private changed(): void {
    for (const listener of [...this.listeners]) {
      listener();
    }
  }
}

export function firstLine(text: string, max = 60): string {
  const line = text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
