import assert from "node:assert/strict";
import { test } from "node:test";
import { renderToolCall, renderTurn } from "../../src/core/chatHtml";
import type { PathContext } from "../../src/core/chatPaths";
import { pathInText, relativize, showPath } from "../../src/core/chatPaths";
import { renderMarkdown } from "../../src/core/markdown";
import type { TurnView } from "../../src/core/transcript";

const CTX: PathContext = {
  worktree: "/state/worktrees/51793fbbc370",
  workspace: "/home/me/project",
  roots: ["/home/me/project"],
  isFile: (p) => ["/home/me/project/greet.py", "/state/worktrees/51793fbbc370/src/new.py"].includes(p),
};

test("Markdown: emphasis, lists, headings, quotes, tables and strikethrough", () => {
  const html = renderMarkdown(
    "# Title\n\n**bold**, _italic_ and ~~gone~~\n\n- one\n- two\n\n1. first\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    CTX,
  );
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<strong>bold<\/strong>, <em>italic<\/em> and <s>gone<\/s>/);
  assert.match(html, /<ul>\s*<li>one<\/li>\s*<li>two<\/li>\s*<\/ul>/);
  assert.match(html, /<ol>\s*<li>first<\/li>\s*<\/ol>/);
  assert.match(html, /<blockquote>\s*<p>quoted<\/p>/);
  assert.match(html, /<table>[^]*<th>a<\/th>[^]*<td>2<\/td>/);
});

