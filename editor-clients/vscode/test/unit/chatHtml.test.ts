import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeHtml, formatUsage, renderAgentText, renderSessionUsage, renderTranscript, renderTurn } from "../../src/core/chatHtml";
import { chatPage } from "../../src/core/chatPage";
import type { TurnView } from "../../src/core/transcript";

function turn(partial: Partial<TurnView>): TurnView {
  return { turnId: "t", agent: "qwen", prompt: "p", status: "running", entries: [], plan: [], usage: {}, rewound: false, ...partial };
}

test("everything from the agent is escaped", () => {
  assert.equal(escapeHtml(`<img src=x onerror="a">&'`), "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;");
  const html = renderTurn(turn({
    prompt: "<b>me</b>",
    agent: "<script>",
    entries: [
      { type: "text", text: "<script>alert(1)</script>" },
      { type: "tool", call: { toolCallId: "c", title: "<t>", toolKind: "edit", status: "completed", paths: ["<p>"], output: "<o>" } },
      { type: "permission", title: "x", command: "rm <x>", outcome: "asking" },
    ],
  }));
  assert.doesNotMatch(html, /<script>|<b>|<t>|<o>|<x>/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /class="paths">&lt;p&gt;</);
});

test("fenced code becomes a highlighted block and inline code a code span", () => {
  const html = renderAgentText("Run `make`:\n```sh\nmake <all>\n```\ndone");
  assert.match(html, /<code>make<\/code>/);
  assert.match(html, /<pre class="code hljs" data-lang="sh"><code>make &lt;all&gt;<\/code><\/pre>/);
  assert.match(html, /<p>done<\/p>/);
});

test("usage reads like people write it", () => {
  assert.equal(formatUsage({ inputTokens: 1200, outputTokens: 45, cost: 0.0123 }), "1,200 in · 45 out · $0.0123");
  assert.equal(formatUsage({ totalTokens: 99 }), "99 tokens");
  assert.equal(formatUsage({ contextUsed: 50, contextSize: 200 }), "context 25%");
  assert.equal(formatUsage({ contextUsed: 1, contextSize: 1000 }), "context <1%");
  assert.equal(formatUsage({ cost: 1, currency: "EUR" }), "EUR 1.0000");
  assert.equal(formatUsage({}), "");
  assert.equal(renderSessionUsage([{ agent: "qwen", usage: { inputTokens: 0, outputTokens: 0, cost: 0 } }]), "");
  assert.match(renderSessionUsage([{ agent: "qwen", usage: { inputTokens: 3, outputTokens: 4, cost: 0 } }]), /qwen: 3 in · 4 out/);
});

test("a turn shows its status, plan, error and usage", () => {
  const html = renderTurn(turn({
    status: "failed", stopReason: "refusal", error: "no way",
    plan: [{ content: "step one", status: "completed" }], usage: { inputTokens: 1, outputTokens: 2 },
  }));
  assert.match(html, /turn-status failed">failed \(refusal\)/);
  assert.match(html, /plan-completed">● step one/);
  assert.match(html, /class="error">no way/);
  assert.match(html, /1 in · 2 out/);
  assert.match(renderTurn(turn({})), /running…/);
});

test("an empty session invites a prompt; pending changes are summed up", () => {
  assert.match(renderTranscript(undefined), /No conversation yet/);
  assert.match(renderTranscript(undefined, [], "earlier <turns>"), /earlier &lt;turns&gt;/);
  const html = renderTranscript({ sessionId: "s", turns: [turn({})], notices: ["hi"], pending: { files: 1, hunks: 2 } });
  assert.match(html, /2 pending changes in 1 file/);
  assert.match(html, /class="notice">hi/);
});

test("the page's script runs only with its nonce", () => {
  const page = chatPage("abc123", "vscode-resource:");
  assert.match(page, /script-src 'nonce-abc123'/);
  assert.match(page, /<script nonce="abc123">/);
  assert.doesNotMatch(page, /script-src[^;]*unsafe/);
});
