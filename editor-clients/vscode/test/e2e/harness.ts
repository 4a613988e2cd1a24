/**
 * Real VS Code for the end-to-end tests: code-server (VS Code in a browser) with the packaged extension
 * installed, driven by headless Chromium through playwright-core. Everything is isolated under one
 * temporary directory: HOME, user data, extensions, the bridge's state and a git repository to work in.
 * Also here: the steps of a test that build on each other, the workbench gestures the tests share, and the
 * scripted LLM (tests/support/scripted_llm.py) that real agents talk to.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, FrameLocator, Locator, Page } from "playwright-core";
import { chromium } from "playwright-core";

/** SIGTERM, then SIGKILL if the process is still there after 5 s; nothing when it already ended. */
async function stopProcess(proc: ChildProcess | undefined): Promise<void> {
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGKILL");
  }
}

export interface E2eTools {
  codeServer: string;
  chromium: string;
  agentBridge: string;
  vsix: string;
}

const HERE = __dirname; // out/test/e2e
export const EXTENSION_DIR = path.resolve(HERE, "..", "..", "..");
export const REPO = path.resolve(EXTENSION_DIR, "..", "..");
/** How long one UI expectation may take (playwright's default timeout for the page). */
export const TIMEOUT = 30_000;

/** Tools from the environment (scripts/test-vscode.sh sets them), else the usual places; missing ones listed. */
export function findTools(): { tools?: E2eTools; missing: string[] } {
  const candidates = {
    codeServer: process.env.CODE_SERVER ?? "",
    chromium: process.env.CHROMIUM ?? "/usr/bin/chromium",
    agentBridge: process.env.AGENT_BRIDGE ?? path.join(REPO, ".venv", "bin", "agent-bridge"),
    vsix: process.env.VSIX ?? path.join(EXTENSION_DIR, "agent-bridge.vsix"),
  };
  const missing = Object.entries(candidates)
    .filter(([, p]) => p === "" || !fs.existsSync(p))
    .map(([name, p]) => `${name} (${p || "unset"})`);
  return missing.length ? { missing } : { tools: candidates, missing };
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, ...gitEnv() } });
}

function gitEnv(): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: "Test", GIT_AUTHOR_EMAIL: "test@example.com",
    GIT_COMMITTER_NAME: "Test", GIT_COMMITTER_EMAIL: "test@example.com",
  };
}

/** A git repository with `files` committed. */
export function makeRepo(dir: string, files: Record<string, string>): string {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "initial");
  return dir;
}

/**
 * Workspace settings as the README tells a user to write them: the bridge under test, with its state dir and
 * log file where the test wants them; `extra` adds or overrides settings (agents, the default agent).
 */
export function writeBridgeSettings(
  repo: string, agentBridge: string, stateDir: string, logFile: string, extra: Record<string, unknown> = {},
): void {
  fs.mkdirSync(path.join(repo, ".vscode"), { recursive: true });
  fs.writeFileSync(path.join(repo, ".vscode", "settings.json"), JSON.stringify({
    "agentBridge.server.path": agentBridge,
    "agentBridge.server.args": ["serve", "--state-dir", stateDir, "--log-file", logFile],
    "agentBridge.defaultAgent": "scripted",
    // The inline preview's comment threads would open the Comments panel (VS Code's default "firstFile"),
    // leaving the editor whose rendered lines the tests read a few lines tall. The README gives users the same
    // setting.
    "comments.openView": "never",
    ...extra,
  }, null, 2));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export class CodeServer {
  private proc?: ChildProcess;
  port = 0;
  readonly log: string[] = [];

  constructor(private readonly tools: E2eTools, private readonly root: string) {}

  get env(): NodeJS.ProcessEnv {
    const home = path.join(this.root, "home");
    return {
      ...process.env,
      // code-server is a Node script: run it with this Node (24), whatever else is on PATH.
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_DATA_HOME: path.join(home, ".local", "share"),
      XDG_STATE_HOME: path.join(home, ".local", "state"),
      XDG_CACHE_HOME: path.join(home, ".cache"),
      // The extension's `agent-bridge serve` attaches to a daemon, which by default lingers for the next window;
      // here it ends as soon as VS Code has closed and nothing runs (what "nothing is left behind" checks).
      AGENT_BRIDGE_DAEMON_LINGER: "0",
      ...gitEnv(),
    };
  }

  private dirs(): { userData: string; extensions: string } {
    return { userData: path.join(this.root, "user-data"), extensions: path.join(this.root, "extensions") };
  }

  /** Installs the .vsix the way a user does (`code-server --install-extension`). */
  installExtension(): string {
    const { userData, extensions } = this.dirs();
    return execFileSync(this.tools.codeServer, [
      "--user-data-dir", userData, "--extensions-dir", extensions, "--install-extension", this.tools.vsix, "--force",
    ], { env: this.env, encoding: "utf8", timeout: 120_000 });
  }

  writeUserSettings(settings: Record<string, unknown>): void {
    const dir = path.join(this.dirs().userData, "User");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(settings, null, 2));
  }

  async start(): Promise<void> {
    const { userData, extensions } = this.dirs();
    this.port = await freePort();
    this.proc = spawn(this.tools.codeServer, [
      "--auth", "none", "--bind-addr", `127.0.0.1:${this.port}`, "--disable-telemetry", "--disable-update-check",
      "--disable-workspace-trust", "--disable-getting-started-override", "--user-data-dir", userData,
      "--extensions-dir", extensions,
    ], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString();
        this.log.push(text);
        if (text.includes("HTTP server listening")) {
          resolve();
        }
      };
      this.proc?.stdout?.on("data", onData);
      this.proc?.stderr?.on("data", onData);
      this.proc?.once("exit", (code) => reject(new Error(`code-server exited (${code}): ${this.log.join("")}`)));
      timer = setTimeout(() => reject(new Error(`code-server did not start in 60 s: ${this.log.join("")}`)), 60_000);
    });
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
  }
}

