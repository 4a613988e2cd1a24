/**
 * Real VS Code for the end-to-end test: code-server (VS Code in a browser) with the packaged extension
 * installed, driven by headless Chromium through playwright-core. Everything is isolated under one
 * temporary directory: HOME, user data, extensions, the bridge's state and a git repository to work in.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { chromium } from "playwright-core";

export interface E2eTools {
  codeServer: string;
  chromium: string;
  agentBridge: string;
  vsix: string;
}

const HERE = __dirname; // out/test/e2e
export const EXTENSION_DIR = path.resolve(HERE, "..", "..", "..");
const REPO = path.resolve(EXTENSION_DIR, "..", "..");

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
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (proc.exitCode === null) {
      proc.kill("SIGKILL");
    }
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
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
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
