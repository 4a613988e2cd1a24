/**
 * End to end in real VS Code (code-server 4.139 = VS Code 1.139 in headless Chromium): install the .vsix,
 * prompt the scripted ACP agent from the palette and from the chat view, watch the streamed answer, answer a
 * permission notification, see the pending hunk as "Apply | Reject | Diff" lenses, as quick fixes and in the
 * Pending Changes tree, open the diff editor, apply from the lens, undo and apply again from the palette,
 * save, check the file in the editor and on disk, apply a second change with the quick fix keys (Ctrl+. Enter:
 * Apply must be the first, focused entry), then kill the bridge and see the extension restart it. Last, a new
 * session of two turns: reload the window and see the chat drawn again from the history, then rewind the
 * second turn from its button in the chat and see its file leave the worktree; retitle README.md on disk while
 * the agent has retitled it too, and see the next turn bring it back as a conflict (chat line, tree, lens).
 *
 * Needs code-server, Chromium, the bridge (.venv) and the packaged .vsix: scripts/test-vscode.sh provides
 * them (CODE_SERVER, CHROMIUM, AGENT_BRIDGE, VSIX). Missing tools skip, unless AGENT_BRIDGE_REQUIRE_E2E is set.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Page } from "playwright-core";
import type { VsCode } from "./harness";
import {
  chatFrame, findFiles, openFile, openQuickFixes, pendingRows, processesWith, runCommand, scriptedWorkbench,
  sendChat, statusItem, TIMEOUT, waitForDisk, waitForEditorText,
} from "./harness";

const ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n";
const DOCSTRING = '    """Say hello to NAME."""';
const AGENT_TEXT = ORIGINAL.replace("def greet(name):\n", `def greet(name):\n${DOCSTRING}\n`);
/** A second change, made after AGENT_TEXT is saved: one line of farewell() reworded. */
const FAREWELL_TEXT = AGENT_TEXT.replace("print('bye ' + name)", "print('goodbye ' + name)");

let root = "";
let vscode: VsCode | undefined;
let page: Page;
let repo = "";
const step = scriptedWorkbench("agent-bridge-e2e-", {
  "greet.py": ORIGINAL,
  "README.md": "# project\n",
  ".gitignore": ".vscode/\n",
}, (opened) => ({ root, vscode, page, repo } = opened));

step("the extension starts the bridge and shows the agent in the status bar", async () => {
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  await statusItem(page, "no session").waitFor();
});

step("a palette prompt sends the selection along and streams the answer into the chat view", async () => {
  await openFile(page, "greet.py");
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("Shift+End");
  await runCommand(page, "Agent Bridge: Prompt Agent");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill("@echo-prompt");
  await page.keyboard.press("Enter");
  const chat = chatFrame(page);
  // The scripted agent echoes what it received: the prompt and the selected line as an embedded resource.
  const answer = chat.locator(".turn .text").first();
  await answer.filter({ hasText: "def greet(name):" }).waitFor();
  assert.match(await answer.innerText(), /resource uri=.*greet\.py/);
  await chat.locator(".turn-status.completed").first().waitFor();
  await statusItem(page, "completed").waitFor();
  await page.keyboard.press("Escape");
});

step("a permission question is a notification with buttons; the answer reaches the agent", async () => {
  const chat = chatFrame(page);
  const prompt = chat.locator("#prompt");
  await prompt.fill("@run echo permitted-output");
  await prompt.press("Enter");
  const toast = page.locator(".notification-toast", { hasText: "echo permitted-output" });
  await toast.waitFor();
  await toast.locator(".monaco-button", { hasText: /^Allow$/ }).click();
  // The command's output is folded under the tool call (chat.e2e.test.ts unfolds one).
  await chat.locator(".tool .output", { hasText: "permitted-output" }).waitFor({ state: "attached" });
  await chat.locator(".turn-status.completed").nth(1).waitFor();
});

