/**
 * HTML for the chat view: the transcript of one session rendered to a string, and the page around it.
 * Pure (no VS Code); everything from the agent is escaped.
 */
import type { PlanEntry, ToolCallFields, Usage } from "./protocol";
import type { Entry } from "./entries";
import type { SessionTranscript, TurnView } from "./transcript";

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Agent text: fenced code blocks become <pre>, `inline code` becomes <code>, the rest keeps its lines. */
export function renderAgentText(text: string): string {
  const parts = text.split(/^```[^\n]*\n?/m);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) {
        return `<pre class="code">${escapeHtml(part.replace(/\n$/, ""))}</pre>`;
      }
      const inline = escapeHtml(part).replace(/`([^`\n]+)`/g, "<code>$1</code>");
      return inline === "" ? "" : `<div class="prose">${inline}</div>`;
    })
    .join("");
}

const STATUS_ICONS: Record<string, string> = {
  pending: "○",
  in_progress: "◐",
  completed: "●",
  failed: "✕",
};

export function renderToolCall(call: ToolCallFields): string {
  const icon = STATUS_ICONS[call.status] ?? "○";
  const paths = call.paths.length ? ` <span class="paths">${call.paths.map(escapeHtml).join(", ")}</span>` : "";
  const command = call.command ? `<pre class="command">$ ${escapeHtml(call.command)}</pre>` : "";
  const output = call.output ? `<pre class="output">${escapeHtml(call.output)}</pre>` : "";
  return (
    `<div class="tool status-${escapeHtml(call.status)}" data-tool-call="${escapeHtml(call.toolCallId)}">` +
    `<span class="icon" title="${escapeHtml(call.status)}">${icon}</span> ` +
    `<span class="tool-kind">${escapeHtml(call.toolKind)}</span> ` +
    `<span class="tool-title">${escapeHtml(call.title)}</span>${paths}${command}${output}</div>`
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

function renderEntry(entry: Entry): string {
  switch (entry.type) {
    case "text":
      return `<div class="text">${renderAgentText(entry.text)}</div>`;
    case "reasoning":
      return `<details class="reasoning"><summary>Thinking</summary><div>${escapeHtml(entry.text)}</div></details>`;
    case "tool":
      return renderToolCall(entry.call);
    case "permission": {
      const where = entry.cwd ? ` <span class="paths">in ${escapeHtml(entry.cwd)}</span>` : "";
      const reason = entry.reason ? ` — ${escapeHtml(entry.reason)}` : "";
      return (
        `<div class="permission outcome-${escapeHtml(entry.outcome)}">Permission: ` +
        `<span class="tool-title">${escapeHtml(entry.command ?? entry.title)}</span>${where} ` +
        `<span class="outcome">${escapeHtml(entry.outcome)}</span>${reason}</div>`
      );
    }
    case "notice":
      return `<div class="notice">${escapeHtml(entry.message)}</div>`;
  }
}

export const REWIND_LABEL = "Rewind to before this turn";

export function renderTurn(turn: TurnView): string {
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
    turn.entries.map(renderEntry).join("") +
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
  empty: string = EMPTY_NEW_SESSION,
): string {
  if (transcript === undefined || (transcript.turns.length === 0 && transcript.notices.length === 0)) {
    return `<div class="empty">${escapeHtml(empty)}</div>${renderSessionUsage(usage)}`;
  }
  const notices = transcript.notices.map((m) => `<div class="notice">${escapeHtml(m)}</div>`).join("");
  const pending = transcript.pending.hunks
    ? `<div class="pending-summary">${transcript.pending.hunks} pending change${transcript.pending.hunks === 1 ? "" : "s"} in ${transcript.pending.files} file${transcript.pending.files === 1 ? "" : "s"} to review</div>`
    : "";
  return notices + transcript.turns.map(renderTurn).join("") + pending + renderSessionUsage(usage);
}
