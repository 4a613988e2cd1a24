/**
 * The chat drawn again from `agentBridge.history`: each recorded turn becomes the view the live events
 * would have built (tool calls, permissions, then the answer), merged with the turns this window streamed
 * itself. Pure: no VS Code.
 */
import type { HistoryEntry, HistoryStatus } from "./protocol";
import type { Entry } from "./entries";
import { permissionEntry, toolEntry, usageOf } from "./entries";
import type { TurnView } from "./transcript";

/** One recorded turn as the chat shows it. The history keeps each tool call's final state and the whole
 * answer, not their interleaving: tool calls come first (each followed by its permission question), then the
 * answer. */
export function turnFromHistory(entry: HistoryEntry): TurnView {
  const entries: Entry[] = [];
  const permissions = [...(entry.permissions ?? [])];
  for (const call of entry.toolCalls ?? []) {
    entries.push(toolEntry(call));
    for (let i = permissions.findIndex((p) => p.toolCallId === call.toolCallId); i >= 0;
      i = permissions.findIndex((p) => p.toolCallId === call.toolCallId)) {
      entries.push(permissionEntry(permissions.splice(i, 1)[0]));
    }
  }
  entries.push(...permissions.map(permissionEntry));
  if (entry.answer) {
    entries.push({ type: "text", text: entry.answer });
  }
  return {
    turnId: entry.turnId,
    agent: entry.agent,
    prompt: entry.prompt,
    status: entry.status,
    stopReason: entry.stopReason ?? undefined,
    error: entry.error ?? undefined,
    entries,
    plan: (entry.plan ?? []).map((p) => ({ ...p })),
    usage: entry.usage ? usageOf(entry.usage) : {},
    rewound: entry.rewound === true,
  };
}

const STATUS_RANK: Record<HistoryStatus, number> = { queued: 0, running: 1, completed: 2, failed: 2, cancelled: 2 };

/** The further along of two statuses of one turn: a snapshot may be older than the events seen since. */
function laterStatus(a: HistoryStatus, b: HistoryStatus): HistoryStatus {
  return STATUS_RANK[b] > STATUS_RANK[a] ? b : a;
}

/**
 * The history's turns in its order, then any turn only this window knows (a prompt just sent). A turn this
 * window streamed keeps its entries (they hold reasoning and the order things happened in); the history adds
 * what the stream did not bring: the rewound mark, and the plan, usage and status where it is further along.
 */
export function mergeHistory(live: TurnView[], history: HistoryEntry[]): TurnView[] {
  const byId = new Map(live.map((t) => [t.turnId, t]));
  const recorded = new Set(history.map((h) => h.turnId));
  const merged = history.map((entry): TurnView => {
    const stored = turnFromHistory(entry);
    const seen = byId.get(entry.turnId);
    if (seen === undefined || seen.entries.length === 0) {
      if (seen !== undefined) {
        stored.status = laterStatus(stored.status, seen.status);
        stored.rewound ||= seen.rewound;
      }
      return stored;
    }
    const status = laterStatus(seen.status, stored.status);
    return {
      ...seen,
      agent: seen.agent || stored.agent,
      prompt: seen.prompt || stored.prompt,
      status,
      stopReason: seen.stopReason ?? stored.stopReason,
      error: seen.error ?? stored.error,
      plan: seen.plan.length ? seen.plan : stored.plan,
      usage: Object.keys(seen.usage).length ? seen.usage : stored.usage,
      rewound: seen.rewound || stored.rewound,
    };
  });
  return [...merged, ...live.filter((t) => !recorded.has(t.turnId))];
}
