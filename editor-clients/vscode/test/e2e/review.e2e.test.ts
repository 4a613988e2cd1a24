/**
 * Reviewing in place, end to end in real VS Code (code-server + headless Chromium): one agent turn changes
 * two files and creates a third. The inline preview shows the change where it lives (removed lines struck
 * through, the agent's lines in a read-only block below them, with Apply / Reject) and is saved as a
 * screenshot for a reviewer; the setting's toggle hides it. Then the keys: next / previous change across
 * files, apply and reject at the cursor, apply all, prompt and cancel; a new file's row in Pending Changes
 * opens its diff, Apply in the diff's title puts it in an unsaved editor and nothing on disk until you save;
 * a reject says what it did and Undo brings the change back.
 *
 * Needs what vscode.e2e.test.ts needs (scripts/test-vscode.sh provides it).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Page } from "playwright-core";
import {
  chatFrame, openFile, pendingRows, runCommand, saveScreenshot, scriptedWorkbench, sendChat, statusItem,
  waitForDisk, waitForEditorText,
} from "./harness";

const CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n";
/** Two hunks: add()'s body replaced by two lines, and div() appended at the end. */
const CALC_AGENT = CALC.replace("    return a + b\n", "    total = a + b\n    return total\n") + "\n\ndef div(a, b):\n    return a / b\n";
const CALC_FIRST_APPLIED = CALC.replace("    return a + b\n", "    total = a + b\n    return total\n");
const NOTES = "# notes\n";
const NOTES_AGENT = "# Notes, reviewed by the agent\n";
const UTIL = "def helper():\n    return 42\n";

let page: Page;
let repo = "";
const step = scriptedWorkbench(
  "agent-bridge-review-e2e-", { "calc.py": CALC, "notes.md": NOTES, ".gitignore": ".vscode/\n" },
  (opened) => ({ page, repo } = opened),
);

const previewBlocks = (): ReturnType<Page["locator"]> => page.locator(".editor-instance .review-widget");
// Pending Changes rows only: the Explorer beside the tree lists the same file names.
const treeRow = (text: string | RegExp): ReturnType<Page["locator"]> => pendingRows(page, { hasText: text });

/** How many rendered text runs of the editor are struck through (the removed lines' decoration). */
async function struckThrough(): Promise<string[]> {
  return page.locator(".editor-instance .monaco-editor .view-lines").first().evaluate((el: unknown) => {
    type El = { textContent: string | null };
    const root = el as { querySelectorAll(s: string): ArrayLike<El> };
    const view = (globalThis as unknown as { getComputedStyle(e: El): { textDecorationLine: string } });
    return Array.from(root.querySelectorAll("span span"))
      .filter((span) => view.getComputedStyle(span).textDecorationLine.includes("line-through"))
      .map((span) => (span.textContent ?? "").replace(/\u00a0/g, " "));
  });
}

async function cursorLine(): Promise<number> {
  const text = await statusItem(page, /Ln \d+, Col \d+/).first().innerText();
  return Number(/Ln (\d+)/.exec(text)?.[1]);
}

/** Waits until the status bar says the cursor is on (1-based) `line`. */
async function waitForCursorLine(line: number): Promise<void> {
  for (let i = 0; i < 100 && (await cursorLine()) !== line; i++) {
    await page.waitForTimeout(100);
  }
  assert.equal(await cursorLine(), line, "the cursor's line");
}

/** Focuses the editor's text: a click on one of its lines (the middle of the editor may be a preview block;
 * a sticky-scroll line over the text takes the click as well, which focuses the editor too). */
async function focusEditor(): Promise<void> {
  await page.locator(".editor-instance .monaco-editor .view-lines .view-line").first().click({ force: true });
}

step("an agent turn changes calc.py and notes.md and creates util.py", async () => {
  await statusItem(page, "scripted").waitFor({ timeout: 60_000 });
  // "New Session" shows the chat view with its prompt box focused.
  await runCommand(page, "Agent Bridge: New Session");
  await sendChat(page, [
    "@write calc.py", ...CALC_AGENT.trimEnd().split("\n"), "@end",
    "@write notes.md", NOTES_AGENT.trimEnd(), "@end",
    "@write util.py", ...UTIL.trimEnd().split("\n"), "@end",
    "@say changed three files",
  ], { paste: true });
  await chatFrame(page).locator(".turn .text", { hasText: "changed three files" }).waitFor();
  await treeRow("util.py").first().waitFor();
  await treeRow("notes.md").first().waitFor();
  assert.equal(fs.readFileSync(path.join(repo, "calc.py"), "utf8"), CALC);
  assert.equal(fs.existsSync(path.join(repo, "util.py")), false);
});

step("the inline preview shows each hunk where it lives: removed lines struck, the agent's lines below", async () => {
  await openFile(page, "calc.py");
  await waitForEditorText(page, CALC);
  const blocks = previewBlocks();
  await blocks.filter({ hasText: "total = a + b" }).waitFor();
  await blocks.filter({ hasText: "def div(a, b):" }).waitFor();
  assert.equal(await blocks.count(), 2);
  assert.match(await blocks.filter({ hasText: "total = a + b" }).innerText(), /scripted: replace 1 line with 2/);
  for (let i = 0; i < 50 && (await struckThrough()).length === 0; i++) {
    await page.waitForTimeout(100);
  }
  assert.deepEqual((await struckThrough()).join("").trim(), "return a + b", "the line the agent replaces is struck through");
  // The lenses are there too, and nothing touched the file.
  await page.locator(".editor-instance .codelens-decoration a", { hasText: "Apply (scripted: replace 1 line with 2)" }).waitFor();
  await waitForEditorText(page, CALC);
  await saveScreenshot(page, "inline-preview");
});

