/**
 * End to end in real VS Code: steering the scripted ACP agent from the chat view and the status bar. A first
 * prompt makes the session; its header then shows the agent's mode and model pickers and the status bar the
 * same two. Switching mode and model in the header reaches the agent (its `@echo-state` says so) and shows in
 * the status bar; the status bar's model item picks another one with a QuickPick. In the prompt box `/` lists
 * the agent's slash commands (published by `@commands`) and `@` the workspace's files: a chosen file becomes a
 * chip, goes out as an attachment with the unsaved text of its editor, and `@selection` attaches the selected
 * lines; a chip's × drops it.
 *
 * Needs what vscode.e2e.test.ts needs (scripts/test-vscode.sh: CODE_SERVER, CHROMIUM, AGENT_BRIDGE, VSIX).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { VsCode } from "./harness";
import { chatFrame, openFile, runCommand, scriptedWorkbench, sendChat, statusItem } from "./harness";

const GREET = "def greet(name):\n    print('hello ' + name)\n";

let vscode: VsCode | undefined;
let page: Page;
const step = scriptedWorkbench("agent-bridge-e2e-steer-", {
  "greet.py": GREET,
  "src/farewell.py": "def farewell(name):\n    print('bye ' + name)\n",
  "README.md": "# project\n",
  ".gitignore": ".vscode/\n",
}, (opened) => ({ vscode, page } = opened));

/** The last answer of the chat that contains `text`. */
function answer(text: string): ReturnType<ReturnType<typeof chatFrame>["locator"]> {
  return chatFrame(page).locator(".turn .text", { hasText: text }).last();
}

/** Types into the prompt box key by key (completions follow keystrokes), without sending. */
async function type(text: string): Promise<void> {
  await chatFrame(page).locator("#prompt").pressSequentially(text, { delay: 20 });
}

step("after the first prompt the chat header and the status bar show the agent's mode and model", async () => {
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  await runCommand(page, "Agent Bridge: New Session");
  const chat = chatFrame(page);
  await chat.locator(".empty").waitFor();
  // No session yet: nothing to steer, so no pickers.
  await chat.locator("#mode-label").waitFor({ state: "hidden" });
  await sendChat(page, ["@commands", "@say ready"]);
  await answer("ready").waitFor();
  await chat.locator("#mode-label").waitFor();
  assert.equal(await chat.locator("#mode-picker").inputValue(), "default");
  assert.equal(await chat.locator("#model-picker").inputValue(), "fast");
  assert.deepEqual(await chat.locator("#mode-picker option").allInnerTexts(), ["Default", "Plan"]);
  assert.deepEqual(await chat.locator("#model-picker option").allInnerTexts(), ["Fast", "Deep"]);
  await statusItem(page, "Mode: Default").waitFor();
  await statusItem(page, "Model: Fast").waitFor();
});

step("switching mode and model in the chat header reaches the agent and shows in the status bar", async () => {
  const chat = chatFrame(page);
  await chat.locator("#mode-picker").selectOption("plan");
  await statusItem(page, "Mode: Plan").waitFor();
  await chat.locator("#model-picker").selectOption("deep");
  await statusItem(page, "Model: Deep").waitFor();
  await sendChat(page, ["@echo-state"]);
  await answer("mode=plan model=deep").waitFor();
  assert.equal(await chat.locator("#mode-picker").inputValue(), "plan");
});

step("the status bar's model item picks another model with a QuickPick; the palette flips an option", async () => {
  await statusItem(page, "Model: Deep").click();
  const rows = page.locator(".quick-input-list .monaco-list-row");
  await rows.filter({ hasText: "Deep" }).first().waitFor();
  assert.match(await rows.filter({ hasText: "Deep" }).first().innerText(), /Deep/);
  await rows.filter({ hasText: "Fast" }).first().click();
  await statusItem(page, "Model: Fast").waitFor();
  const chat = chatFrame(page);
  for (const deadline = Date.now() + 10_000; (await chat.locator("#model-picker").inputValue()) !== "fast" && Date.now() < deadline;) {
    await page.waitForTimeout(100);
  }
  assert.equal(await chat.locator("#model-picker").inputValue(), "fast");
  await sendChat(page, ["@echo-state"]);
  await answer("mode=plan model=fast thinking=false").waitFor();

  // The agent's other options are in the palette: a boolean one flips.
  await runCommand(page, "Agent Bridge: Set Agent Option");
  const thinking = rows.filter({ hasText: "Thinking" }).first();
  await thinking.waitFor();
  assert.match(await thinking.innerText(), /off/);
  await thinking.click();
  for (const deadline = Date.now() + 10_000; !/set to thinking true/.test(vscode?.extensionLog() ?? "") && Date.now() < deadline;) {
    await page.waitForTimeout(100);
  }
  await sendChat(page, ["@echo-state"]);
  await answer("mode=plan model=fast thinking=true").waitFor();
});

