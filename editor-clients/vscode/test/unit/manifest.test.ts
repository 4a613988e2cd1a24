import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

interface Manifest {
  contributes: {
    viewsContainers: Record<string, { id: string }[]>;
    views: Record<string, { id: string }[]>;
  };
}

// out/test/unit -> the extension's folder
const manifest = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, "..", "..", "..", "package.json"), "utf8"),
) as Manifest;

function containerOf(viewId: string): string | undefined {
  return Object.entries(manifest.contributes.views).find(([, views]) => views.some((v) => v.id === viewId))?.[0];
}

function locationOf(container: string | undefined): string | undefined {
  return Object.entries(manifest.contributes.viewsContainers).find(([, list]) => list.some((c) => c.id === container))?.[0];
}

test("the chat opens in the secondary side bar, beside the editor, with the Pending Changes under it", () => {
  assert.equal(locationOf(containerOf("agentBridge.chat")), "secondarySidebar");
  // Revealing the chat shows what the agent changed too (the review steps rely on seeing both).
  assert.equal(containerOf("agentBridge.pending"), containerOf("agentBridge.chat"));
});
