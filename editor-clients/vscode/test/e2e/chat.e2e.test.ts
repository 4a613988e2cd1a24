/**
 * The chat end to end in real VS Code (code-server + headless Chromium) with the bridge's scripted agent: the
 * chat sits in the secondary side bar beside the editor; the agent's answer is Markdown (heading, bold, list,
 * a highlighted code block, a link); the worktree paths it reports read relative to the workspace and open
 * your file, or the diff while a change to it is pending; a web link goes through VS Code's opener (which
 * asks first); a tool call's output is folded until clicked and stays open across redraws; long
 * paths and words wrap instead of scrolling sideways; after a window reload all of it is drawn again from the
 * session's history. Screenshots go to test-results/screenshots/ (printed).
 *
 * Needs code-server, Chromium, the bridge (.venv) and the packaged .vsix, like vscode.e2e.test.ts.
 */
import assert from "node:assert/strict";
import type { FrameLocator, Locator, Page } from "playwright-core";
import {
  chatFrame, runCommand, saveScreenshot, scriptedWorkbench, sendChat, statusItem, TIMEOUT,
} from "./harness";

const LONG_DIR = "docs/a-rather-long-directory-name-that-must-wrap/and-another-long-directory-name";
const NOTES = `${LONG_DIR}/notes-with-a-long-file-name.md`;
const LONG_WORD = "x".repeat(300);
const PROMPT = [
  `@write ${NOTES}`, "# notes", "@end",
  "@run echo folded-tool-output",
  "@say ## What I did",
  "@say **Bold claim**, *emphasis* and [a link](https://example.com/docs).",
  "@say - wrote the notes",
  "@say - ran a command",
  "@say ```typescript",
  "@say const greet = (name: string): string => \"hello \" + name; // a comment",
  "@say export default greet;",
  "@say ```",
  "@say See `greet.py` for the greeting.",
  `@say ${LONG_WORD}`,
];

let page: Page;
const step = scriptedWorkbench("agent-bridge-chat-e2e-", {
  "greet.py": "def greet(name):\n    print('hello ' + name)\n",
  ".gitignore": ".vscode/\n",
}, (opened) => ({ page } = opened));

async function box(locator: Locator): Promise<{ x: number; y: number; width: number; height: number }> {
  const b = await locator.boundingBox();
  assert.ok(b, "the element has a box on screen");
  return b;
}

/** Whether the transcript scrolls sideways (content wider than the view). */
async function scrollsSideways(chat: FrameLocator): Promise<string | undefined> {
  return chat.locator("#transcript").evaluate((el: unknown) => {
    const e = el as { scrollWidth: number; clientWidth: number };
    return e.scrollWidth > e.clientWidth ? `scrollWidth ${e.scrollWidth} > clientWidth ${e.clientWidth}` : undefined;
  });
}

/** Answers the turn's permission notifications with Allow until the turn ends (edits inside the worktree may
 * need no answer: how many questions come depends on the permission policy, not on the chat). */
async function allowUntilDone(turn: Locator): Promise<void> {
  const done = turn.locator(".turn-status.completed");
  const allowButton = page.locator(".notification-toast .monaco-button", { hasText: /^Allow$/ }).first();
  for (const deadline = Date.now() + TIMEOUT; Date.now() < deadline;) {
    if (await done.count() > 0) {
      return;
    }
    if (await allowButton.isVisible()) {
      await allowButton.click().catch(() => undefined);
    }
    await page.waitForTimeout(200);
  }
  await done.waitFor({ timeout: 1 });
}

step("the chat opens in the secondary side bar, beside the editor", async () => {
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  await runCommand(page, "Agent Bridge: New Session");
  await chatFrame(page).locator(".empty").waitFor();
  const aux = page.locator(".part.auxiliarybar");
  await aux.waitFor();
  const chatBox = await box(page.locator("iframe.webview.ready").first());
  const auxBox = await box(aux);
  const inside = chatBox.x >= auxBox.x - 1 && chatBox.x + chatBox.width <= auxBox.x + auxBox.width + 1;
  assert.ok(inside, `the chat ${JSON.stringify(chatBox)} is in the secondary side bar ${JSON.stringify(auxBox)}`);
  const editor = await box(page.locator(".part.editor"));
  assert.ok(auxBox.x >= editor.x + editor.width - 1, "the secondary side bar is right of the editor");
  await aux.locator(".pane-header", { hasText: "Pending Changes" }).waitFor();
});

