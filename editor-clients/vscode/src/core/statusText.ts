/** The status bar item's text and tooltip from the bridge state. Pure: no VS Code. */
import type { AgentStateResult } from "./protocol";
import type { BridgeState } from "./state";
import { firstLine } from "./state";
import { currentMode, currentModel } from "./steering";

export interface StatusView {
  text: string;
  tooltip: string;
}

const TURN_ICONS: Record<string, string> = {
  running: "$(sync~spin)",
  completed: "$(check)",
  failed: "$(error)",
  cancelled: "$(circle-slash)",
  idle: "",
};

export function statusView(state: BridgeState): StatusView {
  if (state.server === "starting") {
    return { text: "$(loading~spin) Agent Bridge", tooltip: "Agent Bridge: starting the server" };
  }
  if (state.server === "restarting" || state.server === "stopped") {
    const detail = state.serverDetail ? `: ${state.serverDetail}` : "";
    return {
      text: "$(warning) Agent Bridge",
      tooltip: `Agent Bridge: server ${state.server}${detail}. Click to show the log.`,
    };
  }
  const session = state.current;
  const agent = session?.turn === "running" && session.turnAgent ? session.turnAgent : state.agent ?? "default agent";
  const parts = [`$(hubot) ${agent}`];
  const lines = [`Agent: ${agent}`];
  if (session === undefined) {
    parts.push("no session");
    lines.push("Session: none (the next prompt starts one)");
  } else {
    const title = firstLine(session.title || session.sessionId, 24);
    parts.push(title);
    lines.push(`Session: ${session.title || session.sessionId} (${session.sessionId})`);
    const icon = TURN_ICONS[session.turn] ?? "";
    if (session.turn !== "idle") {
      parts.push(`${icon} ${session.turn}`.trim());
    }
    lines.push(`Turn: ${session.turn}`);
    if (session.pendingHunks > 0) {
      parts.push(`$(diff) ${session.pendingHunks}`);
      lines.push(`${session.pendingHunks} pending change${session.pendingHunks === 1 ? "" : "s"} to review`);
    }
  }
  const sandbox = state.sandbox;
  if (sandbox !== undefined) {
    const which = sandbox.sandboxed.length > 0 ? `sandboxed: ${sandbox.sandboxed.join(", ")}` : "no agent sandboxed";
    if (sandbox.problem === undefined) {
      lines.push(`Sandbox: available (${which})`);
    } else if (sandbox.sandboxed.length > 0) {
      parts.push("$(warning) no sandbox");
      lines.push(`Sandbox: NOT available, so ${sandbox.sandboxed.join(", ")} will refuse to start: ${sandbox.problem}`);
    } else {
      lines.push(`Sandbox: not available: ${sandbox.problem}`);
    }
  }
  return { text: parts.join(" · "), tooltip: `Agent Bridge\n${lines.join("\n")}\nClick to switch session.` };
}

/** The mode and model status bar items: shown when the agent of the current session offers them. */
export function steeringStatus(state: AgentStateResult | undefined): { mode?: StatusView; model?: StatusView } {
  const agent = state?.agent ?? "the agent";
  const mode = currentMode(state);
  const model = currentModel(state);
  return {
    mode: mode === undefined ? undefined : {
      text: `Mode: ${mode.name}`,
      tooltip: `${agent}'s mode: ${mode.name}${mode.description ? ` (${mode.description})` : ""}. Click to change it.`,
    },
    model: model === undefined ? undefined : {
      text: `Model: ${model.name}`,
      tooltip: `${agent}'s model: ${model.name}${model.name === model.value ? "" : ` (${model.value})`}. Click to change it.`,
    },
  };
}
