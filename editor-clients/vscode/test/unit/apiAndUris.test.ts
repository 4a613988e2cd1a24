import assert from "node:assert/strict";
import { test } from "node:test";
import { agentDocQuery, parseAgentDocQuery, sideText } from "../../src/core/agentUri";
import { BridgeApi } from "../../src/core/api";
import { asBridgeEvent } from "../../src/core/protocol";

test("each API call is one executeCommand with one object argument, undefined fields left out", async () => {
  const calls: [string, object][] = [];
  const api = new BridgeApi((command, arg) => {
    calls.push([command, arg]);
    return Promise.resolve(command === "agentBridge.cancel" ? { cancelled: true } : command === "agentBridge.closeSession" ? { closed: false } : []);
  });
  await api.prompt({ text: "hi", agent: undefined, sessionId: "s" });
  await api.awaitTurn("s");
  assert.equal(await api.cancel("s"), true);
  assert.equal(await api.closeSession("s"), false);
  await api.pending();
  await api.apply({ sessionId: "s", uri: "file:///a", hunkId: undefined });
  await api.reject({ sessionId: "s" });
  await api.diff("s", "file:///a");
  await api.sessions();
  await api.agents();
  assert.deepEqual(calls, [
    ["agentBridge.prompt", { text: "hi", sessionId: "s" }],
    ["agentBridge.awaitTurn", { sessionId: "s" }],
    ["agentBridge.cancel", { sessionId: "s" }],
    ["agentBridge.closeSession", { sessionId: "s" }],
    ["agentBridge.pending", {}],
    ["agentBridge.apply", { sessionId: "s", uri: "file:///a" }],
    ["agentBridge.reject", { sessionId: "s" }],
    ["agentBridge.diff", { sessionId: "s", uri: "file:///a" }],
    ["agentBridge.sessions", {}],
    ["agentBridge.agents", {}],
  ]);
});

test("agent document queries round-trip, odd characters included", () => {
  const ref = { sessionId: "s-1", uri: "file:///r/a%20b&c=d.py", side: "agent" as const };
  assert.deepEqual(parseAgentDocQuery(agentDocQuery(ref)), ref);
  assert.equal(parseAgentDocQuery("session=s&side=left&uri=x"), undefined);
  assert.equal(parseAgentDocQuery(""), undefined);
});

test("a missing side shows empty; binary files say so", () => {
  assert.equal(sideText({ baseText: null, agentText: "new", binary: false }, "base"), "");
  assert.equal(sideText({ baseText: null, agentText: "new", binary: false }, "agent"), "new");
  assert.match(sideText({ baseText: null, agentText: null, binary: true }, "agent"), /binary/);
});

test("only known event kinds with a session pass", () => {
  assert.equal(asBridgeEvent({ sessionId: "s", turnId: null, kind: "text", text: "x" })?.kind, "text");
  assert.equal(asBridgeEvent({ sessionId: "s", kind: "futureKind" }), undefined);
  assert.equal(asBridgeEvent({ kind: "text" }), undefined);
  assert.equal(asBridgeEvent(null), undefined);
});
