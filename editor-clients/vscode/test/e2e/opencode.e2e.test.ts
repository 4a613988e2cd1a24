/**
 * End to end with a REAL agent in real VS Code: code-server with the packaged extension, the bridge, and the
 * real `opencode serve` (npm opencode-ai, installed by scripts/install-agents.sh) whose model is the scripted
 * fake LLM (tests/support/scripted_llm.py, started here on a free port). The loop a user goes through:
 * configure opencode in the settings the README's way (`agentBridge.agents.opencode` with command, env and
 * model; `agentBridge.defaultAgent`), prompt from the chat view, see opencode read the file and rewrite it on
 * disk in the session's worktree, get two hunks back, apply both with the quick fix keys (Ctrl+. Enter), save,
 * prompt again in the same session (same warm opencode server and session: the model sees the first turn),
 * switch opencode to its plan agent from the chat header (the model's next request is plan's), and close VS
 * Code without leaving an opencode server behind.
 *
 * The agent's configuration (env, model) is tests/support/real_agents.py's, the one test_opencode.py uses.
 * Needs what the scripted-agent e2e needs (scripts/test-vscode.sh provides it), plus opencode and the Python
 * environment; missing ones skip, unless AGENT_BRIDGE_REQUIRE_E2E or AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before } from "node:test";
import type { Page } from "playwright-core";
import {
  chatFrame, findTools, makeRepo, openFile, openQuickFixes, processesWith, processesWithEnv, REPO, runCommand,
  pendingRows, ScriptedLlm, sendChat, statusItem, Steps, VsCode, waitForDisk, waitForEditorText,
  writeBridgeSettings,
} from "./harness";

const FILE = "notes.py";
const ORIGINAL = [
  '"""Notes kept in memory."""',
  "",
  "NOTES = []",
  "",
  "",
  "def add(note):",
  "    NOTES.append(note)",
  "",
  "",
  "def count():",
  "    return len(NOTES)",
  "",
  "",
  "def clear():",
  "    NOTES.clear()",
  "",
  "",
  "def show():",
  "    for note in NOTES:",
  "        print(note)",
  "",
].join("\n");
/** opencode's version: the first line reworded and, 17 lines further down, a docstring added. */
const TOP_ONLY = ORIGINAL.replace('"""Notes kept in memory."""', '"""Notes kept in memory, oldest first."""');
const AGENT_TEXT = TOP_ONLY.replace("def show():\n", 'def show():\n    """Print every note, one a line."""\n');
const TOP_HUNK = "opencode: replace 1 line with 1";
const BOTTOM_HUNK = "opencode: add 1 line";
/** A turn of the real agent: its server may start first, and every step is a round trip to the model. */
const TURN_TIMEOUT = 120_000;

const OPENCODE = path.join(REPO, ".agents", "opencode", "node_modules", ".bin", "opencode");
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const found = findTools();
const missing = [
  ...found.missing,
  ...(fs.existsSync(OPENCODE) ? [] : [`opencode (${OPENCODE}: run scripts/install-agents.sh)`]),
  ...(fs.existsSync(PYTHON) ? [] : [`python (${PYTHON}: run scripts/setup.sh)`]),
];
const required = Boolean(process.env.AGENT_BRIDGE_REQUIRE_E2E || process.env.AGENT_BRIDGE_REQUIRE_REAL_AGENTS);
const skip = missing.length > 0 && !required ? `missing: ${missing.join(", ")}` : false;

const steps = new Steps(skip);
const step = steps.step;
let root = "";
let repo = "";
let stateDir = "";
/** The agent's HOME: unique to this run, so the opencode processes it started are the ones carrying it. */
let agentHome = "";
let llm: ScriptedLlm | undefined;
let vscode: VsCode | undefined;
let page: Page;
let servers: number[] = [];

interface AgentSetting {
  command: string[];
  env: Record<string, string>;
  model: string;
}

/** opencode's settings entry, from tests/support/real_agents.py: its binary, an isolated environment whose
 * OPENCODE_CONFIG_CONTENT points a "fake" provider at the scripted LLM, and that provider's model. */