export async function launchBrowser(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
      "--window-size=1600,1000",
    ],
  });
}

/** The little of the DOM the page functions touch (this project compiles without the DOM library). */
interface DomRoot {
  querySelectorAll(selector: string): ArrayLike<{ style: { top: string }; textContent: string | null }>;
}

/** The editor's visible text as the user sees it: Monaco's rendered lines in order (spaces come as NBSP). */
export async function editorText(page: Page): Promise<string> {
  const lines = page.locator(".editor-instance .monaco-editor .view-lines").first();
  const text = await lines.evaluate((el: unknown) =>
    Array.from((el as DomRoot).querySelectorAll(".view-line"))
      .map((line) => ({ top: parseFloat(line.style.top || "0"), text: line.textContent ?? "" }))
      .sort((a, b) => a.top - b.top)
      .map((line) => line.text)
      .join("\n"));
  return text.replace(/\u00a0/g, " ");
}

/** Runs a command from the palette by its title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator(".quick-input-widget input");
  // After a click in a webview (the chat) the key goes to its iframe, which forwards it to the workbench
  // only once it has settled: F1 can be lost. Take focus back to the workbench's document and try again.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("F1");
    try {
      await input.waitFor({ state: "visible", timeout: 5_000 });
      break;
    } catch (err) {
      if (attempt === 4) {
        throw err;
      }
      await page.evaluate(() => {
        const active = (globalThis as unknown as { document: { activeElement: { blur?: () => void } | null } })
          .document.activeElement;
        active?.blur?.();
      });
    }
  }
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor();
  await page.keyboard.press("Enter");
}

/** Pids of this machine's processes whose command line contains every one of `parts` (read from /proc). */
export function processesWith(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let cmdline = "";
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    if (parts.every((p) => cmdline.includes(p))) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

/** Pids of this machine's processes whose environment has `name=value` (read from /proc; others' are skipped). */
export function processesWithEnv(name: string, value: string): number[] {
  const pids: number[] = [];
  const wanted = `${name}=${value}`;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${entry}/environ`, "utf8");
    } catch {
      continue;
    }
    if (environ.split("\0").includes(wanted)) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

export function findFiles(dir: string, name: string): string[] {
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((p) => path.basename(p) === name)
    .map((p) => path.join(dir, p));
}

/** User settings for a quiet, predictable workbench: no tips, experiments, telemetry, built-in AI or git. */
export const USER_SETTINGS: Record<string, unknown> = {
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
};

/** code-server with the .vsix installed, and a Chromium page on the workbench of one folder. */
export class VsCode {
  readonly codeServer: CodeServer;
  browser?: Browser;
  page?: Page;
  private closed = false;

  constructor(private readonly tools: E2eTools, private readonly root: string) {
    this.codeServer = new CodeServer(tools, root);
  }

  async open(folder: string): Promise<Page> {
    const t0 = Date.now();
    const mark = (what: string): void => console.log(`e2e: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    this.codeServer.writeUserSettings(USER_SETTINGS);
    const installed = this.codeServer.installExtension();
    mark("extension installed");
    assert.match(installed, /successfully installed/i);
    await this.codeServer.start();
    mark("code-server listening");
    this.browser = await launchBrowser(this.tools.chromium);
    const page = await this.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(TIMEOUT);
    this.page = page;
    mark("chromium up");
    await page.goto(`http://127.0.0.1:${this.codeServer.port}/?folder=${encodeURIComponent(folder)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    mark("workbench shown");
    return page;
  }

  /** The extension's output channel ("Agent Bridge"), every file of it. */
  extensionLog(): string {
    return findFiles(path.join(this.root, "user-data", "logs"), "Agent Bridge.log")
      .map((f) => fs.readFileSync(f, "utf8")).join("");
  }

  /** After the tests: a screenshot when asked for (or when `failed` and asked for on failure), the
   * extension's log when failed, then the browser and code-server stop. */
  async close(failed: boolean): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    const t0 = Date.now();
    const shot = process.env.AGENT_BRIDGE_E2E_SCREENSHOT
      ?? (failed ? process.env.AGENT_BRIDGE_E2E_SCREENSHOT_ON_FAILURE : undefined);
    if (this.page !== undefined && shot) {
      await this.page.screenshot({ path: shot }).catch(() => undefined);
    }
    if (failed) {
      // What the extension logged, for the CI log.
      for (const log of findFiles(path.join(this.root, "user-data", "logs"), "Agent Bridge.log")) {
        console.log(`--- ${log}\n${fs.readFileSync(log, "utf8").slice(-4000)}`);
      }
    }
    await this.browser?.close().catch(() => undefined);
    await this.codeServer.stop();
    console.log(`e2e: browser and code-server stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/**
 * Steps that build on each other: after a failed one the rest are skipped instead of timing out one by one.
 * `broken` is "setup" while the before hook runs, the failed step's name after a failure, else undefined.
 */
export class Steps {
  broken: string | undefined;

  constructor(private readonly skip: string | false) {}

  readonly step = (name: string, fn: () => Promise<void>): void => {
    test(name, { skip: this.skip }, async (t) => {
      if (this.broken === "setup") {
        this.broken = "the setup (installing the .vsix, starting code-server and Chromium)";
        throw new Error("the e2e setup failed: see the before hook's error above");
      }
      if (this.broken !== undefined) {
        t.skip(`an earlier step failed: ${this.broken}`);
        return;
      }
      try {
        await fn();
      } catch (error) {
        this.broken = name;
        throw error;
      }
    });
  };
}

/** What a spec's before hook opened: its temporary root, the repository in it, VS Code and the page. */
export interface Workbench {
  root: string;
  repo: string;
  vscode: VsCode;
  page: Page;
}

/**
 * The setup the scripted-agent specs share: a temporary root named `prefix`, a repository in it with `files`
 * committed, the workspace settings for the bridge under test (state and log in the root), and VS Code open on
 * that folder; `opened` gets all of it. After the tests VS Code closes and the root goes, unless
 * AGENT_BRIDGE_E2E_KEEP is set. Missing tools skip every step, unless AGENT_BRIDGE_REQUIRE_E2E is set.
 * Returns the spec's `step` (the steps build on each other, see Steps).
 */
export function scriptedWorkbench(
  prefix: string, files: Record<string, string>, opened: (workbench: Workbench) => void,
): Steps["step"] {
  const found = findTools();
  const skip = found.tools === undefined && !process.env.AGENT_BRIDGE_REQUIRE_E2E
    ? `missing: ${found.missing.join(", ")}`
    : false;
  const steps = new Steps(skip);
  let root = "";
  let vscode: VsCode | undefined;

  before(async () => {
    if (skip) {
      return;
    }
    steps.broken = "setup";
    assert.ok(found.tools, `e2e tools missing: ${found.missing.join(", ")}`);
    const tools = found.tools;
    root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const repo = makeRepo(path.join(root, "project"), files);
    // Workspace settings as the README tells a user to write them.
    writeBridgeSettings(repo, tools.agentBridge, path.join(root, "state"), path.join(root, "bridge.log"));
    vscode = new VsCode(tools, root);
    const page = await vscode.open(repo);
    opened({ root, repo, vscode, page });
    steps.broken = undefined;
  });

  after(async () => {
    await vscode?.close(steps.broken !== undefined);
    if (root && !process.env.AGENT_BRIDGE_E2E_KEEP) {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  return steps.step;
}

// Workbench gestures, as a user makes them.

/** The Chat view's webview content. */
export function chatFrame(page: Page): FrameLocator {
  return page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
}

export function statusItem(page: Page, text: string | RegExp): Locator {
  return page.locator("footer .statusbar-item", { hasText: text });
}

/** Types a prompt into the chat view as a user does: Shift+Enter between lines, Enter to send. With `paste`,
 * the lines land in the prompt box at once, as pasted text does (typing a long one takes seconds). */
export async function sendChat(page: Page, lines: string[], options: { paste?: boolean } = {}): Promise<void> {
  const prompt = chatFrame(page).locator("#prompt");
  await prompt.click();
  if (options.paste) {
    await prompt.fill(lines.join("\n"));
  } else {
    for (const [i, line] of lines.entries()) {
      if (i > 0) {
        await prompt.press("Shift+Enter");
      }
      await prompt.pressSequentially(line, { delay: 0 });
    }
  }
  await prompt.press("Enter");
}

/** Quick Open (Ctrl+P) the file `name` and wait for its editor. */
export async function openFile(page: Page, name: string): Promise<void> {
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
export async function openQuickFixes(page: Page, title: string): Promise<Locator> {
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

export async function waitForEditorText(
  page: Page, expected: string, message = "the editor does not show the expected text", timeout = TIMEOUT,
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

export async function waitForDisk(file: string, expected: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT;
  // A file that is not there yet (a new file being saved) reads as no text until it appears.
  const read = (): string | undefined => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined);
  while (Date.now() < deadline && read() !== expected) {
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(fs.readFileSync(file, "utf8"), expected);
}

/** One model request the scripted LLM answered, as its `--record` file has it. */
export interface LlmRequest {
  api: string;
  model: string;
  tools: string[];
  turns: { role: "user" | "assistant"; text: string }[];
}

/**
 * tests/support/scripted_llm.py run as a program, on a free port: the fake model real agents talk to. The
 * script of each answer is in the prompt (`@read`, `@write ... @end`, `@say`); every model request is
 * recorded to a file the test reads.
 */
export class ScriptedLlm {
  private proc?: ChildProcess;
  url = "";
  private readonly output: string[] = [];

  constructor(private readonly python: string, private readonly recordFile: string) {}

  async start(): Promise<void> {
    const script = path.join(REPO, "tests", "support", "scripted_llm.py");
    const proc = spawn(this.python, [script, "--port", "0", "--record", this.recordFile], {
      cwd: REPO, stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const listening = new Promise<string>((resolve, reject) => {
      let stdout = "";
      proc.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stdout);
        if (m) {
          resolve(m[1]);
        }
      });
      // Every request is logged on stderr: keep the end of it for a failure's message.
      proc.stderr.on("data", (chunk: Buffer) => {
        this.output.push(chunk.toString());
        if (this.output.length > 200) {
          this.output.splice(0, this.output.length - 200);
        }
      });
      proc.once("exit", (code) => reject(new Error(`the scripted LLM exited (${code}): ${this.log()}`)));
      timer = setTimeout(() => reject(new Error(`the scripted LLM did not start in 20 s: ${this.log()}`)), 20_000);
    });
    try {
      this.url = await listening;
    } finally {
      clearTimeout(timer);
    }
  }

  log(): string {
    return this.output.join("").slice(-4000);
  }

  /** The model requests so far, oldest first. */
  requests(): LlmRequest[] {
    if (!fs.existsSync(this.recordFile)) {
      return [];
    }
    return fs.readFileSync(this.recordFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as LlmRequest);
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
  }
}

/** Where the e2e runs leave screenshots for a reviewer (scripts/test-vscode.sh sets and prints the folder; CI
 * keeps it as an artifact). */
export const SCREENSHOTS =
  process.env.AGENT_BRIDGE_E2E_SCREENSHOTS ?? path.join(EXTENSION_DIR, "test-results", "screenshots");

/** Saves a screenshot of the page, or of `part` (a workbench part, webviews included), as `<name>.png` in
 * SCREENSHOTS; prints where it went. */
export async function saveScreenshot(page: Page, name: string, part?: Locator): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  // Webviews are drawn over their part, outside its DOM: clip the page to the part's box, not the element.
  const clip = part === undefined ? undefined : (await part.boundingBox()) ?? undefined;
  await page.screenshot({ path: file, ...(clip ? { clip } : {}) });
  console.log(`e2e: screenshot ${file}`);
  return file;
}

/** Rows of the Pending Changes tree, wherever its view sits (the Explorer beside it has rows too). */
export function pendingRows(page: Page, options: { hasText?: string | RegExp } = {}): Locator {
  return page.locator(".pane:has(.pane-header:has-text(\"Pending Changes\")) .pane-body .monaco-list-row", options);
}
