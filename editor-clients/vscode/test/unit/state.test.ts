import assert from "node:assert/strict";
import { test } from "node:test";
import { BridgeState, firstLine } from "../../src/core/state";
import { statusView } from "../../src/core/statusText";

test("a prompt makes its session current and running; the turn's end is recorded", () => {
  const state = new BridgeState();
  let changes = 0;
  state.onChange(() => changes++);
  state.setServer("running");
  state.defaultAgent = "qwen";
  state.prompted("s1", "t1", undefined, "\n  Add type hints to greet\nmore");
  assert.equal(state.currentSessionId, "s1");
  assert.equal(state.current?.title, "Add type hints to greet");
  assert.equal(state.current?.turn, "running");
  state.applyEvent({ sessionId: "s1", turnId: "t1", kind: "turnStarted", agent: "qwen", prompt: "x" });
  state.applyEvent({ sessionId: "s1", turnId: "t1", kind: "pendingChanged", files: 1, hunks: 2 });
  state.applyEvent({ sessionId: "s1", turnId: "t1", kind: "turnEnded", status: "completed" });
  assert.equal(state.current?.turn, "completed");
  assert.equal(state.current?.pendingHunks, 2);
  assert.ok(changes >= 5);
});

test("the server's session list replaces ours; a vanished current session is dropped", () => {
  const state = new BridgeState();
  state.prompted("gone", "t", "qwen", "old");
  state.setSessions([{
    sessionId: "s2", title: "other", createdAt: "", pendingHunks: 3, busy: true,
    agents: [{ agent: "claude", status: "busy", usage: { inputTokens: 5 } }],
  }]);
  assert.equal(state.currentSessionId, undefined);
  assert.deepEqual(state.list().map((s) => [s.sessionId, s.turn, s.pendingHunks]), [["s2", "running", 3]]);
  assert.deepEqual(state.session("s2")?.usage, [{ agent: "claude", usage: { inputTokens: 5 } }]);
});

test("the chosen agent wins over the default", () => {
  const state = new BridgeState();
  state.defaultAgent = "qwen";
  assert.equal(state.agent, "qwen");
  state.chooseAgent("claude");
  assert.equal(state.agent, "claude");
  state.chooseAgent(undefined);
  assert.equal(state.agent, "qwen");
});

test("the status bar shows server trouble, then agent, session, turn and pending count", () => {
  const state = new BridgeState();
  assert.match(statusView(state).text, /loading~spin/);
  state.setServer("restarting", "the server exited; retrying in 2 s");
  assert.match(statusView(state).text, /\$\(warning\)/);
  assert.match(statusView(state).tooltip, /retrying in 2 s/);
  state.setServer("running");
  assert.equal(statusView(state).text, "$(hubot) default agent · no session");
  state.defaultAgent = "scripted";
  state.prompted("s1", "t1", "scripted", "Write the docs");
  assert.equal(statusView(state).text, "$(hubot) scripted · Write the docs · $(sync~spin) running");
  state.applyEvent({ sessionId: "s1", turnId: "t1", kind: "pendingChanged", files: 1, hunks: 4 });
  state.applyEvent({ sessionId: "s1", turnId: "t1", kind: "turnEnded", status: "completed" });
  assert.equal(statusView(state).text, "$(hubot) scripted · Write the docs · $(check) completed · $(diff) 4");
  assert.match(statusView(state).tooltip, /4 pending changes to review/);
});

test("the status bar says whether agents can run sandboxed, and warns when a sandboxed one cannot start", () => {
  const state = new BridgeState();
  state.setServer("running");
  assert.doesNotMatch(statusView(state).tooltip, /Sandbox/);  // unknown until the agent list came
  state.setAgents([
    { name: "qwen", protocol: "acp", available: true, detail: "/bin/qwen", sandbox: true, sandboxProblem: null },
    { name: "claude", protocol: "acp", available: true, detail: "/bin/claude", sandbox: false },
  ]);
  assert.match(statusView(state).tooltip, /Sandbox: available \(sandboxed: qwen\)/);
  assert.doesNotMatch(statusView(state).text, /no sandbox/);
  const problem = "bubblewrap (`bwrap`) is not installed: install bubblewrap";
  state.setAgents([{ name: "qwen", protocol: "acp", available: true, detail: "", sandbox: true, sandboxProblem: problem }]);
  assert.match(statusView(state).text, /\$\(warning\) no sandbox/);
  assert.match(statusView(state).tooltip, /Sandbox: NOT available, so qwen will refuse to start: bubblewrap/);
  state.setAgents([{ name: "qwen", protocol: "acp", available: true, detail: "", sandbox: false, sandboxProblem: problem }]);
  assert.match(statusView(state).tooltip, /Sandbox: not available: bubblewrap/);
});

test("titles are the first non-empty line, shortened", () => {
  assert.equal(firstLine("\n\nabc\ndef"), "abc");
  assert.equal(firstLine("x".repeat(100), 10), `${"x".repeat(9)}…`);
});
