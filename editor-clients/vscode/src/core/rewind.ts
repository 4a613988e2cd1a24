/**
 * Rewinding a session to before one of its turns (`agentBridge.rewind`): which turns can be picked, how many
 * a rewind undoes, and the words of the confirmation and of the outcome. Pure: no VS Code.
 */
import type { RewindResult } from "./protocol";
import { firstLine } from "./state";
import type { TurnView } from "./transcript";

/** Turns a rewind can start from: done (a running or queued one must be cancelled first) and not undone yet. */
export function rewindableTurns(turns: TurnView[]): TurnView[] {
  return turns.filter((t) => !t.rewound && t.status !== "running" && t.status !== "queued");
}

/** The turns a rewind from `turnId` undoes: that one and every later one not already rewound. */
export function turnsUndoneBy(turns: TurnView[], turnId: string): number {
  const index = turns.findIndex((t) => t.turnId === turnId);
  return index < 0 ? 0 : turns.slice(index).filter((t) => !t.rewound).length;
}

function turns(n: number): string {
  return `${n} turn${n === 1 ? "" : "s"}`;
}

/** The modal confirmation: which turn, and how many turns the rewind undoes. */
export function rewindQuestion(turn: Pick<TurnView, "prompt">, undone: number): string {
  const later = undone > 1 ? ` and the ${turns(undone - 1)} after it` : "";
  return `Rewind to before "${firstLine(turn.prompt) || "this turn"}"? This undoes the agent's changes of ` +
    `${turns(undone)} (this turn${later}). What you applied or wrote yourself stays.`;
}

/** What a rewind did, for a notification; `name` shortens a file URI for display. */
export function rewindSummary(result: RewindResult, name: (uri: string) => string): string {
  if (result.turnsUndone === 0) {
    return "Nothing to rewind: those turns were already undone.";
  }
  const files = result.files.map(name);
  const shown = files.length > 5 ? [...files.slice(0, 5), `${files.length - 5} more`] : files;
  const changed = files.length === 0
    ? "no files changed"
    : `${files.length} file${files.length === 1 ? "" : "s"} put back: ${shown.join(", ")}`;
  return `Rewound ${turns(result.turnsUndone)}; ${changed}.`;
}
