/**
 * Applying a file the agent created must not touch the disk either: VS Code carries out the server's
 * `CreateFile` at once (an empty file appears) and only the text stays unsaved. So before the edit is applied,
 * a `CreateFile` for a file that does not exist becomes an untitled document with that path (`untitled:` +
 * the path: VS Code saves it there without asking), and the text edits for it go to that document. Nothing
 * is written until you save; closing it unsaved leaves no file behind.
 */
import * as vscode from "vscode";
import type { ApplyWorkspaceEditParams, ApplyWorkspaceEditRequest, ApplyWorkspaceEditResult } from "vscode-languageclient/node";
import { CancellationToken, ResponseError } from "vscode-languageclient/node";

type DocumentChange = NonNullable<ApplyWorkspaceEditParams["edit"]["documentChanges"]>[number];

async function existsOnDisk(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

function openDocument(uri: vscode.Uri): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
}

export interface Rewritten {
  params: ApplyWorkspaceEditParams;
  /** The untitled documents the new files went to, to show once the edit is applied. */
  untitled: vscode.Uri[];
  /** Set when the edit must not be applied at all (an unsaved document of that name has other text). */
  refused?: ApplyWorkspaceEditResult;
}

/** The edit with each new file's `CreateFile` replaced by an untitled document of the same path. */
export async function newFilesAsUntitled(params: ApplyWorkspaceEditParams): Promise<Rewritten> {
  const changes = params.edit.documentChanges;
  if (changes === undefined || !changes.some((c) => "kind" in c && c.kind === "create")) {
    return { params, untitled: [] };
  }
  const moved = new Map<string, vscode.Uri>();
  const out: DocumentChange[] = [];
  for (const change of changes) {
    if ("kind" in change && change.kind === "create") {
      const file = vscode.Uri.parse(change.uri);
      if (file.scheme === "file" && openDocument(file) === undefined && !(await existsOnDisk(file))) {
        const untitled = file.with({ scheme: "untitled" });
        const doc = openDocument(untitled) ?? (await vscode.workspace.openTextDocument(untitled));
        if (doc.getText() !== "") {
          return {
            params, untitled: [],
            refused: { applied: false, failureReason: `${vscode.workspace.asRelativePath(file)} is open unsaved with other text` },
          };
        }
        moved.set(change.uri, untitled);
        continue;
      }
    }
    if ("textDocument" in change && moved.has(change.textDocument.uri)) {
      const target = moved.get(change.textDocument.uri)?.toString() ?? change.textDocument.uri;
      out.push({ ...change, textDocument: { uri: target, version: null } });
      continue;
    }
    out.push(change);
  }
  return { params: { ...params, edit: { ...params.edit, documentChanges: out } }, untitled: [...moved.values()] };
}

/** `workspace.handleApplyEdit` middleware: new files go to untitled documents, shown once applied. */
export async function handleApplyEdit(
  params: ApplyWorkspaceEditParams,
  next: ApplyWorkspaceEditRequest.HandlerSignature,
): Promise<ApplyWorkspaceEditResult | ResponseError<void>> {
  const rewritten = await newFilesAsUntitled(params);
  if (rewritten.refused !== undefined) {
    return rewritten.refused;
  }
  const result = await next(rewritten.params, CancellationToken.None);
  if (!(result instanceof ResponseError) && result.applied) {
    for (const uri of rewritten.untitled) {
      await vscode.window.showTextDocument(uri, { preview: false, preserveFocus: false });
    }
  }
  return result;
}
