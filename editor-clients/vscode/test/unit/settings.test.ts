import assert from "node:assert/strict";
import { test } from "node:test";
import { initializationOptions, readSettings, resolveServerPath, serverLaunch } from "../../src/core/settings";

function getter(values: Record<string, unknown>): (key: string) => unknown {
  return (key) => values[key];
}

test("defaults launch `agent-bridge serve` with hint diagnostics on", () => {
  const { settings, warnings } = readSettings(getter({}));
  assert.deepEqual(warnings, []);
  assert.deepEqual(serverLaunch(settings, "/ws", "/home/u"), { command: "agent-bridge", args: ["serve"], env: {}, cwd: "/ws" });
  assert.deepEqual(initializationOptions(settings), { settings: { hintDiagnostics: true } });
});

test("agents and the default agent become initializationOptions", () => {
  const { settings } = readSettings(getter({
    agents: { qwen: { command: ["qwen", "--acp"], env: { OPENAI_BASE_URL: "http://127.0.0.1:8080/v1" } }, claude: { protocol: "acp" } },
    defaultAgent: " qwen ",
    hintDiagnostics: false,
  }));
  assert.deepEqual(initializationOptions(settings), {
    agents: { qwen: { command: ["qwen", "--acp"], env: { OPENAI_BASE_URL: "http://127.0.0.1:8080/v1" } }, claude: { protocol: "acp" } },
    defaultAgent: "qwen",
    settings: { hintDiagnostics: false },
  });
});

test("an agent's model reaches initializationOptions.agents", () => {
  const { settings, warnings } = readSettings(getter({
    agents: { other: { protocol: "opencode", command: ["opencode"], model: "provider/other" }, opencode: { model: "anthropic/claude-sonnet-4" } },
  }));
  assert.deepEqual(warnings, []);
  assert.deepEqual(initializationOptions(settings).agents, {
    other: { protocol: "opencode", command: ["opencode"], model: "provider/other" },
    opencode: { model: "anthropic/claude-sonnet-4" },
  });
});

test("fields the extension does not check pass through to the server unchanged", () => {
  const mcpServers = [{ name: "x", command: "y", args: [], env: [] }];
  const { settings, warnings } = readSettings(getter({
    agents: { qwen: { command: ["qwen", "--acp"], mcpServers, sandbox: true, sandboxPaths: ["/tmp"] } },
  }));
  assert.deepEqual(warnings, []);
  assert.deepEqual(initializationOptions(settings).agents, {
    qwen: { command: ["qwen", "--acp"], mcpServers: [{ name: "x", command: "y", args: [], env: [] }], sandbox: true, sandboxPaths: ["/tmp"] },
  });
});

test("a model that is not a string is dropped with a warning; the agent is kept", () => {
  const { settings, warnings } = readSettings(getter({
    agents: { opencode: { protocol: "opencode", model: 42, mcpServers: [] } },
  }));
  assert.deepEqual(warnings, ["agentBridge.agents.opencode.model must be a string like \"provider/model\"; ignored"]);
  assert.deepEqual(initializationOptions(settings).agents, { opencode: { protocol: "opencode", mcpServers: [] } });
});

test("bad entries are dropped with a warning, good ones kept", () => {
  const { settings, warnings } = readSettings(getter({
    "server.path": 42,
    "server.args": "serve",
    "server.env": { A: "1", B: 2 },
    agents: { ok: { command: ["x"] }, empty: { command: [] }, notObject: 3, badProto: { protocol: 1 } },
  }));
  assert.equal(settings.serverPath, "agent-bridge");
  assert.deepEqual(settings.serverArgs, ["serve"]);
  assert.deepEqual(settings.serverEnv, { A: "1" });
  assert.deepEqual(Object.keys(settings.agents), ["ok"]);
  assert.equal(warnings.length, 6, warnings.join("\n"));
});

test("server paths: ~, ${workspaceFolder}, ${userHome} and folder-relative ones", () => {
  assert.equal(resolveServerPath("agent-bridge", "/ws", "/h"), "agent-bridge");
  assert.equal(resolveServerPath("~/bin/agent-bridge", "/ws", "/h"), "/h/bin/agent-bridge");
  assert.equal(resolveServerPath("${userHome}/x", undefined, "/h"), "/h/x");
  assert.equal(resolveServerPath("${workspaceFolder}/.venv/bin/agent-bridge", "/ws", "/h"), "/ws/.venv/bin/agent-bridge");
  assert.equal(resolveServerPath(".venv/bin/agent-bridge", "/ws", "/h"), "/ws/.venv/bin/agent-bridge");
  assert.equal(resolveServerPath(".venv/bin/agent-bridge", undefined, "/h"), ".venv/bin/agent-bridge");
  assert.equal(resolveServerPath("/opt/ab", "/ws", "/h"), "/opt/ab");
});

test("agentBridge.sandbox becomes initializationOptions.sandbox; a bad value asks for the sandbox", () => {
  assert.equal(initializationOptions(readSettings(getter({ sandbox: true })).settings).sandbox, true);
  assert.equal(initializationOptions(readSettings(getter({ sandbox: false })).settings).sandbox, false);
  assert.equal("sandbox" in initializationOptions(readSettings(getter({})).settings), false);
  const { settings, warnings } = readSettings(getter({ sandbox: "yes" }));
  assert.equal(initializationOptions(settings).sandbox, true);
  assert.match(warnings.join("\n"), /agentBridge.sandbox must be true or false/);
});