step("a multi-line chat prompt edits greet.py; the hunk shows as lenses and in the Pending Changes tree", async () => {
  const chat = chatFrame(page);
  await sendChat(page, ["@think pondering greetings", "@plan read | edit", "@write greet.py", ...AGENT_TEXT.trimEnd().split("\n"), "@end", "@usage 120 45", "@say wrote greet"]);
  await chat.locator(".turn .text", { hasText: "wrote greet" }).waitFor();
  await chat.locator(".reasoning", { hasText: "pondering greetings" }).waitFor({ state: "attached" });
  await chat.locator(".plan li", { hasText: "edit" }).first().waitFor();
  await chat.locator(".session-usage", { hasText: "scripted: 120 in · 45 out" }).waitFor();
  await chat.locator(".tool .tool-kind", { hasText: "edit" }).first().waitFor();

  // The file on disk and in the editor is untouched: the agent worked in its worktree.
  assert.equal(fs.readFileSync(path.join(repo, "greet.py"), "utf8"), ORIGINAL);
  await page.locator(".tabs-container .tab", { hasText: "greet.py" }).click();
  await waitForEditorText(page, ORIGINAL);

  const lenses = page.locator(".editor-instance .codelens-decoration");
  await lenses.locator("a", { hasText: "Apply (scripted: add 1 line)" }).waitFor();
  await lenses.locator("a", { hasText: /^Reject$/ }).waitFor();
  await lenses.locator("a", { hasText: /^Diff$/ }).waitFor();

  await page.locator(".pane-header", { hasText: "Pending Changes" }).waitFor();
  const tree = pendingRows(page);
  await tree.filter({ hasText: "greet.py" }).first().waitFor();
  await tree.filter({ hasText: "scripted: add 1 line" }).first().waitFor();
});

step("the Diff lens opens VS Code's diff editor on the live file and the agent's version", async () => {
  await page.locator(".editor-instance .codelens-decoration a", { hasText: /^Diff$/ }).click();
  const diffTab = page.locator(".tabs-container .tab.active", { hasText: "yours ↔ scripted" });
  await diffTab.waitFor();
  const diff = page.locator(".monaco-diff-editor");
  await diff.waitFor();
  await diff.locator(".editor.modified .view-lines", { hasText: "Say hello to NAME." }).waitFor();
  await page.keyboard.press("Control+W");
  await diffTab.waitFor({ state: "detached" });
  await page.locator(".tabs-container .tab.active", { hasText: "greet.py" }).waitFor();
});

step("Apply lands the change in the editor (undoable); saving writes it to disk", async () => {
  await page.locator(".editor-instance .codelens-decoration a", { hasText: "Apply (scripted: add 1 line)" }).click();
  await waitForEditorText(page, AGENT_TEXT);
  await page.locator(".editor-instance .codelens-decoration a", { hasText: /^Apply/ }).waitFor({ state: "detached" });
  await pendingRows(page, { hasText: "scripted: add 1 line" }).waitFor({ state: "detached" });
  assert.equal(fs.readFileSync(path.join(repo, "greet.py"), "utf8"), ORIGINAL, "applying must not save");

  // Undo restores your text and the hunk is pending again; apply it once more from the palette.
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Z");
  await waitForEditorText(page, ORIGINAL);
  await page.locator(".editor-instance .codelens-decoration a", { hasText: "Apply (scripted: add 1 line)" }).waitFor();
  // The server's code actions are in VS Code's quick fix menu too, on the line the insertion goes before.
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("ArrowDown");
  const menu = await openQuickFixes(page, "Apply agent change (scripted: add 1 line)");
  await menu.locator(".action-item, .monaco-list-row", { hasText: "Reject agent change (scripted: add 1 line)" }).first().waitFor();
  await page.keyboard.press("Escape");
  await runCommand(page, "Agent Bridge: Apply Change");
  await waitForEditorText(page, AGENT_TEXT);
  await pendingRows(page, { hasText: "scripted: add 1 line" }).waitFor({ state: "detached" });

  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, "greet.py"), AGENT_TEXT);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("Ctrl+. then Enter applies a pending hunk: Apply is the first, focused quick fix", async () => {
  // VS Code puts AI-tagged code actions after the others and preferred ones first; an Apply tagged LLMGenerated
  // came after Reject, so the quick fix keys (Ctrl+. Enter) rejected the agent's change.
  const chat = chatFrame(page);
  await sendChat(page, ["@write greet.py", ...FAREWELL_TEXT.trimEnd().split("\n"), "@end", "@say reworded farewell"]);
  await chat.locator(".turn .text", { hasText: "reworded farewell" }).waitFor();
  await page.locator(".tabs-container .tab", { hasText: "greet.py" }).click();
  await waitForEditorText(page, AGENT_TEXT);
  const hunk = "scripted: replace 1 line with 1";
  const applyLens = page.locator(".editor-instance .codelens-decoration a", { hasText: `Apply (${hunk})` });
  await applyLens.waitFor();

  // The cursor on the line the hunk replaces (farewell's print), then the quick fix menu.
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  const menu = await openQuickFixes(page, `Apply agent change (${hunk})`);
  const entries = menu.locator(".monaco-list-row.action");
  await entries.filter({ hasText: `Reject agent change (${hunk})` }).waitFor();
  const listed = (await entries.allInnerTexts()).map((t) => t.trim().split("\n")[0]);
  const focused = (await menu.locator(".monaco-list-row.action.focused").allInnerTexts()).map((t) => t.trim().split("\n")[0]);
  const shown = `quick fix menu: ${JSON.stringify(listed)}, focused: ${JSON.stringify(focused)}`;
  console.log(`e2e: ${shown}`);

  // Enter takes the focused entry. Apply and Reject both end the hunk: wait for that, then look at the buffer.
  await page.keyboard.press("Enter");
  await menu.locator(".monaco-list-row.action").first().waitFor({ state: "hidden" });
  await applyLens.waitFor({ state: "detached" });
  await pendingRows(page, { hasText: hunk }).waitFor({ state: "detached" });
  await waitForEditorText(page, FAREWELL_TEXT, `Ctrl+. Enter did not apply the hunk (${shown})`, 5000);
  assert.match(listed[0] ?? "", /^Apply agent change/, `Apply is not the first quick fix (${shown})`);
  assert.match(focused.join(" | "), /^Apply agent change[^|]*$/, `Apply is not the focused quick fix (${shown})`);

  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, "greet.py"), FAREWELL_TEXT);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("Cancel in the chat stops a running turn; the Reject lens drops a change", async () => {
  const chat = chatFrame(page);
  await sendChat(page, ["@say about to hang", "@hang"]);
  await chat.locator(".turn .text", { hasText: "about to hang" }).waitFor();
  await chat.locator("#cancel").click();
  await chat.locator(".turn-status.cancelled").waitFor();

  await sendChat(page, ["@write README.md", "# project", "", "Rewritten by the agent.", "@end"]);
  await chat.locator(".turn-status.completed").nth(4).waitFor();
  await openFile(page, "README.md");
  const reject = page.locator(".editor-instance .codelens-decoration a", { hasText: /^Reject$/ });
  await reject.waitFor();
  await reject.click();
  await reject.waitFor({ state: "detached" });
  await pendingRows(page, { hasText: "README.md" }).waitFor({ state: "detached" });
  await waitForEditorText(page, "# project\n");
  assert.equal(fs.readFileSync(path.join(repo, "README.md"), "utf8"), "# project\n");
});

