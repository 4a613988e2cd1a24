import assert from "node:assert/strict";
import { test } from "node:test";
import * as vm from "node:vm";
import { chatPage } from "../../src/core/chatPage";
import {
  addChip, attachmentsOf, chipLabel, commandItems, excludeGlob, fileChip, fileItems, fileScore, rankFiles, triggerAt,
} from "../../src/core/composer";

test("/ completes only as the prompt's first word; @ anywhere a word starts", () => {
  assert.deepEqual(triggerAt("/he", 3), { kind: "command", query: "he", start: 0, end: 3 });
  assert.deepEqual(triggerAt("  /", 3), { kind: "command", query: "", start: 2, end: 3 });
  assert.equal(triggerAt("/help me", 8), undefined, "past the command word");
  assert.equal(triggerAt("see a/b", 7), undefined, "a slash inside a path is no command");
  assert.deepEqual(triggerAt("explain @src/ma", 15), { kind: "file", query: "src/ma", start: 8, end: 15 });
  assert.deepEqual(triggerAt("@", 1), { kind: "file", query: "", start: 0, end: 1 });
  assert.deepEqual(triggerAt("a\n@gr and more", 5), { kind: "file", query: "gr", start: 2, end: 5 });
  assert.equal(triggerAt("mail me@example.com", 19), undefined, "an address is no mention");
  assert.equal(triggerAt("explain @greet.py now", 21), undefined);
});

test("commands: names starting with the query first, then containing it; hints shown", () => {
  const commands = [
    { name: "say", description: "Repeat some text", input: { hint: "text to repeat" } },
    { name: "help", description: "List the directives" },
    { name: "essay", description: "Write at length" },
  ];
  assert.deepEqual(commandItems(commands, "").map((i) => i.label), ["/essay", "/help", "/say"]);
  const items = commandItems(commands, "sa");
  assert.deepEqual(items.map((i) => i.label), ["/say", "/essay"]);
  assert.equal(items[0].insert, "/say ");
  assert.equal(items[0].detail, "Repeat some text <text to repeat>");
  assert.deepEqual(commandItems(commands, "zzz"), []);
  assert.deepEqual(commandItems([{ name: "" }], ""), [], "a nameless command is skipped");
});

test("files: name prefix beats name substring beats path substring beats letters in order", () => {
  assert.equal(fileScore("src/greet.py", "gre"), 0);
  assert.equal(fileScore("src/regreet.py", "gre"), 1);
  assert.equal(fileScore("greetings/a.py", "greetings/"), 2);
  assert.equal(fileScore("src/greet.py", "sgp"), 3);
  assert.equal(fileScore("src/greet.py", "xyz"), undefined);
  assert.equal(fileScore("src/main.py", "smp"), 3);
  assert.equal(fileScore(".vscode/settings.json", "end"), undefined, "letters in order must start a word");
  assert.equal(fileScore("README.md", "readme"), 0, "case is ignored");
  const files = ["docs/greet.md", "greet.py", "lib/regreet.py", "g/r/e.txt", "other.txt"].map((path) => ({ path }));
  assert.deepEqual(rankFiles(files, "gre").map((f) => f.path), ["greet.py", "docs/greet.md", "lib/regreet.py", "g/r/e.txt"]);
  assert.equal(rankFiles(files, "", 2).length, 2, "capped");
});

test("the @ list offers the selection first, then files; each adds a chip", () => {
  const files = [{ uri: "file:///w/greet.py", path: "greet.py" }, { uri: "file:///w/src/main.py", path: "src/main.py" }];
  const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } };
  const items = fileItems(files, "", { uri: "file:///w/greet.py", path: "greet.py", range });
  assert.deepEqual(items.map((i) => i.label), ["@selection", "greet.py", "main.py"]);
  assert.deepEqual(items[0].chip, { uri: "file:///w/greet.py", range, label: "greet.py:1-2", title: "greet.py, lines 1-2" });
  assert.equal(items[0].insert, "@greet.py:1-2 ");
  assert.deepEqual(items[2], {
    label: "main.py", detail: "src", insert: "@src/main.py ",
    chip: { uri: "file:///w/src/main.py", range: undefined, label: "main.py", title: "src/main.py" },
  });
  assert.deepEqual(fileItems(files, "sel", { uri: "file:///w/greet.py", path: "greet.py", range }).map((i) => i.label), ["@selection"]);
  assert.deepEqual(fileItems(files, "main").map((i) => i.label), ["main.py"], "no selection, no entry");
  assert.equal(items[1].detail, undefined, "a file at the root has no folder to show");
});

test("chip labels use one-based lines; a selection ending at a line's start leaves that line out", () => {
  assert.equal(chipLabel("a/b.py"), "b.py");
  assert.equal(chipLabel("b.py", { start: { line: 4, character: 2 }, end: { line: 4, character: 9 } }), "b.py:5");
  assert.equal(chipLabel("b.py", { start: { line: 4, character: 0 }, end: { line: 6, character: 0 } }), "b.py:5-6");
  assert.equal(chipLabel("b.py", { start: { line: 4, character: 0 }, end: { line: 6, character: 3 } }), "b.py:5-7");
});

test("attachments go out once each, ranges only when given, and malformed ones are dropped", () => {
  const a = fileChip("file:///w/a.py", "a.py");
  const range = { start: { line: 1, character: 0 }, end: { line: 3, character: 4 } };
  const b = fileChip("file:///w/a.py", "a.py", range);
  const chips = addChip(addChip(addChip([], a), b), a);
  assert.equal(chips.length, 2);
  assert.deepEqual(attachmentsOf(chips), [{ uri: "file:///w/a.py" }, { uri: "file:///w/a.py", range }]);
  const hostile = [null, { uri: 5 }, { uri: "" }, { uri: "file:///w/x", range: { start: "0" } }, { uri: "file:///w/ok", extra: "<x>" }];
  assert.deepEqual(attachmentsOf(hostile as never), [{ uri: "file:///w/ok" }]);
});

test("the chat page's script parses, and the page has the pickers, completion list and chips", () => {
  const page = chatPage("n0nce", "csp");
  const script = /<script nonce="n0nce">([^]*?)<\/script>/.exec(page)?.[1] ?? "";
  assert.ok(script.includes("acquireVsCodeApi"));
  assert.doesNotThrow(() => new vm.Script(script), "the webview script is valid JavaScript");
  for (const id of ["mode-picker", "model-picker", "completions", "chips", "prompt"]) {
    assert.match(page, new RegExp(`id="${id}"`));
  }
  // Agent-provided labels are set as text, never as markup.
  assert.doesNotMatch(script, /\.innerHTML = (?!msg\.html)/);
});

test("the file listing leaves out what files.exclude and search.exclude hide", () => {
  assert.equal(
    excludeGlob({ "**/.git": true, "**/tmp": false }, { "**/node_modules": true, "**/.git": true, "**/*.{a,b}": true }),
    "{**/.git,**/node_modules}",
  );
  assert.equal(excludeGlob(undefined, {}), undefined);
});