function opencodeSetting(llmUrl: string, home: string): AgentSetting {
  const code = [
    "import json, sys",
    "from pathlib import Path",
    "from tests.support.real_agents import OPENCODE_MODEL, agent_command, agent_env",
    "print(json.dumps({'command': agent_command('opencode'), 'model': OPENCODE_MODEL,",
    "                  'env': agent_env('opencode', sys.argv[1], Path(sys.argv[2]))}))",
  ].join("\n");
  const setting = JSON.parse(execFileSync(PYTHON, ["-c", code, llmUrl, home], { cwd: REPO, encoding: "utf8" })) as AgentSetting;
  assert.ok(setting.command, "real_agents.agent_command('opencode') found no opencode");
  return setting;
}

/** The `opencode serve` processes this test's bridge started (found by the agent HOME they run with). */
function opencodeServers(): number[] {
  // The bridge starts each server under a lifeline launcher whose command line repeats the server's.
  const launchers = new Set(processesWith("lifeline.py"));
  const serving = new Set(processesWith("serve", "--hostname", "127.0.0.1", "--port").filter((pid) => !launchers.has(pid)));
  return processesWithEnv("HOME", agentHome).filter((pid) => serving.has(pid)).sort((a, b) => a - b);
}

function tail(file: string, chars = 3000): string {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").slice(-chars) : "(none)";
}

/** What the bridge, opencode and the model logged: for the CI log when a step failed. */
function diagnostics(): string {
  const logs = [path.join(root, "bridge.log")];
  for (const dir of [path.join(stateDir, "logs"), path.join(agentHome, ".local", "share", "opencode", "log")]) {
    if (fs.existsSync(dir)) {
      logs.push(...fs.readdirSync(dir).filter((f) => f.includes("opencode")).map((f) => path.join(dir, f)));
    }
  }
  return [...logs.map((f) => `--- ${f}\n${tail(f)}`), `--- scripted LLM\n${llm?.log() ?? ""}`].join("\n");
}

before(async () => {
  if (skip) {
    return;
  }
  steps.broken = "setup";
  assert.equal(missing.length, 0, `needed for the opencode e2e: ${missing.join(", ")}`);
  assert.ok(found.tools);
  const tools = found.tools;
  root = fs.mkdtempSync(path.join(os.tmpdir(), "agent-bridge-e2e-opencode-"));
  stateDir = path.join(root, "state");
  agentHome = path.join(root, "agent-home");
  repo = makeRepo(path.join(root, "project"), { [FILE]: ORIGINAL, ".gitignore": ".vscode/\n" });
  llm = new ScriptedLlm(PYTHON, path.join(root, "llm-requests.jsonl"));
  await llm.start();
  // Workspace settings as the README tells a user to write them, with opencode as the agent.
  writeBridgeSettings(repo, tools.agentBridge, stateDir, path.join(root, "bridge.log"), {
    "agentBridge.agents": { opencode: opencodeSetting(llm.url, agentHome) },
    "agentBridge.defaultAgent": "opencode",
  });
  vscode = new VsCode(tools, root);
  page = await vscode.open(repo);
  steps.broken = undefined;
});