step("Toggle Inline Preview hides it and brings it back (the setting)", async () => {
  await runCommand(page, "Agent Bridge: Toggle Inline Preview");
  await previewBlocks().first().waitFor({ state: "detached" });
  assert.deepEqual(await struckThrough(), []);
  await runCommand(page, "Agent Bridge: Toggle Inline Preview");
  await previewBlocks().filter({ hasText: "total = a + b" }).waitFor();
});

step("Apply in a preview block's title applies that hunk in the editor only", async () => {
  const block = previewBlocks().filter({ hasText: "total = a + b" });
  await block.locator("a.action-label[aria-label^='Apply Change']").click();
  await waitForEditorText(page, CALC_FIRST_APPLIED + "");
  await block.waitFor({ state: "detached" });
  assert.equal(await previewBlocks().count(), 1);
  assert.deepEqual(await struckThrough(), []);
  assert.equal(fs.readFileSync(path.join(repo, "calc.py"), "utf8"), CALC, "applying must not save");
});

step("Shift+Alt+] and Shift+Alt+[ go hunk to hunk across files; a new file's hunk shows as its diff", async () => {
  await focusEditor();
  await page.keyboard.press("Control+Home");
  await waitForCursorLine(1);
  await page.keyboard.press("Shift+Alt+BracketRight");
  // div() goes after mul(), at the end: line 12 once add() has its two lines.
  await waitForCursorLine(12);
  await page.keyboard.press("Shift+Alt+BracketRight");
  await page.locator(".tabs-container .tab.active", { hasText: "notes.md" }).waitFor();
  await page.keyboard.press("Shift+Alt+BracketRight");
  await page.locator(".tabs-container .tab.active", { hasText: "util.py (yours ↔ scripted, create)" }).waitFor();
  // From inside the diff editor (the agent's side) back to notes.md.
  await page.locator(".monaco-diff-editor .editor.modified .view-line", { hasText: "return 42" }).click();
  await page.keyboard.press("Shift+Alt+BracketLeft");
  await page.locator(".tabs-container .tab.active", { hasText: "notes.md" }).waitFor();
  await waitForCursorLine(1);
});

step("a new file's hunk row opens its diff; Apply in the diff's title writes nothing until you save", async () => {
  // The row used to open the file itself, which is not on disk: "file not found".
  await treeRow("scripted: add 2 lines").click();
  const diffTab = page.locator(".tabs-container .tab.active", { hasText: "util.py (yours ↔ scripted, create)" });
  await diffTab.waitFor();
  await page.locator(".monaco-diff-editor .editor.modified .view-lines", { hasText: "return 42" }).waitFor();
  await page.locator(".editor-actions a.action-label[aria-label^=\"Apply File's Changes\"]").click();
  await treeRow("util.py").waitFor({ state: "detached" });
  // Applied: the disk has no util.py yet (it had an empty one); an unsaved editor named util.py holds the text.
  assert.equal(fs.existsSync(path.join(repo, "util.py")), false, "applying a new file must not write it");
  const tab = page.locator(".tabs-container .tab.active.dirty", { hasText: "util.py" });
  await tab.waitFor();
  await waitForEditorText(page, UTIL);
  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, "util.py"), UTIL);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("Ctrl+Alt+A prompts; Ctrl+Alt+X cancels the running turn", async () => {
  await page.locator(".tabs-container .tab", { hasText: "notes.md" }).first().click();
  await page.locator(".tabs-container .tab.active", { hasText: "notes.md" }).waitFor();
  await focusEditor();
  await page.keyboard.press("Control+Alt+A");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill("@hang");
  await page.keyboard.press("Enter");
  const chat = chatFrame(page);
  await chat.locator(".turn .prompt-text", { hasText: "@hang" }).waitFor();
  await statusItem(page, "running").waitFor();
  await focusEditor();
  await page.keyboard.press("Control+Alt+X");
  await chat.locator(".turn-status.cancelled").waitFor();
});

step("Shift+Alt+N rejects the hunk at the cursor, says so, and Undo brings it back", async () => {
  await page.locator(".tabs-container .tab", { hasText: "notes.md" }).first().click();
  await page.locator(".tabs-container .tab.active", { hasText: "notes.md" }).waitFor();
  await focusEditor();
  await page.keyboard.press("Control+Home");
  await waitForCursorLine(1);
  await page.keyboard.press("Shift+Alt+N");
  const toast = page.locator(".notification-toast", { hasText: "Rejected 1 change" });
  await toast.waitFor();
  await treeRow("notes.md").waitFor({ state: "detached" });
  await toast.locator(".monaco-button", { hasText: /^Undo$/ }).click();
  await treeRow("notes.md").first().waitFor();
  await page.locator(".editor-instance .codelens-decoration a", { hasText: "Apply (scripted: replace 1 line with 1)" }).waitFor();
});

step("Shift+Alt+Y applies the hunk at the cursor; Ctrl+Shift+Alt+Y applies the rest and says how many", async () => {
  await focusEditor();
  await page.keyboard.press("Control+Home");
  await waitForCursorLine(1);
  await page.keyboard.press("Shift+Alt+Y");
  await waitForEditorText(page, NOTES_AGENT);
  await page.locator(".tabs-container .tab", { hasText: "calc.py" }).first().click();
  await focusEditor();
  await page.keyboard.press("Control+Shift+Alt+Y");
  await page.locator(".notification-toast", { hasText: "Applied 1 change" }).waitFor();
  await waitForEditorText(page, CALC_AGENT);
  await previewBlocks().first().waitFor({ state: "detached" });
  await treeRow("scripted: add 4 lines").waitFor({ state: "detached" });
  await treeRow("no pending changes").waitFor();
});
