/**
 * End to end in real VS Code (code-server 4.139 = VS Code 1.139 in headless Chromium): install the .vsix,
 * prompt the scripted ACP agent from the palette and from the chat view, watch the streamed answer, answer a
 * permission notification, see the pending hunk as "Apply | Reject | Diff" lenses, as quick fixes and in the
 * Pending Changes tree, open the diff editor, apply from the lens, undo and apply again from the palette,
 * save, check the file in the editor and on disk, apply a second change with the quick fix keys (Ctrl+. Enter:
 * Apply must be the first, focused entry), then kill the bridge and see the extension restart it.
 *
 * Needs code-server, Chromium, the bridge (.venv) and the packaged .vsix: scripts/test-vscode.sh provides
 * them (CODE_SERVER, CHROMIUM, AGENT_BRIDGE, VSIX). Missing tools skip, unless AGENT_BRIDGE_REQUIRE_E2E is set.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, FrameLocator, Locator, Page } from "playwright-core";
import { CodeServer, editorText, findTools, launchBrowser, makeRepo, processesWith, runCommand } from "./harness";

const ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n";
const DOCSTRING = '    """Say hello to NAME."""';
const AGENT_TEXT = ORIGINAL.replace("def greet(name):\n", `def greet(name):\n${DOCSTRING}\n`);
/** A second change, made after AGENT_TEXT is saved: one line of farewell() reworded. */
const FAREWELL_TEXT = AGENT_TEXT.replace("print('bye ' + name)", "print('goodbye ' + name)");
const TIMEOUT = 30_000;

const found = findTools();
const skip = found.tools === undefined && !process.env.AGENT_BRIDGE_REQUIRE_E2E
  ? `missing: ${found.missing.join(", ")}`
  : false;

/** The steps build on each other: after a failed one, the rest are skipped instead of timing out one by one. */
let broken: string | undefined;
let root = "";
let codeServer: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page;
let repo = "";

function findFiles(dir: string, name: string): string[] {
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((p) => path.basename(p) === name)
    .map((p) => path.join(dir, p));
}

