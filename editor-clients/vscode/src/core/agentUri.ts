/**
 * Virtual documents for the diff editor: the agent's version (or the session's base) of a file, addressed
 * as `agent-bridge:/path/of/file?session=..&side=agent&uri=..`. The path keeps the file's name so the diff
 * editor shows it and picks its language. Pure: no VS Code (the caller builds the Uri from these parts).
 */
export const AGENT_SCHEME = "agent-bridge";

export type Side = "agent" | "base";

export interface AgentDocRef {
  sessionId: string;
  uri: string;
  side: Side;
}

export function agentDocQuery(ref: AgentDocRef): string {
  return new URLSearchParams({ session: ref.sessionId, side: ref.side, uri: ref.uri }).toString();
}

export function parseAgentDocQuery(query: string): AgentDocRef | undefined {
  const params = new URLSearchParams(query);
  const sessionId = params.get("session");
  const uri = params.get("uri");
  const side = params.get("side");
  if (!sessionId || !uri || (side !== "agent" && side !== "base")) {
    return undefined;
  }
  return { sessionId, uri, side };
}

/** The text a side shows: a missing file (created or deleted by the agent) shows as empty. */
export function sideText(diff: { baseText: string | null; agentText: string | null; binary: boolean }, side: Side): string {
  if (diff.binary) {
    return "(binary file: no text to compare)";
  }
  return (side === "agent" ? diff.agentText : diff.baseText) ?? "";
}
