/**
 * The agent-bridge LSP contract (docs/protocol.md) as TypeScript types: command names, their arguments and
 * results, and the `agentBridge/event` notification. Pure: no VS Code import.
 */

export const ServerCommands = {
  prompt: "agentBridge.prompt",
  awaitTurn: "agentBridge.awaitTurn",
  cancel: "agentBridge.cancel",
  sessions: "agentBridge.sessions",
  closeSession: "agentBridge.closeSession",
  agents: "agentBridge.agents",
  pending: "agentBridge.pending",
  apply: "agentBridge.apply",
  reject: "agentBridge.reject",
  unreject: "agentBridge.unreject",
  diff: "agentBridge.diff",
  history: "agentBridge.history",
  rewind: "agentBridge.rewind",
  agentState: "agentBridge.agentState",
  setMode: "agentBridge.setMode",
  setOption: "agentBridge.setOption",
} as const;

export type ServerCommand = (typeof ServerCommands)[keyof typeof ServerCommands];

export const EVENT_NOTIFICATION = "agentBridge/event";

/**
 * The experimental client capability that says "this client draws `agentBridge/event` itself". Without it the
 * server sends none and shows the agent's answer with `window/showMessage` instead, as for any LSP client.
 */
export const EVENTS_CAPABILITY = { agentBridge: { events: true } } as const;

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** A file (or a range of it) sent along with a prompt as a resource the agent reads. */
export interface Attachment {
  uri: string;
  range?: Range;
}

export interface PromptArgs {
  text: string;
  agent?: string;
  sessionId?: string;
  /** Start a new session; without it and without `sessionId` the bridge continues the workspace's latest. */
  newSession?: boolean;
  uri?: string;
  range?: Range;
  attachments?: Attachment[];
}

export interface PromptResult {
  sessionId: string;
  turnId: string;
}

export type TurnStatus = "completed" | "failed" | "cancelled";

export interface TurnResult {
  status: TurnStatus;
  stopReason?: string;
  error?: string;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  contextUsed?: number;
  contextSize?: number;
  cost?: number;
  currency?: string;
}

export interface SessionAgent {
  agent: string;
  status: string;
  usage?: Usage;
  /** The agent's current mode id and model, when it offers them. */
  mode?: string;
  model?: string;
}

export interface SessionInfo {
  sessionId: string;
  title: string;
  createdAt: string;
  agents: SessionAgent[];
  pendingHunks: number;
  workspace?: string;
  worktree?: string;
  busy?: boolean;
  queuedTurns?: number;
}

export interface AgentInfo {
  name: string;
  protocol: string;
  available: boolean;
  detail: string;
  command?: string[];
  default?: boolean;
  /** Runs in a bubblewrap sandbox (`sandbox = true`). */
  sandbox?: boolean;
  /** Why no sandbox can be made on this machine and how to enable it; absent or null: sandboxes work here. */
  sandboxProblem?: string | null;
}

export type ChangeKind = "modify" | "create" | "delete" | "rename";

export interface PendingHunk {
  hunkId: string;
  agent: string;
  turnId: string | null;
  range: Range;
  /** Where the hunk is now in an open document, after the user's edits (only for open documents). */
  liveRange?: Range | null;
  oldText: string;
  newText: string;
  /** Both you and the agent changed these lines since the agent's turn: `newText` is the agent's version,
   * `oldText` yours. Applying the file or session skips it; applying this hunk takes the agent's version. */
  conflict?: boolean;
  conflictReason?: string;
}

export interface PendingFile {
  sessionId: string;
  uri: string;
  change: ChangeKind;
  binary?: boolean;
  oldUri?: string;
  hunks: PendingHunk[];
}

/** What `apply`/`reject` act on: a hunk (uri + hunkId), a file (uri) or the whole session. */
export interface HunkSelection {
  sessionId: string;
  uri?: string;
  hunkId?: string;
}

export interface Conflict {
  uri: string;
  hunkIds: string[];
  reason: string;
}

export interface ApplyResult {
  applied: number;
  conflicts: Conflict[];
}

export interface RejectResult {
  rejected: number;
  /** Names this rejection for `agentBridge.unreject`; null when nothing was rejected (older servers: absent). */
  rejectionId?: string | null;
}

export interface UnrejectResult {
  restored: number;
}