test("code blocks are highlighted by their language, or guessed when none is named", () => {
  const python = renderMarkdown("```python\ndef greet(name):\n    return 'hi ' + name  # say it\n```\n", CTX);
  assert.match(python, /<pre class="code hljs" data-lang="python"><code>/);
  assert.match(python, /<span class="hljs-keyword">def<\/span> <span class="hljs-title function_">greet<\/span>/);
  assert.match(python, /<span class="hljs-string">&#x27;hi &#x27;<\/span>|<span class="hljs-string">'hi '<\/span>/);
  assert.match(python, /<span class="hljs-comment"># say it<\/span>/);
  const guessed = renderMarkdown("```\n{\"a\": [1, 2, true]}\n```\n", CTX);
  assert.match(guessed, /class="hljs-/);
  const unknown = renderMarkdown("```nosuchlang\n<b>x</b>\n```\n", CTX);
  assert.match(unknown, /<code>&lt;b&gt;x&lt;\/b&gt;<\/code>/);
});

test("agent Markdown is untrusted: no raw HTML, no script, no link the page could follow itself", () => {
  const html = renderMarkdown(
    [
      "<script>alert(1)</script>",
      "<img src=x onerror=alert(2)>",
      "[js](javascript:alert(3)) [vb](vbscript:x) [data](data:text/html;base64,PHNjcmlwdD4=)",
      "[cmd](command:workbench.action.terminal.new) [site](https://example.com/?q=\"x\")",
      "![pixel](https://tracker.example/p.png) ![local](/etc/passwd)",
      "<a href=\"https://evil.example\">raw</a> https://auto.example/path",
    ].join("\n\n"),
    CTX,
  );
  assert.doesNotMatch(html, /<script|<img|<iframe|<[a-z][^>]*\son\w+=/i);
  assert.doesNotMatch(html, /<[a-z][^>]*\shref=/i, "no link can navigate the webview");
  assert.doesNotMatch(html, /data-(href|open)="(javascript|vbscript|data):/i);
  assert.match(html, /\[js\]\(javascript:alert\(3\)\)/, "a script link stays text");
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /&lt;a href=&quot;<a class="link" data-href="https:\/\/evil\.example"[^>]*>https:\/\/evil\.example<\/a>&quot;&gt;raw&lt;\/a&gt;/);
  assert.match(html, /<a class="link dead" title="command:workbench\.action\.terminal\.new">cmd<\/a>/);
  assert.match(html, /<a class="link" data-href="https:\/\/example\.com\/\?q=%22x%22"[^>]*>site<\/a>/);
  assert.match(html, /data-href="https:\/\/tracker\.example\/p\.png"[^>]*>\[image: pixel\]<\/a>/);
  assert.match(html, /<span class="image">\[image: local\]<\/span>/);
  assert.match(html, /data-href="https:\/\/auto\.example\/path"/, "bare URLs become links too");
});

test("worktree paths are shown relative to the workspace and open the user's file", () => {
  assert.deepEqual(showPath("/state/worktrees/51793fbbc370/src/a.py", CTX), { label: "src/a.py", target: "/home/me/project/src/a.py" });
  assert.deepEqual(showPath("/home/me/project/README.md", CTX), { label: "README.md", target: "/home/me/project/README.md" });
  assert.equal(showPath("/etc/passwd", CTX), undefined);
  assert.equal(showPath("/state/worktrees/51793fbbc370/../other/x", CTX), undefined);
  assert.deepEqual(pathInText("greet.py:12", CTX), { label: "greet.py", target: "/home/me/project/greet.py" });
  assert.deepEqual(pathInText("src/new.py", CTX), { label: "src/new.py", target: "/home/me/project/src/new.py" }, "a file only the agent has");
  assert.equal(pathInText("make", CTX), undefined);
  assert.equal(pathInText("missing.py", CTX), undefined);
  assert.equal(pathInText("../outside.py", CTX), undefined);
  assert.equal(relativize("cd /state/worktrees/51793fbbc370 && cat /state/worktrees/51793fbbc370/a.py", CTX), "cd . && cat a.py");

  const html = renderMarkdown(
    "Wrote /state/worktrees/51793fbbc370/src/deep/module_name.py. See `greet.py` and [the notes](/state/worktrees/51793fbbc370/notes.md).",
    CTX,
  );
  assert.doesNotMatch(html, /worktrees/, "no worktree path is shown");
  assert.match(html, /<a class="path" data-open="\/home\/me\/project\/src\/deep\/module_name\.py"[^>]*>src\/deep\/module_name\.py<\/a>\./);
  assert.match(html, /<a class="path" data-open="\/home\/me\/project\/greet\.py"[^>]*><code>greet\.py<\/code><\/a>/);
  assert.match(html, /<a class="path" data-open="\/home\/me\/project\/notes\.md"[^>]*>the notes<\/a>/);
});

test("a tool call's paths are relative links; its command and output are folded under it", () => {
  const html = renderToolCall({
    toolCallId: "c1", title: "Run tests in /state/worktrees/51793fbbc370", toolKind: "execute", status: "completed",
    paths: ["/state/worktrees/51793fbbc370/tests/test_a.py", "/opt/elsewhere"],
    command: "pytest /state/worktrees/51793fbbc370/tests", output: "1 passed <ok>",
  }, CTX);
  assert.match(html, /^<details class="tool status-completed" data-tool-call="c1" data-key="tool:c1"><summary>/);
  assert.doesNotMatch(html, /<details[^>]* open/, "folded until clicked");
  assert.match(html, /<summary>[^]*<a class="path" data-open="\/home\/me\/project\/tests\/test_a\.py"[^>]*>tests\/test_a\.py<\/a>, \/opt\/elsewhere<\/span><\/summary>/);
  assert.match(html, /<div class="tool-body"><pre class="command">\$ pytest tests<\/pre><pre class="output">1 passed &lt;ok&gt;<\/pre><\/div><\/details>$/);
  assert.doesNotMatch(html, /worktrees/);
  const read = renderToolCall({ toolCallId: "c2", title: "Read a.py", toolKind: "read", status: "completed", paths: [] }, CTX);
  assert.match(read, /^<div class="tool status-completed"/, "nothing to fold: one line");
});

test("a turn renders its answer as Markdown with the session's paths", () => {
  const turn: TurnView = {
    turnId: "t1", agent: "qwen", prompt: "**not markdown**", status: "completed", plan: [], usage: {}, rewound: false,
    entries: [
      { type: "reasoning", text: "hmm" },
      { type: "text", text: "Done: **edited** `/state/worktrees/51793fbbc370/greet.py`" },
      { type: "permission", title: "Run", command: "ls /state/worktrees/51793fbbc370", cwd: "/state/worktrees/51793fbbc370", outcome: "allowed" },
    ],
  };
  const html = renderTurn(turn, CTX);
  assert.match(html, /prompt-text">\*\*not markdown\*\*</, "the user's prompt is shown as typed");
  assert.match(html, /<strong>edited<\/strong> <a class="path" data-open="\/home\/me\/project\/greet\.py"[^>]*><code>greet\.py<\/code><\/a>/);
  assert.match(html, /<details class="reasoning" data-key="t1:0">/);
  assert.match(html, /Permission: <span class="tool-title">ls <a class="path"[^>]*>\.<\/a><\/span> <span class="paths">in <a class="path"/);
});