before(async () => {
  if (skip) {
    return;
  }
  broken = "setup";
  assert.ok(found.tools, `e2e tools missing: ${found.missing.join(", ")}`);
  const tools = found.tools;
  root = fs.mkdtempSync(path.join(os.tmpdir(), "agent-bridge-e2e-"));
  repo = makeRepo(path.join(root, "project"), {
    "greet.py": ORIGINAL,
    "README.md": "# project\n",
    ".gitignore": ".vscode/\n",
  });
  // Workspace settings as the README tells a user to write them.
  fs.mkdirSync(path.join(repo, ".vscode"));
  fs.writeFileSync(path.join(repo, ".vscode", "settings.json"), JSON.stringify({
    "agentBridge.server.path": tools.agentBridge,
    "agentBridge.server.args": ["serve", "--state-dir", path.join(root, "state"), "--log-file", path.join(root, "bridge.log")],
    "agentBridge.defaultAgent": "scripted",
  }, null, 2));
  codeServer = new CodeServer(tools, root);
  codeServer.writeUserSettings({
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "security.workspace.trust.enabled": false,
    "extensions.autoCheckUpdates": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "chat.disableAIFeatures": true,
    "git.enabled": false,
    "editor.codeLens": true,
    "files.autoSave": "off",
    "window.restoreWindows": "none",
  });
  const t0 = Date.now();
  const mark = (what: string): void => console.log(`e2e: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const installed = codeServer.installExtension();
  mark("extension installed");
  assert.match(installed, /successfully installed/i);
  await codeServer.start();
  mark("code-server listening");
  browser = await launchBrowser(tools.chromium);
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(TIMEOUT);
  mark("chromium up");
  await page.goto(`http://127.0.0.1:${codeServer.port}/?folder=${encodeURIComponent(repo)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  mark("workbench shown");
  broken = undefined;
});

after(async () => {
  const t0 = Date.now();
  const shot = process.env.AGENT_BRIDGE_E2E_SCREENSHOT
    ?? (broken !== undefined ? process.env.AGENT_BRIDGE_E2E_SCREENSHOT_ON_FAILURE : undefined);
  if (page !== undefined && shot) {
    await page.screenshot({ path: shot }).catch(() => undefined);
  }
  if (broken !== undefined && codeServer !== undefined) {
    // What the extension logged, for the CI log.
    for (const log of findFiles(path.join(root, "user-data", "logs"), "Agent Bridge.log")) {
      console.log(`--- ${log}\n${fs.readFileSync(log, "utf8").slice(-4000)}`);
    }
  }
  await browser?.close().catch(() => undefined);
  await codeServer?.stop();
  console.log(`e2e: browser and code-server stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (root && !process.env.AGENT_BRIDGE_E2E_KEEP) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

function step(name: string, fn: () => Promise<void>): void {
  test(name, { skip }, async (t) => {
    if (broken === "setup") {
      broken = "the setup (installing the .vsix, starting code-server and Chromium)";
      throw new Error("the e2e setup failed: see the before hook's error above");
    }
    if (broken !== undefined) {
      t.skip(`an earlier step failed: ${broken}`);
      return;
    }
    try {
      await fn();
    } catch (error) {
      broken = name;
      throw error;
    }
  });
}

function chatFrame(): FrameLocator {
  return page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
}

function statusItem(text: string | RegExp): Locator {
  return page.locator("footer .statusbar-item", { hasText: text });
}

/** Types a prompt into the chat view as a user does: Shift+Enter between lines, Enter to send. */
async function sendChat(lines: string[]): Promise<void> {
  const prompt = chatFrame().locator("#prompt");
  await prompt.click();
  for (const [i, line] of lines.entries()) {
    if (i > 0) {
      await prompt.press("Shift+Enter");
    }
    await prompt.pressSequentially(line, { delay: 0 });
  }
  await prompt.press("Enter");
}

async function openFile(name: string): Promise<void> {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(name);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".tabs-container .tab.active", { hasText: name }).waitFor();
  await page.locator(".editor-instance .monaco-editor .view-lines").first().waitFor();
}

/** Opens VS Code's quick fix menu (Ctrl+.) at the cursor and waits for the entry `title`. Right after an edit
 * the bridge may still be updating its hunks: then the menu is closed and asked for again. */
async function openQuickFixes(title: string): Promise<Locator> {
  const menu = page.locator(".action-widget");
  const entry = menu.locator(".action-item, .monaco-list-row", { hasText: title }).first();
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press("Control+.");
    try {
      await entry.waitFor({ timeout: 3000 });
      return menu;
    } catch (error) {
      if (attempt >= 4) {
        throw error;
      }
      await page.keyboard.press("Escape");
    }
  }
}

async function waitForEditorText(
  expected: string, message = "the editor does not show the expected text", timeout = TIMEOUT,
): Promise<void> {
  const want = expected.trimEnd();
  let last = "";
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    last = (await editorText(page)).trimEnd();
    if (last === want) {
      return;
    }
    await page.waitForTimeout(200);
  }
  assert.equal(last, want, message);
}

async function waitForDisk(file: string, expected: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline && fs.readFileSync(file, "utf8") !== expected) {
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(fs.readFileSync(file, "utf8"), expected);
}

step("the extension starts the bridge and shows the agent in the status bar", async () => {
  await statusItem("scripted").waitFor({ timeout: 60_000 });
  await statusItem("no session").waitFor();
});

step("a palette prompt sends the selection along and streams the answer into the chat view", async () => {
  await openFile("greet.py");
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("Shift+End");
  await runCommand(page, "Agent Bridge: Prompt Agent");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill("@echo-prompt");
  await page.keyboard.press("Enter");
  const chat = chatFrame();
  // The scripted agent echoes what it received: the prompt and the selected line as an embedded resource.
  const answer = chat.locator(".turn .text").first();
  await answer.filter({ hasText: "def greet(name):" }).waitFor();
  assert.match(await answer.innerText(), /resource uri=.*greet\.py/);
  await chat.locator(".turn-status.completed").first().waitFor();
  await statusItem("completed").waitFor();
  await page.keyboard.press("Escape");
});

step("a permission question is a notification with buttons; the answer reaches the agent", async () => {
  const chat = chatFrame();
  const prompt = chat.locator("#prompt");
  await prompt.fill("@run echo permitted-output");
  await prompt.press("Enter");
  const toast = page.locator(".notification-toast", { hasText: "echo permitted-output" });
  await toast.waitFor();
  await toast.locator(".monaco-button", { hasText: /^Allow$/ }).click();
  await chat.locator(".tool .output", { hasText: "permitted-output" }).waitFor();
  await chat.locator(".turn-status.completed").nth(1).waitFor();
});

step("a multi-line chat prompt edits greet.py; the hunk shows as lenses and in the Pending Changes tree", async () => {
  const chat = chatFrame();
  await sendChat(["@think pondering greetings", "@plan read | edit", "@write greet.py", ...AGENT_TEXT.trimEnd().split("\n"), "@end", "@usage 120 45", "@say wrote greet"]);
  await chat.locator(".turn .text", { hasText: "wrote greet" }).waitFor();
  await chat.locator(".reasoning", { hasText: "pondering greetings" }).waitFor({ state: "attached" });
  await chat.locator(".plan li", { hasText: "edit" }).first().waitFor();
  await chat.locator(".session-usage", { hasText: "scripted: 120 in · 45 out" }).waitFor();
  await chat.locator(".tool .tool-kind", { hasText: "edit" }).first().waitFor();

  // The file on disk and in the editor is untouched: the agent worked in its worktree.
  assert.equal(fs.readFileSync(path.join(repo, "greet.py"), "utf8"), ORIGINAL);
  await page.locator(".tabs-container .tab", { hasText: "greet.py" }).click();
  await waitForEditorText(ORIGINAL);

  const lenses = page.locator(".editor-instance .codelens-decoration");
  await lenses.locator("a", { hasText: "Apply (scripted: add 1 line)" }).waitFor();
  await lenses.locator("a", { hasText: /^Reject$/ }).waitFor();
  await lenses.locator("a", { hasText: /^Diff$/ }).waitFor();

  await page.locator(".pane-header", { hasText: "Pending Changes" }).waitFor();
  const tree = page.locator(".pane-body .monaco-list-row");
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
  await waitForEditorText(AGENT_TEXT);
  await page.locator(".editor-instance .codelens-decoration a", { hasText: /^Apply/ }).waitFor({ state: "detached" });
  await page.locator(".pane-body .monaco-list-row", { hasText: "scripted: add 1 line" }).waitFor({ state: "detached" });
  assert.equal(fs.readFileSync(path.join(repo, "greet.py"), "utf8"), ORIGINAL, "applying must not save");

  // Undo restores your text and the hunk is pending again; apply it once more from the palette.
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Z");
  await waitForEditorText(ORIGINAL);
  await page.locator(".editor-instance .codelens-decoration a", { hasText: "Apply (scripted: add 1 line)" }).waitFor();
  // The server's code actions are in VS Code's quick fix menu too, on the line the insertion goes before.
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("ArrowDown");
  const menu = await openQuickFixes("Apply agent change (scripted: add 1 line)");
  await menu.locator(".action-item, .monaco-list-row", { hasText: "Reject agent change (scripted: add 1 line)" }).first().waitFor();
  await page.keyboard.press("Escape");
  await runCommand(page, "Agent Bridge: Apply Change");
  await waitForEditorText(AGENT_TEXT);
  await page.locator(".pane-body .monaco-list-row", { hasText: "scripted: add 1 line" }).waitFor({ state: "detached" });

  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, "greet.py"), AGENT_TEXT);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("Ctrl+. then Enter applies a pending hunk: Apply is the first, focused quick fix", async () => {
  // VS Code puts AI-tagged code actions after the others and preferred ones first; an Apply tagged LLMGenerated
  // came after Reject, so the quick fix keys (Ctrl+. Enter) rejected the agent's change.
  const chat = chatFrame();
  await sendChat(["@write greet.py", ...FAREWELL_TEXT.trimEnd().split("\n"), "@end", "@say reworded farewell"]);
  await chat.locator(".turn .text", { hasText: "reworded farewell" }).waitFor();
  await page.locator(".tabs-container .tab", { hasText: "greet.py" }).click();
  await waitForEditorText(AGENT_TEXT);
  const hunk = "scripted: replace 1 line with 1";
  const applyLens = page.locator(".editor-instance .codelens-decoration a", { hasText: `Apply (${hunk})` });
  await applyLens.waitFor();

  // The cursor on the line the hunk replaces (farewell's print), then the quick fix menu.
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  const menu = await openQuickFixes(`Apply agent change (${hunk})`);
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
  await page.locator(".pane-body .monaco-list-row", { hasText: hunk }).waitFor({ state: "detached" });
  await waitForEditorText(FAREWELL_TEXT, `Ctrl+. Enter did not apply the hunk (${shown})`, 5000);
  assert.match(listed[0] ?? "", /^Apply agent change/, `Apply is not the first quick fix (${shown})`);
  assert.match(focused.join(" | "), /^Apply agent change[^|]*$/, `Apply is not the focused quick fix (${shown})`);

  await page.keyboard.press("Control+S");
  await waitForDisk(path.join(repo, "greet.py"), FAREWELL_TEXT);
  await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached" });
});

step("Cancel in the chat stops a running turn; the Reject lens drops a change", async () => {
  const chat = chatFrame();
  await sendChat(["@say about to hang", "@hang"]);
  await chat.locator(".turn .text", { hasText: "about to hang" }).waitFor();
  await chat.locator("#cancel").click();
  await chat.locator(".turn-status.cancelled").waitFor();

  await sendChat(["@write README.md", "# project", "", "Rewritten by the agent.", "@end"]);
  await chat.locator(".turn-status.completed").nth(4).waitFor();
  await openFile("README.md");
  const reject = page.locator(".editor-instance .codelens-decoration a", { hasText: /^Reject$/ });
  await reject.waitFor();
  await reject.click();
  await reject.waitFor({ state: "detached" });
  await page.locator(".pane-body .monaco-list-row", { hasText: "README.md" }).waitFor({ state: "detached" });
  await waitForEditorText("# project\n");
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
  const logs = findFiles(path.join(root, "user-data", "logs"), "Agent Bridge.log").map((f) => fs.readFileSync(f, "utf8")).join("");
  assert.match(logs, /the server exited; restarting in 1 s/);
  await statusItem("scripted").waitFor();
  const chat = chatFrame();
  const prompt = chat.locator("#prompt");
  await prompt.fill("@say back after a restart");
  await prompt.press("Enter");
  await chat.locator(".turn .text", { hasText: "back after a restart" }).waitFor();
});