step("when the bridge dies the extension restarts it, and the session goes on", async () => {
  const serverArgs = ["serve", "--state-dir", path.join(root, "state")];
  const [pid] = processesWith(...serverArgs);
  assert.ok(pid, "the bridge process is running");
  process.kill(pid, "SIGKILL");
  let newPid: number | undefined;
  for (const deadline = Date.now() + TIMEOUT; newPid === undefined && Date.now() < deadline;) {
    await page.waitForTimeout(200);
    newPid = processesWith(...serverArgs).find((p) => p !== pid);
  }
  assert.ok(newPid !== undefined, "the extension started a new bridge process");
  assert.match(vscode?.extensionLog() ?? "", /the server exited; restarting in 1 s/);
  await statusItem(page, "scripted").waitFor();
  const chat = chatFrame(page);
  const prompt = chat.locator("#prompt");
  await prompt.fill("@say back after a restart");
  await prompt.press("Enter");
  await chat.locator(".turn .text", { hasText: "back after a restart" }).waitFor();
});

/** The second session's worktree file of each turn (found under the state dir once the turn wrote it). */
const worktreeFile: Record<string, string> = {};

step("after a window reload the chat draws the session's two turns again from its history", async () => {
  await runCommand(page, "Agent Bridge: New Session");
  const chat = chatFrame(page);
  await chat.locator(".empty").waitFor();
  await sendChat(page, ["@think only the live stream shows this", "@write hello.txt", "hello from the first turn", "@end", "@say first turn done"]);
  await chat.locator(".turn .text", { hasText: "first turn done" }).waitFor();
  await chat.locator(".reasoning", { hasText: "only the live stream shows this" }).waitFor({ state: "attached" });
  await sendChat(page, ["@plan draft | write", "@write notes.txt", "notes from the second turn", "@end", "@usage 70 30", "@say second turn done"]);
  await chat.locator(".turn .text", { hasText: "second turn done" }).waitFor();
  await chat.locator(".turn-status.completed").nth(1).waitFor();
  for (const name of ["hello.txt", "notes.txt"]) {
    const found = findFiles(path.join(root, "state", "worktrees"), name);
    assert.equal(found.length, 1, `${name} in one worktree: ${JSON.stringify(found)}`);
    worktreeFile[name] = found[0];
  }

  // A new extension host starts: nothing of the chat survives but what the bridge recorded.
  const reloaded = page.waitForEvent("load", { timeout: 60_000 });
  await runCommand(page, "Developer: Reload Window");
  await reloaded;
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  const turns = chatFrame(page).locator(".turn");
  await turns.nth(1).locator(".text", { hasText: "second turn done" }).waitFor();
  assert.equal(await turns.count(), 2);
  const [first, second] = [turns.nth(0), turns.nth(1)];
  assert.match(await first.locator(".prompt-text").innerText(), /^@think only the live stream/);
  await first.locator(".text", { hasText: "first turn done" }).waitFor();
  await first.locator(".tool.status-completed .tool-title", { hasText: "Write hello.txt" }).waitFor();
  await first.locator(".permission.outcome-allowed", { hasText: "Write hello.txt" }).waitFor();
  await first.locator(".turn-status.completed").waitFor();
  // Reasoning is not recorded: its absence shows this chat came from the history, not from a surviving view.
  assert.equal(await first.locator(".reasoning").count(), 0);
  assert.match(await second.locator(".prompt-text").innerText(), /^@plan draft/);
  await second.locator(".tool .tool-title", { hasText: "Write notes.txt" }).waitFor();
  await second.locator(".plan li", { hasText: "write" }).waitFor();
  await second.locator(".usage", { hasText: "70 in · 30 out" }).waitFor();
  assert.equal(await chatFrame(page).locator("button.rewind").count(), 2, "each finished turn offers a rewind");
});

