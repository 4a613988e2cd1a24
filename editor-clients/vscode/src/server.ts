/**
 * Runs `agent-bridge serve` through vscode-languageclient: launches it from the settings, restarts it with
 * backoff when it dies, and logs to the "Agent Bridge" output channel.
 */
import * as os from "node:os";
import * as vscode from "vscode";
import type { LanguageClientOptions, Middleware, ServerOptions } from "vscode-languageclient/node";
import {
  CloseAction, ErrorAction, ExecuteCommandRequest, LanguageClient, RevealOutputChannelOn, State,
} from "vscode-languageclient/node";
import type { SendCommand } from "./core/api";
import { RestartBackoff } from "./core/backoff";
import { DeclareEvents } from "./core/declareEvents";
import { EVENT_NOTIFICATION } from "./core/protocol";
import type { ExtensionSettings } from "./core/settings";
import { initializationOptions, readSettings, serverLaunch } from "./core/settings";
import type { BridgeState } from "./core/state";

export function currentSettings(output: vscode.LogOutputChannel): ExtensionSettings {
  const config = vscode.workspace.getConfiguration("agentBridge");
  const { settings, warnings } = readSettings((key) => config.get(key));
  for (const warning of warnings) {
    output.warn(`settings: ${warning}`);
  }
  return settings;
}

export class ServerSupervisor implements vscode.Disposable {
  private client?: LanguageClient;
  private readonly backoff = new RestartBackoff();
  private restartTimer?: ReturnType<typeof setTimeout>;
  private disposed = false;
  private starting?: Promise<void>;
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  /** Fires each time a (re)started server is initialized. */
  readonly onReady = this.readyEmitter.event;

  /** Set before `start()`: the review's lens and command middleware, and where events go. */
  middleware: Middleware = {};
  onEvent: (params: unknown) => void = () => undefined;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly state: BridgeState,
  ) {}

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Sends one bridge command; fails with a readable error when the server is not up. */
  readonly send: SendCommand = async (command, arg) => {
    const client = this.client;
    if (client === undefined || client.state !== State.Running) {
      if (this.starting !== undefined) {
        await this.starting;
      }
    }
    const ready = this.client;
    if (ready === undefined || ready.state !== State.Running) {
      throw new Error("the agent-bridge server is not running (see Agent Bridge: Show Log)");
    }
    return ready.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] });
  };

  start(): Promise<void> {
    if (this.starting === undefined) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  /** Stops the server and starts it again with the current settings (the user asked: no backoff). */
  async restart(): Promise<void> {
    this.clearTimer();
    this.backoff.reset();
    await this.stopClient();
    await this.start();
  }

  async stop(): Promise<void> {
    this.clearTimer();
    await this.stopClient();
    this.state.setServer("stopped");
  }

  dispose(): void {
    this.disposed = true;
    this.clearTimer();
    void this.stopClient();
    this.readyEmitter.dispose();
  }

  private async doStart(): Promise<void> {
    if (this.disposed) {
      return;
    }
    const settings = currentSettings(this.output);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const launch = serverLaunch(settings, folder, os.homedir());
    // No `transport`: with TransportKind.stdio the client would append `--stdio`, which `serve` refuses.
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { cwd: launch.cwd, env: { ...process.env, ...launch.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }],
      outputChannel: this.output,
      initializationOptions: initializationOptions(settings),
      middleware: this.middleware,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // Our supervisor retries with backoff; the client must not retry on its own.
      initializationFailedHandler: () => false,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.scheduleRestart("the server exited");
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    this.state.defaultAgent = settings.defaultAgent || undefined;
    this.state.setServer(this.backoff.attempts > 0 ? "restarting" : "starting");
    this.output.info(`starting ${launch.command} ${launch.args.join(" ")}${launch.cwd ? ` (in ${launch.cwd})` : ""}`);
    const client = new LanguageClient("agentBridge", "Agent Bridge", serverOptions, clientOptions);
    client.registerFeature(new DeclareEvents());
    client.onNotification(EVENT_NOTIFICATION, (params: unknown) => this.onEvent(params));
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.error(`could not start the server: ${message}`);
      if (this.client === client) {
        this.client = undefined;
      }
      void client.dispose().catch(() => undefined);
      this.scheduleRestart(`could not start ${launch.command}: ${message}`);
      return;
    }
    this.backoff.started(Date.now());
    this.output.info("server ready");
    this.state.setServer("running");
    this.readyEmitter.fire();
  }

  private scheduleRestart(reason: string): void {
    if (this.disposed || this.restartTimer !== undefined) {
      return;
    }
    const delay = this.backoff.nextDelay(Date.now());
    if (delay === undefined) {
      this.output.error(`${reason}; gave up after ${this.backoff.attempts} attempts in a row`);
      this.state.setServer("stopped", reason);
      void vscode.window.showErrorMessage(
        `Agent Bridge: the server keeps failing (${reason}). Check agentBridge.server.path and the log.`,
        "Restart", "Show Log", "Open Settings",
      ).then((choice) => {
        if (choice === "Restart") {
          void this.restart();
        } else if (choice === "Show Log") {
          this.output.show(true);
        } else if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", "agentBridge.server");
        }
      });
      return;
    }
    this.output.warn(`${reason}; restarting in ${(delay / 1000).toFixed(0)} s`);
    this.state.setServer("restarting", `${reason}; retrying in ${(delay / 1000).toFixed(0)} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.replaceClient();
    }, delay);
  }

  /** A fresh client for the restart: the dead one is disposed first so its commands are unregistered. */
  private async replaceClient(): Promise<void> {
    await this.stopClient();
    await this.start();
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      if (client.state === State.Running || client.state === State.Starting) {
        await client.stop(2000);
      }
    } catch (error) {
      this.output.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
    }
    try {
      await client.dispose(2000);
    } catch {
      // already stopped
    }
  }

  private clearTimer(): void {
    if (this.restartTimer !== undefined) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
  }
}
