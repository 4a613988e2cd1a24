/**
 * The composer's completions with what VS Code knows: the agent's commands (from Steering) after `/`, the
 * workspace's files (vscode.workspace.findFiles, listed at most every few seconds and capped) and the editor's
 * selection after `@`. File lookups are debounced: only the last keystroke of a burst lists anything.
 */
import * as vscode from "vscode";
import type { CompletionItem } from "./core/composer";
import { commandItems, excludeGlob, fileItems, MAX_FILES_LISTED, triggerAt } from "./core/composer";
import type { Range } from "./core/protocol";
import type { Steering } from "./steering";

const DEBOUNCE_MS = 120;
/** A listing is reused this long: typing `@gre` then `@greet` lists the workspace once. */
const LISTING_TTL_MS = 5000;

export interface Completions {
  start: number;
  end: number;
  items: CompletionItem[];
}

interface Listed {
  at: number;
  files: Promise<{ uri: string; path: string }[]>;
}

export class Mentions implements vscode.Disposable {
  private generation = 0;
  private listing?: Listed;
  /** The last file editor: focusing the chat keeps it as the active text editor, but be sure. */
  private editor?: vscode.TextEditor;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly steering: Steering) {
    this.editor = vscode.window.activeTextEditor;
    this.subscription = vscode.window.onDidChangeActiveTextEditor((e) => {
      if (e !== undefined && e.document.uri.scheme === "file") {
        this.editor = e;
      }
    });
  }

  /** The completions at `cursor`; undefined when a later request superseded this one (nothing to send). */
  async complete(text: string, cursor: number): Promise<Completions | undefined> {
    const generation = ++this.generation;
    const trigger = triggerAt(text, cursor);
    if (trigger === undefined) {
      return { start: cursor, end: cursor, items: [] };
    }
    if (trigger.kind === "command") {
      return { start: trigger.start, end: trigger.end, items: commandItems(this.steering.model.commands, trigger.query) };
    }
    await new Promise((resolve) => setTimeout(resolve, DEBOUNCE_MS));
    if (generation !== this.generation) {
      return undefined;
    }
    const files = await this.files();
    if (generation !== this.generation) {
      return undefined;
    }
    return { start: trigger.start, end: trigger.end, items: fileItems(files, trigger.query, this.selection()) };
  }

  private files(): Promise<{ uri: string; path: string }[]> {
    const now = Date.now();
    if (this.listing === undefined || now - this.listing.at > LISTING_TTL_MS) {
      // The cap keeps a huge repository from stalling the composer.
      const config = vscode.workspace.getConfiguration();
      const exclude = excludeGlob(config.get<Record<string, unknown>>("files.exclude"), config.get<Record<string, unknown>>("search.exclude"));
      const files = Promise.resolve(vscode.workspace.findFiles("**/*", exclude, MAX_FILES_LISTED)).then(
        (uris) => uris.map((uri) => ({ uri: uri.toString(), path: vscode.workspace.asRelativePath(uri, false) })),
        () => [],
      );
      this.listing = { at: now, files };
    }
    return this.listing.files;
  }

  private selection(): { uri: string; path: string; range: Range } | undefined {
    const editor = vscode.window.activeTextEditor?.document.uri.scheme === "file" ? vscode.window.activeTextEditor : this.editor;
    if (editor === undefined || editor.selection.isEmpty || editor.document.isClosed) {
      return undefined;
    }
    const s = editor.selection;
    return {
      uri: editor.document.uri.toString(),
      path: vscode.workspace.asRelativePath(editor.document.uri, false),
      range: { start: { line: s.start.line, character: s.start.character }, end: { line: s.end.line, character: s.end.character } },
    };
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
