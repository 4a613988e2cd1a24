/**
 * The extension's expectations of the real bridge, checked with a plain Node LSP client: the same core code
 * the extension runs (BridgeApi, settings → initializationOptions, the transcript, the state, the tree model,
 * the Diff lens middleware, the diff sides) fed by `agent-bridge serve` with the scripted ACP agent.
 *
 * Needs the bridge (`.venv/bin/agent-bridge`, or AGENT_BRIDGE): missing, the tests skip unless
 * AGENT_BRIDGE_REQUIRE_E2E is set.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { sideText } from "../../src/core/agentUri";
import { renderTranscript } from "../../src/core/chatHtml";
import { BridgeApi } from "../../src/core/api";
import { SHOW_DIFF_COMMAND, withDiffLenses } from "../../src/core/lenses";
import type { LensLike } from "../../src/core/lenses";
import { buildPendingTree } from "../../src/core/pendingModel";
import type { BridgeEvent, PendingFile } from "../../src/core/protocol";
import { initializationOptions, readSettings } from "../../src/core/settings";
import type { InitializationOptions } from "../../src/core/settings";
import { BridgeState } from "../../src/core/state";
import { statusView } from "../../src/core/statusText";
import { attachmentsOf, commandItems, fileChip } from "../../src/core/composer";
import { currentMode, currentModel, modeChoices, SteeringModel, steeringSummary } from "../../src/core/steering";
import { Transcripts } from "../../src/core/transcript";
import { TestClient, agentBridgeExecutable, makeRepo, uriOf } from "./client";

const ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n";
const AGENT_TEXT = ORIGINAL.replace("def greet(name):\n", 'def greet(name):\n    """Say hello to NAME."""\n');

const exe = agentBridgeExecutable();
const skip = exe === undefined && !process.env.AGENT_BRIDGE_REQUIRE_E2E ? "agent-bridge not installed (.venv)" : false;

let root = "";
let repo = "";
let greetUri = "";
let client: TestClient;
let api: BridgeApi;
const transcripts = new Transcripts();
const state = new BridgeState();
let sessionId = "";
let options: InitializationOptions;

/** The server's warnings about `initializationOptions` (sent as window/logMessage once initialized). */
function optionWarnings(c: TestClient): string[] {
  return c.logs.map((l) => l.message).filter((m) => m.startsWith("configuration: initializationOptions"));
}

before(async () => {
  if (skip) {
    return;
  }
  assert.ok(exe, "agent-bridge not found: run scripts/setup.sh");
  root = fs.mkdtempSync(path.join(os.tmpdir(), "agent-bridge-protocol-"));
  repo = makeRepo(path.join(root, "project"), { "greet.py": ORIGINAL, "README.md": "# project\n" });
  greetUri = uriOf(path.join(repo, "greet.py"));
  client = new TestClient();
  // The options exactly as the extension builds them from its settings; the model is ignored by an ACP agent,
  // but the server checks it.
  const { settings } = readSettings((key) => ({
    agents: { scripted: { model: "provider/other" } }, defaultAgent: "scripted", hintDiagnostics: true,
  } as Record<string, unknown>)[key]);
  options = initializationOptions(settings);
  await client.start(exe, repo, path.join(root, "state"), options);
  api = new BridgeApi(client.send);
  state.setServer("running");
  state.defaultAgent = settings.defaultAgent;
  await client.open(greetUri, ORIGINAL);
});

