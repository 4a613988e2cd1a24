/**
 * Conflict hunks in the editor: lines that both you and the agent changed get a warning-coloured bar, an
 * overview-ruler mark and "conflict" after their first line, so they stand apart from ordinary pending hunks
 * (whose hint diagnostics are quiet). The server's lenses and quick fixes name them too.
 */
import * as vscode from "vscode";
import type { ConflictSpan } from "./core/pendingModel";
import { conflictSpans } from "./core/pendingModel";
import { liveRanges } from "./liveRanges";
import type { PendingTree } from "./pendingTree";

const WARNING = new vscode.ThemeColor("editorWarning.foreground");

export class ConflictDecorations implements vscode.Disposable {
  private readonly lines = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    borderColor: WARNING,
    borderStyle: "solid",
    borderWidth: "0 0 0 2px",
    overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.warningForeground"),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
  });
  private readonly label = vscode.window.createTextEditorDecorationType({
    after: { color: WARNING, margin: "0 0 0 2em", fontStyle: "italic" },
  });
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly tree: PendingTree) {
    this.subscriptions = [
      tree.onDidLoad(() => this.decorateAll()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.decorateAll()),
      vscode.languages.onDidChangeDiagnostics((e) => {
        const changed = new Set(e.uris.map((u) => u.toString()));
        for (const editor of vscode.window.visibleTextEditors) {
          if (changed.has(editor.document.uri.toString())) {
            this.decorate(editor);
          }
        }
      }),
    ];
  }

  private decorateAll(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      this.decorate(editor);
    }
  }

  private decorate(editor: vscode.TextEditor): void {
    const uri = editor.document.uri;
    const spans = uri.scheme === "file" ? conflictSpans(this.tree.files, uri.toString(), liveRanges(uri)) : [];
    const last = Math.max(editor.document.lineCount - 1, 0);
    const clamp = (line: number): number => Math.min(Math.max(line, 0), last);
    editor.setDecorations(this.lines, spans.map((s) => new vscode.Range(clamp(s.startLine), 0, clamp(s.endLine), 0)));
    // The label goes after the end of the hunk's first line, clear of your text.
    const endOf = (line: number): vscode.Position => editor.document.lineAt(clamp(line)).range.end;
    editor.setDecorations(this.label, spans.map((s): vscode.DecorationOptions => ({
      range: new vscode.Range(endOf(s.startLine), endOf(s.startLine)),
      hoverMessage: hover(s),
      renderOptions: { after: { contentText: `⚠ conflict: you and ${s.agent} both changed these lines` } },
    })));
  }

  dispose(): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
    this.lines.dispose();
    this.label.dispose();
  }
}

function hover(span: ConflictSpan): vscode.MarkdownString {
  const text = new vscode.MarkdownString();
  text.appendText(`Conflict: you and ${span.agent} both changed these lines.${span.reason ? ` ${span.reason}` : ""}\n\n`);
  text.appendText("Apply this change to replace your lines with the agent's; applying the whole file or session skips it.");
  return text;
}