step("Rewind to before the second turn undoes its change in the worktree; the first turn's stays", async () => {
  const chat = chatFrame(page);
  const second = chat.locator(".turn").nth(1);
  await second.locator("button.rewind").click();
  const dialog = page.locator(".monaco-dialog-box");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Rewind to before "@plan draft \| write"\?[^]*changes of 1 turn \(this turn\)/);
  await dialog.locator(".monaco-button", { hasText: /^Rewind$/ }).click();
  await second.locator(".rewound-marker").waitFor();
  await page.locator(".notification-toast", { hasText: "Rewound 1 turn" }).waitFor();
  for (const deadline = Date.now() + TIMEOUT; fs.existsSync(worktreeFile["notes.txt"]) && Date.now() < deadline;) {
    await page.waitForTimeout(100);
  }
  assert.equal(fs.existsSync(worktreeFile["notes.txt"]), false, "the second turn's file left the worktree");
  assert.equal(fs.readFileSync(worktreeFile["hello.txt"], "utf8"), "hello from the first turn\n");
  await pendingRows(page, { hasText: "notes.txt" }).waitFor({ state: "detached" });
  await pendingRows(page, { hasText: "hello.txt" }).first().waitFor();
  assert.equal(await chat.locator(".turn").nth(0).locator(".rewound-marker").count(), 0);
  assert.equal(await second.locator("button.rewind").count(), 0, "a rewound turn offers no rewind");

  // The palette command offers only the turns not undone yet.
  await runCommand(page, "Agent Bridge: Rewind Session to Before a Turn");
  const rows = page.locator(".quick-input-list .monaco-list-row");
  await rows.filter({ hasText: "@think only the live stream" }).waitFor();
  assert.equal(await rows.count(), 1, JSON.stringify(await rows.allInnerTexts()));
  await page.keyboard.press("Escape");
});

step("lines both you and the agent changed come back as a conflict: chat line, tree warning, lens", async () => {
  const chat = chatFrame(page);
  await sendChat(page, ["@write README.md", "# the agent's title", "@end", "@say retitled"]);
  await chat.locator(".turn .text", { hasText: "retitled" }).waitFor();
  const tree = pendingRows(page);
  await tree.filter({ hasText: "README.md" }).first().waitFor();
  // You retitle it too, on disk, before the next turn: the worktree catches up with you when it starts.
  fs.writeFileSync(path.join(repo, "README.md"), "# your title\n");
  await sendChat(page, ["@say caught up"]);
  await chat.locator(".turn .text", { hasText: "caught up" }).waitFor();
  await chat.locator(".turn .notice", { hasText: "Caught up with your changes to 1 file; 1 conflict to review" }).waitFor();
  const row = tree.filter({ hasText: "conflict · line 1" });
  await row.waitFor();
  await row.locator(".codicon-warning").waitFor();
  assert.match(await row.innerText(), /scripted: replace 1 line with 1/);
  await openFile(page, "README.md");
  await waitForEditorText(page, "# your title\n");
  await page.locator(".editor-instance .codelens-decoration a", { hasText: /conflict/ }).first().waitFor();
});
