import assert from "node:assert/strict";
import { test } from "node:test";
import { RestartBackoff } from "../../src/core/backoff";

const opts = { initialMs: 1000, maxMs: 8000, stableMs: 60_000, maxAttempts: 6 };

test("delays double up to the cap, then give up", () => {
  const b = new RestartBackoff(opts);
  const delays = [];
  for (let i = 0; i < 7; i++) {
    delays.push(b.nextDelay(i));
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000, undefined]);
  b.reset();
  assert.equal(b.nextDelay(100), 1000);
});

test("a server that stayed up long enough starts the backoff over", () => {
  const b = new RestartBackoff(opts);
  b.nextDelay(0);
  b.nextDelay(0);
  b.started(1000);
  assert.equal(b.nextDelay(5000), 4000, "a short run still counts as failing");
  b.started(10_000);
  assert.equal(b.nextDelay(10_000 + 60_000), 1000);
  assert.equal(b.attempts, 1);
});
