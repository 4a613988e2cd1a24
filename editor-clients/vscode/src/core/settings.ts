/**
 * The extension's settings (`agentBridge.*`): read and checked, turned into how to launch the server and
 * its `initializationOptions`. Pure: settings come in through a getter, paths as strings.
 */
import * as path from "node:path";

/**
 * One entry of `agentBridge.agents`. The extension checks the fields it knows; every other field (e.g.
 * `mcpServers`) goes to the server unchanged, which checks it and warns about what it does not know.
 */
export interface AgentSetting {
  protocol?: string;
  command?: string[];
  env?: Record<string, string>;
  /** `provider/model` or a bare model id (the opencode transport). */
  model?: string;
  [field: string]: unknown;
}

export interface ExtensionSettings {
  serverPath: string;
  serverArgs: string[];
  serverEnv: Record<string, string>;
  agents: Record<string, AgentSetting>;
  defaultAgent: string;
  hintDiagnostics: boolean;
  /** Every agent in a bubblewrap sandbox unless its own entry says `"sandbox": false`; undefined: not set. */
  sandbox?: boolean;
}

export interface ServerLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

export interface InitializationOptions {
  agents?: Record<string, AgentSetting>;
  defaultAgent?: string;
  sandbox?: boolean;
  settings: { hintDiagnostics: boolean };
}

/** Settings whose change needs a server restart. */
export const RESTART_SECTIONS = [
  "agentBridge.server",
  "agentBridge.agents",
  "agentBridge.defaultAgent",
  "agentBridge.hintDiagnostics",
  "agentBridge.sandbox",
];

export type SettingGetter = (key: string) => unknown;

export function readSettings(get: SettingGetter): { settings: ExtensionSettings; warnings: string[] } {
  const warnings: string[] = [];
  const str = (key: string, fallback: string): string => {
    const value = get(key);
    if (value === undefined || value === null) {
      return fallback;
    }
    if (typeof value !== "string") {
      warnings.push(`agentBridge.${key} must be a string; using ${JSON.stringify(fallback)}`);
      return fallback;
    }
    return value;
  };
  const serverArgs = get("server.args");
  const args = isStringArray(serverArgs) ? serverArgs : ["serve"];
  if (serverArgs !== undefined && serverArgs !== null && !isStringArray(serverArgs)) {
    warnings.push("agentBridge.server.args must be a list of strings; using [\"serve\"]");
  }
  const hint = get("hintDiagnostics");
  const sandbox = get("sandbox");
  if (sandbox !== undefined && sandbox !== null && typeof sandbox !== "boolean") {
    // Never less confined: a value that is not true/false asks for the sandbox (the server says the same).
    warnings.push("agentBridge.sandbox must be true or false; running agents sandboxed");
  }
  return {
    settings: {
      serverPath: str("server.path", "agent-bridge").trim() || "agent-bridge",
      serverArgs: args,
      serverEnv: stringRecord(get("server.env"), "agentBridge.server.env", warnings),
      agents: readAgents(get("agents"), warnings),
      defaultAgent: str("defaultAgent", "").trim(),
      hintDiagnostics: typeof hint === "boolean" ? hint : true,
      sandbox: sandbox === undefined || sandbox === null ? undefined : sandbox !== false,
    },
    warnings,
  };
}

/** The agent fields checked here; the others go to the server unchanged. */
const CHECKED_AGENT_FIELDS = new Set(["protocol", "command", "env", "model"]);

function readAgents(value: unknown, warnings: string[]): Record<string, AgentSetting> {
  const agents: Record<string, AgentSetting> = {};
  if (value === undefined || value === null) {
    return agents;
  }
  if (!isRecord(value)) {
    warnings.push("agentBridge.agents must be an object of agents by name");
    return agents;
  }
  for (const [name, raw] of Object.entries(value)) {
    if (!isRecord(raw)) {
      warnings.push(`agentBridge.agents.${name} must be an object; ignored`);
      continue;
    }
    // Every field but the checked ones passes through as is; the server validates it.
    const agent: AgentSetting = Object.fromEntries(Object.entries(raw).filter(([key]) => !CHECKED_AGENT_FIELDS.has(key)));
    if (raw.protocol !== undefined) {
      if (typeof raw.protocol !== "string") {
        warnings.push(`agentBridge.agents.${name}.protocol must be a string; ignored`);
        continue;
      }
      agent.protocol = raw.protocol;
    }
    if (raw.command !== undefined) {
      if (!isStringArray(raw.command) || raw.command.length === 0) {
        warnings.push(`agentBridge.agents.${name}.command must be a non-empty list of strings; ignored`);
        continue;
      }
      agent.command = [...raw.command];
    }
    if (raw.env !== undefined) {
      agent.env = stringRecord(raw.env, `agentBridge.agents.${name}.env`, warnings);
    }
    if (raw.model !== undefined) {
      if (typeof raw.model === "string") {
        agent.model = raw.model;
      } else {
        warnings.push(`agentBridge.agents.${name}.model must be a string like "provider/model"; ignored`);
      }
    }
    agents[name] = agent;
  }
  return agents;
}

/** Expands `${workspaceFolder}`, `${userHome}` and `~`; a relative path with a slash is taken from the folder. */
export function resolveServerPath(setting: string, workspaceFolder: string | undefined, home: string): string {
  let p = setting.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) {
    p = p.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (p === "~" || p.startsWith("~/")) {
    p = path.join(home, p.slice(1));
  }
  if (!path.isAbsolute(p) && p.includes("/") && workspaceFolder !== undefined) {
    p = path.join(workspaceFolder, p);
  }
  return p;
}

export function serverLaunch(settings: ExtensionSettings, workspaceFolder: string | undefined, home: string): ServerLaunch {
  return {
    command: resolveServerPath(settings.serverPath, workspaceFolder, home),
    args: settings.serverArgs.map((a) => (workspaceFolder ? a.replace(/\$\{workspaceFolder\}/g, workspaceFolder) : a)),
    env: { ...settings.serverEnv },
    cwd: workspaceFolder,
  };
}

export function initializationOptions(settings: ExtensionSettings): InitializationOptions {
  const options: InitializationOptions = { settings: { hintDiagnostics: settings.hintDiagnostics } };
  if (Object.keys(settings.agents).length > 0) {
    options.agents = settings.agents;
  }
  if (settings.defaultAgent) {
    options.defaultAgent = settings.defaultAgent;
  }
  if (settings.sandbox !== undefined) {
    options.sandbox = settings.sandbox;
  }
  return options;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function stringRecord(value: unknown, name: string, warnings: string[]): Record<string, string> {
  if (value === undefined || value === null) {
    return {};
  }
  if (!isRecord(value)) {
    warnings.push(`${name} must be an object of strings; ignored`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") {
      out[k] = v;
    } else {
      warnings.push(`${name}.${k} must be a string; ignored`);
    }
  }
  return out;
}
