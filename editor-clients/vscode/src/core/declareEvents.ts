/**
 * The client feature that tells the server we draw its events (the chat, the status bar), so it sends
 * `agentBridge/event` instead of showing answers with `window/showMessage`. Pure: no VS Code import.
 */
import { EVENTS_CAPABILITY } from "./protocol";

/** The part of LSP's ClientCapabilities this feature fills (the client library's type is structurally one). */
export interface WithExperimental {
  experimental?: unknown;
}

/** A vscode-languageclient StaticFeature (registered with `client.registerFeature`). */
export class DeclareEvents {
  fillClientCapabilities(capabilities: WithExperimental): void {
    capabilities.experimental = { ...(capabilities.experimental as object | undefined), ...EVENTS_CAPABILITY };
  }

  initialize(): void {}

  getState(): { kind: "static" } {
    return { kind: "static" };
  }

  clear(): void {}
}