step("the answer is Markdown with a highlighted code block; a tool's output is folded until clicked", async () => {
  const chat = chatFrame(page);
  await sendChat(page, PROMPT, { paste: true });
  const turn = chat.locator(".turn").first();
  await allowUntilDone(turn);
  const answer = turn.locator(".text .markdown");
  await answer.locator("h2", { hasText: "What I did" }).waitFor();
  await answer.locator("strong", { hasText: "Bold claim" }).waitFor();
  await answer.locator("em", { hasText: "emphasis" }).waitFor();
  assert.deepEqual(await answer.locator("ul > li").allInnerTexts(), ["wrote the notes", "ran a command"]);
  const code = answer.locator("pre.code[data-lang=typescript]");
  await code.locator(".hljs-keyword", { hasText: "const" }).waitFor();
  await code.locator(".hljs-string").first().waitFor();
  await code.locator(".hljs-comment", { hasText: "// a comment" }).waitFor();
  // Highlighting is colour, not just markup: the keyword is drawn in another colour than plain code.
  const colours = await code.evaluate((el: unknown) => {
    const pre = el as { querySelector(s: string): unknown };
    const style = (x: unknown): string => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } })
      .getComputedStyle(x).color;
    return [style(pre.querySelector(".hljs-keyword")), style(pre.querySelector("code"))];
  });
  assert.notEqual(colours[0], colours[1], `keyword and code colours: ${JSON.stringify(colours)}`);
  await answer.locator("a.link", { hasText: "a link" }).waitFor();

  const tool = turn.locator("details.tool", { hasText: "echo folded-tool-output" });
  await tool.locator("summary").waitFor();
  const output = tool.locator(".output");
  assert.equal(await output.isVisible(), false, "the output is folded");
  await saveScreenshot(page, "chat-markdown-folded-tool", page.locator(".part.auxiliarybar"));
  await tool.locator("summary").click();
  await output.filter({ hasText: "folded-tool-output" }).waitFor();
  await saveScreenshot(page, "chat-tool-expanded", page.locator(".part.auxiliarybar"));
  // The chat is drawn again on every event: what you unfolded stays unfolded while the next turn streams.
  await sendChat(page, ["@say a second turn"]);
  await chat.locator(".turn").nth(1).locator(".turn-status.completed").waitFor();
  assert.equal(await output.isVisible(), true, "the unfolded tool call stays open across redraws");
  await saveScreenshot(page, "workbench-with-chat");
});

step("paths read relative to the workspace, open your file or the pending diff, and nothing scrolls sideways", async () => {
  const chat = chatFrame(page);
  const transcript = await chat.locator("#transcript").innerText();
  assert.doesNotMatch(transcript, /worktrees/, "no worktree path is shown");
  const toolPath = chat.locator(".tool .paths a.path", { hasText: NOTES });
  await toolPath.waitFor();
  assert.equal(await scrollsSideways(chat), undefined);
  await chat.locator(".turn .answer").first().evaluate((el: unknown) => {
    (el as { scrollIntoView(options: unknown): void }).scrollIntoView({ block: "start" });
  });
  await saveScreenshot(page, "chat-relative-paths", page.locator(".part.auxiliarybar"));

  await chat.locator(".markdown a.path", { hasText: "greet.py" }).click();
  await page.locator(".tabs-container .tab.active", { hasText: "greet.py" }).waitFor();

  // A web link goes through VS Code's opener, which asks before it leaves for an untrusted site.
  await chat.locator(".markdown a.link", { hasText: "a link" }).click();
  const dialog = page.locator(".monaco-dialog-box", { hasText: "example.com" });
  await dialog.waitFor();
  await dialog.locator(".monaco-button", { hasText: /^Cancel$/ }).click();
  await dialog.waitFor({ state: "detached" });

  // The notes are a new file only the agent has: its path opens the diff of the pending change.
  await toolPath.click();
  await page.locator(".tabs-container .tab.active", { hasText: "yours ↔ scripted" }).waitFor();
  await page.locator(".monaco-diff-editor").waitFor();
});

step("after a window reload the chat draws the turn again from the history: Markdown, folded tool, paths", async () => {
  const reloaded = page.waitForEvent("load", { timeout: 60_000 });
  await runCommand(page, "Developer: Reload Window");
  await reloaded;
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  const chat = chatFrame(page);
  const turn = chat.locator(".turn").first();
  await turn.locator(".markdown strong", { hasText: "Bold claim" }).waitFor({ timeout: 60_000 });
  await turn.locator(".markdown pre.code .hljs-keyword", { hasText: "const" }).waitFor();
  assert.equal(await chat.locator(".turn").count(), 2);
  const tool = turn.locator("details.tool", { hasText: "echo folded-tool-output" });
  await tool.locator("summary").waitFor();
  assert.equal(await tool.locator(".output").isVisible(), false, "folded again after the reload");
  await chat.locator(".tool .paths a.path", { hasText: NOTES }).waitFor();
  assert.doesNotMatch(await chat.locator("#transcript").innerText(), /worktrees/);
  assert.equal(await scrollsSideways(chat), undefined);
  await saveScreenshot(page, "chat-after-reload", page.locator(".part.auxiliarybar"));
});