after(async () => {
  await client?.stop();
  if (root) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** Prompts like the extension does and waits for the turn, folding its events as the extension does. */
async function promptAndWait(text: string): Promise<{ turnId: string; status: string; events: BridgeEvent[] }> {
  const result = await api.prompt(sessionId ? { text, sessionId } : { text, newSession: true });
  sessionId = result.sessionId;
  transcripts.startTurn(result.sessionId, result.turnId, "scripted", text);
  state.prompted(result.sessionId, result.turnId, undefined, text);
  const outcome = await api.awaitTurn(result.sessionId, result.turnId, 30);
  await client.until("turnEnded", () => client.eventsOf(result.turnId).some((e) => e.kind === "turnEnded"));
  const events = client.eventsOf(result.turnId);
  for (const e of events) {
    transcripts.apply(e);
    state.applyEvent(e);
  }
  return { turnId: result.turnId, status: outcome.status, events };
}

test("the extension's initializationOptions make the scripted agent the default", { skip }, async () => {
  const agents = await api.agents();
  const scripted = agents.find((a) => a.name === "scripted");
  assert.ok(scripted, JSON.stringify(agents));
  assert.equal(scripted.default, true);
  assert.equal(scripted.available, true);
});

test("an agent's model from the settings reaches the server, which accepts it without a warning", { skip }, async () => {
  assert.deepEqual(options.agents, { scripted: { model: "provider/other" } });
  const scripted = (await api.agents()).find((a) => a.name === "scripted");
  assert.equal(scripted?.available, true);
  // The warnings are logged on `initialized`, before the server answers any command.
  assert.deepEqual(optionWarnings(client), []);
});

test("a model the server rejects comes back as a configuration warning", { skip }, async () => {
  const { settings, warnings } = readSettings((key) => ({ agents: { scripted: { model: " padded " } } } as Record<string, unknown>)[key]);
  assert.deepEqual(warnings, [], "a string: the extension passes it on; the server checks the rest");
  const other = new TestClient();
  try {
    const dir = makeRepo(path.join(root, "other"), { "a.py": "" });
    await other.start(exe!, dir, path.join(root, "other-state"), initializationOptions(settings));
    const [warning] = await other.until("a configuration warning", () => optionWarnings(other).length ? optionWarnings(other) : undefined);
    assert.match(warning, /agent 'scripted': model must be/);
  } finally {
    await other.stop();
  }
});

test("a turn streams text, reasoning, a plan and usage into one transcript turn, with progress", { skip }, async () => {
  const { turnId, status, events } = await promptAndWait("@think pondering\n@plan read | write\n@say hello there\n@usage 10 5");
  assert.equal(status, "completed");
  assert.equal(events[0].kind, "turnStarted");
  const turn = transcripts.get(sessionId)?.turns.find((t) => t.turnId === turnId);
  assert.ok(turn);
  assert.equal(turn.agent, "scripted");
  assert.equal(turn.status, "completed");
  assert.deepEqual(turn.plan.map((e) => e.content), ["read", "write"]);
  const texts = turn.entries.filter((e) => e.type === "text").map((e) => (e.type === "text" ? e.text : ""));
  assert.match(texts.join(""), /hello there/);
  assert.ok(turn.entries.some((e) => e.type === "reasoning" && e.text.includes("pondering")));
  assert.equal(turn.usage.contextUsed, 15);
  assert.equal(state.current?.turn, "completed");
  assert.match(statusView(state).text, /scripted · .* completed/);
  const kinds = client.progress.map((p) => (p as { value: { kind: string } }).value.kind);
  assert.ok(kinds.includes("begin") && kinds.includes("end"), JSON.stringify(kinds));
  // Session totals (tokens in and out) come from agentBridge.sessions.
  const sessions = await api.sessions();
  state.setSessions(sessions);
  assert.deepEqual(state.session(sessionId)?.usage.map((u) => [u.agent, u.usage.inputTokens, u.usage.outputTokens]), [["scripted", 10, 5]]);
});

test("an edit becomes a pending hunk: tree, lenses with Diff, diff sides, hint diagnostic", { skip }, async () => {
  const { status, events } = await promptAndWait(`@write greet.py\n${AGENT_TEXT}@end`);
  assert.equal(status, "completed");
  assert.ok(events.some((e) => e.kind === "toolCall" && e.toolKind === "edit"));
  await client.until("pendingChanged", () => client.events.some((e) => e.kind === "pendingChanged" && e.hunks === 1));

  const files: PendingFile[] = await api.pending(sessionId);
  assert.equal(files.length, 1);
  assert.equal(files[0].uri, greetUri);
  const sessions = await api.sessions();
  const tree = buildPendingTree(sessions, files, [repo], sessionId);
  assert.equal(tree[0].files[0].label, "greet.py");
  assert.deepEqual(tree[0].files[0].hunks.map((h) => h.label), ["scripted: add 1 line"]);

  const lenses = (await client.codeLenses(greetUri)) ?? [];
  assert.deepEqual(lenses.map((l) => l.command?.title), ["Apply (scripted: add 1 line)", "Reject"]);
  const withDiff = withDiffLenses<LensLike>(lenses, (_after, selection) => ({
    command: { title: "Diff", command: SHOW_DIFF_COMMAND, arguments: [selection] },
  }));
  assert.deepEqual(withDiff.map((l) => l.command?.title), ["Apply (scripted: add 1 line)", "Reject", "Diff"]);
  assert.deepEqual(withDiff[2].command?.arguments, [{ sessionId, uri: greetUri, hunkId: files[0].hunks[0].hunkId }]);

  const diff = await api.diff(sessionId, greetUri);
  assert.equal(sideText(diff, "base"), ORIGINAL);
  assert.equal(sideText(diff, "agent"), AGENT_TEXT);

  const hints = await client.until("a hint diagnostic", () => client.diagnostics.get(greetUri)?.length ? client.diagnostics.get(greetUri) : undefined);
  assert.equal(hints[0].source, "agent-bridge");
  assert.equal(hints[0].code, files[0].hunks[0].hunkId);
});

test("apply sends a workspace edit for the open document; undo makes the hunk pending again", { skip }, async () => {
  const [file] = await api.pending(sessionId);
  const hunkId = file.hunks[0].hunkId;
  const result = await api.apply({ sessionId, uri: greetUri, hunkId });
  assert.deepEqual(result, { applied: 1, conflicts: [] });
  assert.equal(client.docs.get(greetUri)?.text, AGENT_TEXT, "the edit lands in the buffer");
  assert.equal(fs.readFileSync(path.join(repo, "greet.py"), "utf8"), ORIGINAL, "and not on disk");
  assert.deepEqual(await api.pending(sessionId), []);

  await client.change(greetUri, ORIGINAL); // what VS Code sends on Ctrl+Z
  let pending: PendingFile[] = [];
  for (let i = 0; i < 50 && pending.length === 0; i++) {
    pending = await api.pending(sessionId);
    if (pending.length === 0) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(pending[0]?.hunks[0]?.hunkId, hunkId);
});

test("reject reverts the hunk in the worktree; its rejectionId takes it back (the notification's Undo)", { skip }, async () => {
  const [before] = await api.pending(sessionId);
  const { rejected, rejectionId } = await api.reject({ sessionId, uri: greetUri });
  assert.equal(rejected, 1);
  assert.equal(typeof rejectionId, "string");
  assert.deepEqual(await api.pending(sessionId), []);
  assert.equal(client.docs.get(greetUri)?.text, ORIGINAL);

  assert.deepEqual(await api.unreject(sessionId, rejectionId as string), { restored: 1 });
  const [again] = await api.pending(sessionId);
  assert.deepEqual(again?.hunks.map((h) => h.hunkId), before.hunks.map((h) => h.hunkId), "pending again, same ids");
  // A second undo of the same reject is refused with a message the extension shows as is.
  await assert.rejects(api.unreject(sessionId, rejectionId as string), /reject/i);

  const second = await api.reject({ sessionId, uri: greetUri });
  assert.equal(second.rejected, 1);
  assert.deepEqual(await api.pending(sessionId), []);
});

test("a command asks through window/showMessageRequest with Allow / Always allow / Reject", { skip }, async () => {
  client.answer = (params) => params.actions?.find((a) => a.title === "Reject")?.title ?? null;
  const { events } = await promptAndWait("@run echo asked");
  const question = client.questions.at(-1);
  assert.ok(question);
  assert.match(question.message, /echo asked/);
  assert.deepEqual(question.actions?.map((a) => a.title), ["Allow", "Always allow", "Reject"]);
  const permissions = events.filter((e) => e.kind === "permission");
  assert.ok(permissions.some((e) => e.kind === "permission" && e.outcome === "rejected"), JSON.stringify(permissions));
  const turn = transcripts.get(sessionId)?.turns.at(-1);
  assert.ok(turn?.entries.some((e) => e.type === "permission" && e.outcome === "rejected"));
});

test("cancel ends a running turn as cancelled", { skip }, async () => {
  const { turnId } = await api.prompt({ text: "@hang", sessionId });
  await client.until("turnStarted", () => client.eventsOf(turnId).some((e) => e.kind === "turnStarted"));
  state.setSessions(await api.sessions());
  assert.equal(state.session(sessionId)?.turn, "running");
  assert.equal(await api.cancel(sessionId), true);
  const outcome = await api.awaitTurn(sessionId, turnId, 30);
  assert.equal(outcome.status, "cancelled");
  assert.equal(await api.cancel(sessionId), false);
});

test("bad arguments fail with a message the extension can show as is", { skip }, async () => {
  await assert.rejects(api.prompt({} as never), /text/);
  await assert.rejects(api.diff("no-such-session", greetUri), /unknown session/);
});

test("after a reload the history draws every turn of the session again", { skip }, async () => {
  const history = await api.history(sessionId);
  const streamed = transcripts.get(sessionId)?.turns ?? [];
  assert.ok(streamed.length >= 3);
  assert.deepEqual(history.slice(0, streamed.length).map((h) => h.turnId), streamed.map((t) => t.turnId));
  const fresh = new Transcripts(); // a reloaded window has seen no event of the session
  fresh.loadHistory(sessionId, history);
  const drawn = fresh.get(sessionId)?.turns ?? [];
  assert.deepEqual(drawn.map((t) => t.turnId), history.map((h) => h.turnId));
  assert.deepEqual(drawn.slice(0, streamed.length).map((t) => [t.prompt, t.status]), streamed.map((t) => [t.prompt, t.status]));
  assert.equal(drawn.at(-1)?.status, "cancelled");
  const first = drawn[0].entries.filter((e) => e.type === "text").map((e) => (e.type === "text" ? e.text : "")).join("");
  assert.match(first, /hello there/);
  assert.match(renderTranscript(fresh.get(sessionId)), /hello there/);
});

test("rewind undoes the named turn and the later ones in the worktree, marks them and says so to every window", { skip }, async () => {
  const kept = await promptAndWait("@write kept.txt\nkept\n@end");
  const first = await promptAndWait("@write undone.txt\nundone\n@end");
  const second = await promptAndWait("@write also-undone.txt\nalso\n@end");
  await client.until("three pending files", () => client.events.some((e) => e.kind === "pendingChanged" && e.files === 3));
  const result = await api.rewind(sessionId, first.turnId);
  assert.equal(result.turnsUndone, 2);
  assert.deepEqual(result.files.map((u) => path.basename(u)).sort(), ["also-undone.txt", "undone.txt"]);
  const event = await client.until("rewound", () => client.events.find((e) => e.kind === "rewound"));
  assert.ok(event.kind === "rewound");
  assert.deepEqual([...event.turnIds].sort(), [first.turnId, second.turnId].sort());
  transcripts.apply(event);
  const turns = transcripts.get(sessionId)?.turns ?? [];
  assert.deepEqual(turns.filter((t) => t.rewound).map((t) => t.turnId), [first.turnId, second.turnId]);
  assert.deepEqual((await api.pending(sessionId)).map((f) => path.basename(f.uri)), ["kept.txt"]);
  const history = await api.history(sessionId);
  assert.deepEqual(history.filter((h) => h.rewound).map((h) => h.turnId), [first.turnId, second.turnId]);
  assert.equal(history.find((h) => h.turnId === kept.turnId)?.rewound, false);
  assert.deepEqual(await api.rewind(sessionId, second.turnId), { turnsUndone: 0, files: [] });
  await assert.rejects(api.rewind(sessionId, "no-such-turn"), /turn/);
});

test("the agent's mode, model and commands: agentState, setMode, setOption and the events that follow", { skip }, async () => {
  const steering = new SteeringModel();
  steering.set(sessionId, await api.agentState(sessionId));
  assert.equal(steering.state?.agent, "scripted");
  assert.deepEqual(modeChoices(steering.state).map((c) => [c.id, c.picked]), [["default", true], ["plan", false]]);
  assert.equal(currentModel(steering.state)?.value, "fast");
  steering.set(sessionId, await api.setMode(sessionId, "plan"));
  assert.equal(currentMode(steering.state)?.id, "plan");
  steering.set(sessionId, await api.setOption(sessionId, "model", "deep"));
  assert.equal(steeringSummary(steering.state), "Mode: Plan · Model: Deep");
  await assert.rejects(api.setMode(sessionId, "no-such-mode"), /no-such-mode|mode/);
  await assert.rejects(api.setOption(sessionId, "model", "no-such-model"), /no-such-model|value|option/);
  assert.equal(steeringSummary(await api.agentState(sessionId)), "Mode: Plan · Model: Deep", "a refused change changes nothing");

  // The agent's own announcements keep the pickers and the `/` completions current.
  const turn = await promptAndWait("@commands\n@mode default\n@echo-state");
  for (const e of client.events) {
    steering.applyEvent(e);
  }
  assert.equal(currentMode(steering.state)?.id, "default");
  assert.deepEqual(commandItems(steering.commands, "s").map((i) => i.label), ["/say"]);
  const text = turn.events.map((e) => (e.kind === "text" ? e.text : "")).join("");
  assert.match(text, /mode=default model=deep/);
  const agents = (await api.sessions()).find((s) => s.sessionId === sessionId)?.agents ?? [];
  assert.deepEqual(agents.map((a) => [a.agent, a.mode, a.model]), [["scripted", "default", "deep"]]);
});

test("composer attachments reach the agent as resources at the worktree's copy, with the editor's text", { skip }, async () => {
  await client.change(greetUri, "# unsaved in the editor\n" + ORIGINAL);
  const range = { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } };
  const chips = [fileChip(greetUri, "greet.py"), fileChip(greetUri, "greet.py", range), fileChip(greetUri, "greet.py")];
  const result = await api.prompt({ text: "@echo-prompt", sessionId, attachments: attachmentsOf(chips) });
  await api.awaitTurn(result.sessionId, result.turnId, 30);
  const text = client.eventsOf(result.turnId).map((e) => (e.kind === "text" ? e.text : "")).join("");
  assert.match(text, /The user attached: greet\.py; greet\.py \(line 2\)/);
  const resources = [...text.matchAll(/<resource uri=(\S+)>\n([^]*?)\n<\/resource>/g)];
  assert.equal(resources.length, 2, text);
  for (const [, uri] of resources) {
    assert.notEqual(uri, greetUri, "the attachment points at the worktree's copy");
    assert.match(uri, /greet\.py$/);
  }
  assert.match(resources[0][2], /^# unsaved in the editor\n/, "the whole file as the editor shows it");
  assert.equal(resources[1][2].trim(), "def greet(name):", "the range's line alone");
  const outside = uriOf(path.join(root, "elsewhere.py"));
  fs.writeFileSync(path.join(root, "elsewhere.py"), "secret = 1\n");
  await assert.rejects(api.prompt({ text: "@echo-prompt", sessionId, attachments: [{ uri: outside }] }), /outside|repository/);
});

test("sessions list the session; closing it removes it", { skip }, async () => {
  const sessions = await api.sessions();
  const mine = sessions.find((s) => s.sessionId === sessionId);
  assert.ok(mine);
  assert.match(mine.title, /pondering|@think/);
  assert.equal(await api.closeSession(sessionId), true);
  state.setSessions(await api.sessions());
  assert.equal(state.session(sessionId), undefined);
  assert.equal(state.currentSessionId, undefined);
});