after(async () => {
  if (steps.broken !== undefined && root) {
    console.log(`e2e: what the bridge, opencode and the model logged:\n${diagnostics()}`);
  }
  await vscode?.close(steps.broken !== undefined);
  if (agentHome) {
    // Only after a failed step can anything be left: the processes this test started, found by their HOME.
    for (const pid of processesWithEnv("HOME", agentHome)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
  await llm?.stop();
  if (root && !process.env.AGENT_BRIDGE_E2E_KEEP) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

step("opencode, configured in the settings, is the agent in the status bar", async () => {
  await statusItem(page, "opencode").waitFor({ timeout: 60_000 });
  await statusItem(page, "no session").waitFor();
});

step("a chat prompt has the real opencode read and rewrite the file; its two hunks come back for review", async () => {
  await openFile(page, FILE);
  await runCommand(page, "Agent Bridge: New Session");
  const chat = chatFrame(page);
  const started = Date.now();
  await sendChat(page, [`@read ${FILE}`, `@write ${FILE}`, ...AGENT_TEXT.trimEnd().split("\n"), "@end", "@say rewrote the notes"],
    { paste: true });
  const turn = chat.locator(".turn", { hasText: "@say rewrote the notes" });
  await turn.locator(".text", { hasText: "rewrote the notes" }).waitFor({ timeout: TURN_TIMEOUT });
  await turn.locator(".turn-status.completed").waitFor();
  console.log(`e2e: opencode's first turn (server start included) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await turn.locator(".tool .tool-kind", { hasText: "read" }).first().waitFor();
  await turn.locator(".tool .tool-kind", { hasText: "edit" }).first().waitFor();

  // opencode wrote to disk, but in the session's worktree: the user's file and buffer are untouched.
  assert.equal(fs.readFileSync(path.join(repo, FILE), "utf8"), ORIGINAL);
  await page.locator(".tabs-container .tab", { hasText: FILE }).click();
  await waitForEditorText(page, ORIGINAL);
  const lenses = page.locator(".editor-instance .codelens-decoration");
  await lenses.locator("a", { hasText: `Apply (${TOP_HUNK})` }).waitFor();
  await lenses.locator("a", { hasText: `Apply (${BOTTOM_HUNK})` }).waitFor();
  const tree = pendingRows(page);
  await tree.filter({ hasText: TOP_HUNK }).first().waitFor();
  await tree.filter({ hasText: BOTTOM_HUNK }).first().waitFor();
  servers = opencodeServers();
  assert.equal(servers.length, 1, `one opencode server runs for the session: ${JSON.stringify(servers)}`);
});

/** Ctrl+. on the cursor's line, then Enter: Apply must be the first, focused quick fix. */
async function applyWithQuickFix(hunk: string): Promise<void> {
  const menu = await openQuickFixes(page, `Apply agent change (${hunk})`);
  const entries = menu.locator(".monaco-list-row.action");
  await entries.filter({ hasText: `Reject agent change (${hunk})` }).waitFor();
  const listed = (await entries.allInnerTexts()).map((t) => t.trim().split("\n")[0]);
  assert.match(listed[0] ?? "", /^Apply agent change/, `Apply is not the first quick fix: ${JSON.stringify(listed)}`);
  await page.keyboard.press("Enter");
  await menu.locator(".monaco-list-row.action").first().waitFor({ state: "hidden" });
  await page.locator(".editor-instance .codelens-decoration a", { hasText: `Apply (${hunk})` }).waitFor({ state: "detached" });
  await pendingRows(page, { hasText: hunk }).waitFor({ state: "detached" });
}

step("Ctrl+. then Enter on each hunk's line applies both: the buffer is opencode's version; saving keeps it", async () => {
  const editor = page.locator(".editor-instance .monaco-editor .view-lines").first();
  await editor.click();
  // The first hunk replaces line 1.
  await page.keyboard.press("Control+Home");
  await applyWithQuickFix(TOP_HUNK);
  await waitForEditorText(page, TOP_ONLY, "Ctrl+. Enter did not apply the first hunk (and only it)", 5000);
  // The second one inserts before `for note in NOTES:`, the second line from the end.
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  await applyWithQuickFix(BOTTOM_HUNK);
  await waitForEditorText(page, AGENT_TEXT, "Ctrl+. Enter did not apply the second hunk", 5000);
  assert.equal(fs.readFileSync(path.join(repo, FILE), "utf8"), ORIGINAL, "applying must not save");

  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, FILE), AGENT_TEXT);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("a second prompt in the same session is served by the same warm opencode server and session", async () => {
  const chat = chatFrame(page);
  const started = Date.now();
  await sendChat(page, ["@say the second turn, same session"]);
  const turn = chat.locator(".turn", { hasText: "@say the second turn" });
  await turn.locator(".text", { hasText: "the second turn, same session" }).waitFor({ timeout: TURN_TIMEOUT });
  await turn.locator(".turn-status.completed").waitFor();
  console.log(`e2e: opencode's second turn took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.deepEqual(opencodeServers(), servers, "the second turn ran on the opencode server of the first");

  // One opencode conversation: the agent's model requests for the second prompt carry the first turn. (Not
  // the requests without tools: those are opencode's own side questions, such as a new session's title.)
  const requests = (llm?.requests() ?? []).filter((r) => r.tools.length > 0);
  const second = requests.filter((r) => r.turns.some((t) => t.role === "user" && t.text.includes("@say the second turn")));
  assert.ok(second.length > 0, `the model never got the second prompt (${requests.length} requests)`);
  for (const request of second) {
    assert.ok(request.turns.some((t) => t.role === "user" && t.text.includes("@say rewrote the notes")),
      `the second turn lost the first one's history: ${JSON.stringify(request.turns.map((t) => t.text.slice(0, 60)))}`);
  }

  // The bridge's session list (Switch Session): one session, its agent opencode, idle again.
  await runCommand(page, "Agent Bridge: Switch Session");
  const rows = page.locator(".quick-input-list .monaco-list-row");
  await rows.filter({ hasText: "opencode (idle)" }).first().waitFor();
  assert.equal(await rows.filter({ hasText: "opencode (" }).count(), 1, "one session, with opencode");
  await page.keyboard.press("Escape");
});

/** What opencode's plan agent adds to the prompt it sends the model (tests/real/test_opencode.py checks it too). */
const PLAN_REMINDER = "Plan mode ACTIVE";

step("the chat header's mode picker switches opencode to its plan agent: the model's next request is plan's", async () => {
  const chat = chatFrame(page);
  const picker = chat.locator("#mode-picker");
  await chat.locator("#mode-label").waitFor();
  const modes = await picker.locator("option").evaluateAll((options: unknown[]) => options.map((o) => (o as { value: string }).value));
  assert.ok(modes.includes("build") && modes.includes("plan"), `opencode's agents as modes: ${JSON.stringify(modes)}`);
  assert.equal(await picker.inputValue(), "build");
  await chat.locator("#model-label").waitFor();
  await statusItem(page, /^Model: /).waitFor();

  await picker.selectOption("plan");
  await statusItem(page, /Mode: plan/i).waitFor();
  await sendChat(page, ["@say planning only"]);
  const turn = chat.locator(".turn", { hasText: "@say planning only" });
  await turn.locator(".text", { hasText: "planning only" }).waitFor({ timeout: TURN_TIMEOUT });
  await turn.locator(".turn-status.completed").waitFor();
  // The requests whose latest user turn is that prompt (later requests carry it as history).
  const asked = (marker: string): string[] => (llm?.requests() ?? [])
    .filter((r) => r.tools.length > 0)
    .map((r) => r.turns.filter((t) => t.role === "user").at(-1)?.text ?? "")
    .filter((text) => text.includes(marker));
  const planned = asked("@say planning only");
  assert.ok(planned.length > 0, "the model never got the prompt");
  assert.ok(planned.every((text) => text.includes(PLAN_REMINDER)), `the request is not plan's: ${JSON.stringify(planned)}`);
  const built = asked("@say the second turn");
  assert.ok(built.length > 0 && built.every((text) => !text.includes(PLAN_REMINDER)), "build's request had plan's reminder");

  await picker.selectOption("build");
  await statusItem(page, /Mode: build/i).waitFor();
});

step("closing VS Code stops the bridge and its opencode server: nothing is left behind", async () => {
  const bridges = processesWith("serve", "--state-dir", stateDir);
  assert.equal(bridges.length, 1, `the bridge runs: ${JSON.stringify(bridges)}`);
  const started = Date.now();
  await vscode?.close(false);
  // The relay VS Code started, the daemon it attached to (it runs the agents), and opencode with its children.
  const left = (): number[] => [
    ...processesWith("serve", "--state-dir", stateDir), ...processesWith("daemon", "run", "--state-dir", stateDir),
    ...processesWithEnv("HOME", agentHome),
  ];
  for (const deadline = Date.now() + 20_000; left().length > 0 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(left(), [], "processes outlived VS Code (the bridge, or opencode and its children)");
  console.log(`e2e: the bridge and opencode were gone ${((Date.now() - started) / 1000).toFixed(1)} s after VS Code closed`);
});
