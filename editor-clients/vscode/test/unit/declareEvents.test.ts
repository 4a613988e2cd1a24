import assert from "node:assert/strict";
import { test } from "node:test";
import { DeclareEvents } from "../../src/core/declareEvents";
import type { WithExperimental } from "../../src/core/declareEvents";

test("the client declares experimental agentBridge.events, keeping other experimental capabilities", () => {
  const capabilities: WithExperimental = { experimental: { other: 1 } };
  new DeclareEvents().fillClientCapabilities(capabilities);
  assert.deepEqual(capabilities.experimental, { other: 1, agentBridge: { events: true } });
  const bare: WithExperimental = {};
  new DeclareEvents().fillClientCapabilities(bare);
  assert.deepEqual(bare.experimental, { agentBridge: { events: true } });
});