export interface DiffResult {
  sessionId: string;
  uri: string;
  change: ChangeKind;
  binary: boolean;
  oldUri?: string;
  baseText: string | null;
  agentText: string | null;
}

export interface PlanEntry {
  content: string;
  status: "pending" | "in_progress" | "completed";
  priority?: string;
}

export interface ToolCallFields {
  toolCallId: string;
  title: string;
  toolKind: string;
  status: string;
  paths: string[];
  command?: string;
  output?: string;
}

export type HistoryStatus = "queued" | "running" | TurnStatus;

/** A permission question's final outcome in a turn, as `agentBridge.history` keeps it. */
export interface PermissionRecord {
  toolCallId?: string;
  title?: string;
  permissionKind?: string;
  paths?: string[];
  command?: string;
  cwd?: string;
  outcome: string;
  reason?: string;
}

/** One turn of `agentBridge.history`, oldest first. The fields after `endedAt` are newer than the rest:
 * a server without them leaves them out, so they are optional here. */
export interface HistoryEntry {
  turnId: string;
  agent: string;
  prompt: string;
  status: HistoryStatus;
  stopReason?: string | null;
  error?: string | null;
  answer?: string | null;
  queuedAt?: string;
  startedAt?: string | null;
  endedAt?: string | null;
  rewound?: boolean;
  toolCalls?: ToolCallFields[];
  plan?: PlanEntry[] | null;
  usage?: Usage | null;
  permissions?: PermissionRecord[];
}

export interface ModeInfo {
  id: string;
  name: string;
  description?: string | null;
}

export interface ConfigValue {
  value: string;
  name: string;
  description?: string | null;
}

/** ACP's SessionConfigOption as the agent sends it: a select (its values maybe grouped) or a boolean. */
export interface ConfigOption {
  id: string;
  name: string;
  description?: string | null;
  category?: string | Record<string, unknown> | null;
  type: string;
  currentValue: string | boolean;
  options?: (ConfigValue | { group: string; name: string; options: ConfigValue[] })[];
}

export interface AgentCommand {
  name: string;
  description?: string;
  input?: { hint?: string } | null;
}

/** `agentBridge.agentState` (and setMode / setOption): what the agent offers in a session, and what is chosen. */
export interface AgentStateResult {
  agent: string;
  modes: { currentModeId: string; availableModes: ModeInfo[] } | null;
  configOptions: ConfigOption[];
  commands: AgentCommand[];
}

export interface RewindResult {
  turnsUndone: number;
  files: string[];
}

interface EventBase {
  sessionId: string;
  turnId: string | null;
  agent?: string;
}

export type BridgeEvent = EventBase &
  (
    | { kind: "turnStarted"; prompt: string }
    | { kind: "text"; text: string }
    | { kind: "reasoning"; text: string }
    | ({ kind: "toolCall" } & ToolCallFields)
    | { kind: "plan"; entries: PlanEntry[] }
    | ({ kind: "usage" } & Usage)
    | ({ kind: "permission" } & PermissionRecord)
    | { kind: "availableCommands"; commands: AgentCommand[] }
    | { kind: "modeChanged"; modeId: string }
    | { kind: "configChanged"; options: ConfigOption[] }
    | { kind: "sessionInfo"; title: string }
    | { kind: "notice"; message: string }
    | { kind: "pendingChanged"; files: number; hunks: number }
    | { kind: "turnEnded"; status: TurnStatus; stopReason?: string; error?: string }
    | { kind: "rewound"; turnIds: string[]; files: string[] }
    | { kind: "synced"; files: string[]; conflicts: number }
  );

export type EventKind = BridgeEvent["kind"];

const KINDS: ReadonlySet<string> = new Set<EventKind>([
  "turnStarted", "text", "reasoning", "toolCall", "plan", "usage", "permission", "availableCommands",
  "modeChanged", "configChanged", "sessionInfo", "notice", "pendingChanged", "turnEnded",
  "rewound", "synced",
]);

/** Narrows a notification's params to a known event; unknown kinds (future additions) give undefined. */
export function asBridgeEvent(params: unknown): BridgeEvent | undefined {
  if (typeof params !== "object" || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  if (typeof p.sessionId !== "string" || typeof p.kind !== "string" || !KINDS.has(p.kind)) {
    return undefined;
  }
  return params as BridgeEvent;
}
