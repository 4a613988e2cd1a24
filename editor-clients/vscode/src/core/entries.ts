/**
 * The pieces of a chat turn (text, reasoning, tool calls, permission questions, notices), built from live
 * events and from recorded history alike. Pure: no VS Code.
 */
import type { PermissionRecord, ToolCallFields, Usage } from "./protocol";

export type Entry =
  | { type: "text"; text: string }
  | { type: "reasoning"; text: string }
  | { type: "tool"; call: ToolCallFields }
  | {
      type: "permission";
      toolCallId?: string;
      title: string;
      command?: string;
      cwd?: string;
      outcome: string;
      reason?: string;
    }
  | { type: "notice"; message: string };

const USAGE_FIELDS = [
  "inputTokens", "outputTokens", "totalTokens", "contextUsed", "contextSize", "cost", "currency",
] as const;

/** Only the usage fields set (an event carries other fields too). */
export function usageOf(event: Usage): Usage {
  return Object.fromEntries(USAGE_FIELDS.filter((f) => event[f] !== undefined).map((f) => [f, event[f]]));
}

/** The chat's line for a `synced` event: the worktree caught up with the user's own changes. */
export function syncedMessage(files: number, conflicts: number): string {
  const base = `Caught up with your changes to ${files} file${files === 1 ? "" : "s"}`;
  return conflicts > 0
    ? `${base}; ${conflicts} conflict${conflicts === 1 ? "" : "s"} to review`
    : `${base}.`;
}

export function toolEntry(event: ToolCallFields): Entry {
  return {
    type: "tool",
    call: {
      toolCallId: event.toolCallId,
      title: event.title,
      toolKind: event.toolKind,
      status: event.status,
      paths: [...(event.paths ?? [])],
      command: event.command ?? undefined,
      output: event.output ?? undefined,
    },
  };
}

export function permissionEntry(event: PermissionRecord): Entry {
  return {
    type: "permission",
    toolCallId: event.toolCallId ?? undefined,
    title: event.title ?? event.command ?? event.permissionKind ?? "permission",
    command: event.command ?? undefined,
    cwd: event.cwd ?? undefined,
    outcome: event.outcome,
    reason: event.reason ?? undefined,
  };
}