step("/ at the start of the prompt lists the agent's commands; choosing one fills it in", async () => {
  const chat = chatFrame(page);
  const prompt = chat.locator("#prompt");
  await prompt.click();
  await type("/");
  const list = chat.locator("#completions .completion");
  await list.filter({ hasText: "/help" }).waitFor();
  await list.filter({ hasText: "/say" }).waitFor();
  assert.match(await list.filter({ hasText: "/say" }).innerText(), /Repeat some text/);
  await type("sa");
  await list.filter({ hasText: "/help" }).waitFor({ state: "detached" });
  await prompt.press("Enter");
  await chat.locator("#completions").waitFor({ state: "hidden" });
  assert.equal(await prompt.inputValue(), "/say ");
  await prompt.fill("");
});

step("@ lists workspace files; the chosen one is a chip and reaches the agent with its unsaved text", async () => {
  // An unsaved edit: the agent gets the text the user sees, not the file on disk.
  await openFile(page, "greet.py");
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("# unsaved marker");
  const chat = chatFrame(page);
  const prompt = chat.locator("#prompt");
  await prompt.click();
  await type("@echo-prompt");
  await prompt.press("Shift+Enter");
  await type("explain @far");
  const list = chat.locator("#completions .completion");
  await list.filter({ hasText: "farewell.py" }).waitFor();
  await prompt.press("Enter");
  await chat.locator("#chips .chip", { hasText: "farewell.py" }).waitFor();
  assert.equal(await prompt.inputValue(), "@echo-prompt\nexplain @src/farewell.py ");
  await type("and @gree");
  await list.filter({ hasText: "greet.py" }).first().click();
  await chat.locator("#chips .chip", { hasText: "greet.py" }).waitFor();
  // Dropping a chip drops its attachment (the text keeps the mention).
  await chat.locator("#chips .chip", { hasText: "farewell.py" }).locator("button.remove").click();
  await chat.locator("#chips .chip", { hasText: "farewell.py" }).waitFor({ state: "detached" });
  await prompt.press("Enter");
  const echoed = answer("explain @src/farewell.py");
  await echoed.waitFor();
  await echoed.filter({ hasText: "unsaved marker" }).waitFor();
  const text = await echoed.innerText();
  assert.match(text, /<resource[^>]*uri=\S*greet\.py/);
  assert.doesNotMatch(text, /uri=\S*farewell\.py/, "the dropped chip is not sent");
  assert.equal(await chat.locator("#chips .chip").count(), 0, "the chips go with the prompt");
});

step("@selection attaches the editor's selected lines", async () => {
  await page.locator(".tabs-container .tab", { hasText: "greet.py" }).click();
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("Shift+End");
  const chat = chatFrame(page);
  const prompt = chat.locator("#prompt");
  await prompt.click();
  await type("@echo-prompt");
  await prompt.press("Shift+Enter");
  await type("look at @sel");
  const list = chat.locator("#completions .completion");
  await list.filter({ hasText: "@selection" }).waitFor();
  assert.match(await list.filter({ hasText: "@selection" }).innerText(), /greet\.py, lines 1/);
  await prompt.press("Enter");
  await chat.locator("#chips .chip", { hasText: "greet.py:1" }).waitFor();
  await prompt.press("Enter");
  const echoed = answer("look at @greet.py:1");
  await echoed.waitFor();
  await echoed.filter({ hasText: "def greet(name):" }).waitFor();
  assert.match(await echoed.innerText(), /<resource[^>]*uri=\S*greet\.py/);
});
