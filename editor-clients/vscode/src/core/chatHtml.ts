/**
 * HTML for the chat view: the transcript of one session rendered to a string, and the page around it.
 * Pure (no VS Code); everything from the agent is escaped or rendered as sanitized Markdown (./markdown),
 * and its worktree paths are shown relative to the workspace, as links to the user's files (./chatPaths).
 */
import type { PlanEntry, ToolCallFields, Usage } from "./protocol";
import type { Entry } from "./entries";
import type { PathContext } from "./chatPaths";
import { NO_PATHS, relativize, showPath } from "./chatPaths";
import { escapeHtml, pathLink, renderMarkdown, textWithPaths } from "./markdown";
import type { SessionTranscript, TurnView } from "./transcript";

export { escapeHtml } from "./markdown";

/** The agent's answer: Markdown, with code blocks highlighted and paths made relative and clickable. */
export function renderAgentText(text: string, paths: PathContext = NO_PATHS): string {
  return `<div class="markdown">${renderMarkdown(text, paths)}</div>`;
}

const STATUS_ICONS: Record<string, string> = {
  pending: "○",
  in_progress: "◐",
  completed: "●",
  failed: "✕",
};

function renderPaths(paths: string[], ctx: PathContext): string {
  const shown = paths.map((p) => {
    const rel = showPath(p, ctx);
    return rel === undefined ? escapeHtml(p) : pathLink(rel);
  });
  return shown.length ? ` <span class="paths">${shown.join(", ")}</span>` : "";
}

/** A tool call: one line (status, kind, title, paths); its command and output folded under it, opened on
 * click (`data-key` lets the page keep it open across re-renders). */
export function renderToolCall(call: ToolCallFields, ctx: PathContext = NO_PATHS): string {
  const icon = STATUS_ICONS[call.status] ?? "○";
  const line =
    `<span class="icon" title="${escapeHtml(call.status)}">${icon}</span> ` +
    `<span class="tool-kind">${escapeHtml(call.toolKind)}</span> ` +
    `<span class="tool-title">${textWithPaths(call.title, ctx)}</span>${renderPaths(call.paths, ctx)}`;
  const command = call.command ? `<pre class="command">$ ${escapeHtml(relativize(call.command, ctx))}</pre>` : "";
  const output = call.output ? `<pre class="output">${escapeHtml(relativize(call.output, ctx))}</pre>` : "";
  const attrs = `class="tool status-${escapeHtml(call.status)}" data-tool-call="${escapeHtml(call.toolCallId)}"`;
  if (command === "" && output === "") {
    return `<div ${attrs}>${line}</div>`;
  }
  return (
    `<details ${attrs} data-key="tool:${escapeHtml(call.toolCallId)}"><summary>${line}</summary>` +
    `<div class="tool-body">${command}${output}</div></details>`
  );
}

export function renderPlan(plan: PlanEntry[]): string {
  if (plan.length === 0) {
    return "";
  }
  const items = plan
    .map((e) => `<li class="plan-${escapeHtml(e.status)}">${STATUS_ICONS[e.status] ?? "○"} ${escapeHtml(e.content)}</li>`)
    .join("");
  return `<div class="plan"><div class="label">Plan</div><ul>${items}</ul></div>`;
}

export function formatUsage(usage: Usage): string {
  const parts: string[] = [];
  const n = (v: number): string => v.toLocaleString("en-US");
  if (usage.inputTokens !== undefined) {
    parts.push(`${n(usage.inputTokens)} in`);
  }
  if (usage.outputTokens !== undefined) {
    parts.push(`${n(usage.outputTokens)} out`);
  }
  if (usage.inputTokens === undefined && usage.outputTokens === undefined && usage.totalTokens !== undefined) {
    parts.push(`${n(usage.totalTokens)} tokens`);
  }
  if (usage.contextUsed !== undefined && usage.contextSize) {
    const percent = (100 * usage.contextUsed) / usage.contextSize;
    parts.push(`context ${percent > 0 && percent < 1 ? "<1" : Math.round(percent)}%`);
  }
  if (usage.cost !== undefined) {
    parts.push(`${usage.currency && usage.currency !== "USD" ? usage.currency + " " : "$"}${usage.cost.toFixed(4)}`);
  }
  return parts.join(" · ");
}

function renderEntry(entry: Entry, key: string, ctx: PathContext): string {
  switch (entry.type) {
    case "text":
      return `<div class="text">${renderAgentText(entry.text, ctx)}</div>`;
    case "reasoning":
      return `<details class="reasoning" data-key="${escapeHtml(key)}"><summary>Thinking</summary><div>${escapeHtml(entry.text)}</div></details>`;
    case "tool":
      return renderToolCall(entry.call, ctx);
    case "permission": {
      const where = entry.cwd ? ` <span class="paths">in ${textWithPaths(entry.cwd, ctx)}</span>` : "";
      const reason = entry.reason ? ` — ${escapeHtml(entry.reason)}` : "";
      return (
        `<div class="permission outcome-${escapeHtml(entry.outcome)}">Permission: ` +
        `<span class="tool-title">${textWithPaths(entry.command ?? entry.title, ctx)}</span>${where} ` +
        `<span class="outcome">${escapeHtml(entry.outcome)}</span>${reason}</div>`
      );
    }
    case "notice":
      return `<div class="notice">${textWithPaths(entry.message, ctx)}</div>`;
  }
}

export const REWIND_LABEL = "Rewind to before this turn";

export function renderTurn(turn: TurnView, ctx: PathContext = NO_PATHS): string {
  const usage = formatUsage(turn.usage);
  const status =
    turn.status === "running" || turn.status === "queued"
      ? `<span class="turn-status ${turn.status}">${turn.status}…</span>`
      : `<span class="turn-status ${escapeHtml(turn.status)}">${escapeHtml(turn.status)}${
          turn.stopReason && turn.stopReason !== "end_turn" ? ` (${escapeHtml(turn.stopReason)})` : ""
        }</span>`;
  const error = turn.error ? `<div class="error">${escapeHtml(turn.error)}</div>` : "";
  // A running or queued turn cannot be rewound (the server asks to cancel it first); a rewound one is done.
  const rewind = turn.rewound
    ? ` <span class="rewound-marker" title="This turn's changes were undone">rewound</span>`
    : turn.status === "running" || turn.status === "queued"
      ? ""
      : ` <button class="rewind secondary" data-rewind="${escapeHtml(turn.turnId)}" title="Undo the agent's changes of this turn and every later one">${REWIND_LABEL}</button>`;
  return (
    `<section class="turn${turn.rewound ? " rewound" : ""}" data-turn="${escapeHtml(turn.turnId)}">` +
    `<div class="prompt"><span class="who">You</span><div class="prompt-text">${escapeHtml(turn.prompt)}</div></div>` +
    `<div class="answer"><span class="who">${escapeHtml(turn.agent || "agent")}</span>` +
    renderPlan(turn.plan) +
    turn.entries.map((e, i) => renderEntry(e, `${turn.turnId}:${i}`, ctx)).join("") +
    error +
    `<div class="turn-footer">${status}${usage ? ` <span class="usage">${escapeHtml(usage)}</span>` : ""}${rewind}</div>` +
    `</div></section>`
  );
}

/** Per-agent totals of a session ("scripted: 120 in · 45 out"), when any agent reported tokens or cost. */
export function renderSessionUsage(usage: { agent: string; usage: Usage }[]): string {
  const lines = usage
    .map((u) => ({ agent: u.agent, text: formatUsage(nonZero(u.usage)) }))
    .filter((u) => u.text !== "")
    .map((u) => `${escapeHtml(u.agent)}: ${escapeHtml(u.text)}`);
  return lines.length ? `<div class="session-usage">Session usage · ${lines.join(" · ")}</div>` : "";
}

function nonZero(usage: Usage): Usage {
  return Object.fromEntries(Object.entries(usage).filter(([, v]) => v !== 0 && v !== null && v !== undefined));
}

export const EMPTY_NEW_SESSION =
  "No conversation yet. Type a prompt below; the agent works in its own git worktree and its edits come back as pending changes for you to review.";
export const EMPTY_EARLIER_SESSION =
  "No turns of this session to show yet. New prompts continue the session and its agent's conversation.";

export function renderTranscript(
  transcript: SessionTranscript | undefined, usage: { agent: string; usage: Usage }[] = [],
  empty: string = EMPTY_NEW_SESSION, ctx: PathContext = NO_PATHS,
): string {
  if (transcript === undefined || (transcript.turns.length === 0 && transcript.notices.length === 0)) {
    return `<div class="empty">${escapeHtml(empty)}</div>${renderSessionUsage(usage)}`;
  }
  const notices = transcript.notices.map((m) => `<div class="notice">${escapeHtml(m)}</div>`).join("");
  const pending = transcript.pending.hunks
    ? `<div class="pending-summary">${transcript.pending.hunks} pending change${transcript.pending.hunks === 1 ? "" : "s"} in ${transcript.pending.files} file${transcript.pending.files === 1 ? "" : "s"} to review</div>`
    : "";
  return notices + transcript.turns.map((t) => renderTurn(t, ctx)).join("") + pending + renderSessionUsage(usage);
}
