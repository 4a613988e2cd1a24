/**
 * The chat view's page: a header with the session and the agent's mode and model pickers, the transcript, and
 * the composer (prompt box, `/` and `@` completion list, attachment chips, send and cancel). The extension does
 * the thinking (what to complete, with what); the page's script draws what it is sent and splices the chosen
 * completion in. Pure: no VS Code. Agent-provided strings reach the page as text (textContent) or as the
 * transcript's sanitized HTML (./chatHtml), whose links carry no `href`: a click on a path or a web address is
 * a message to the extension. Folded tool calls and reasoning stay open across re-renders (`data-key`).
 */

/** The page; `nonce` guards the inline script (CSP). */
export function chatPage(nonce: string, cspSource: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline'; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style>${STYLE}</style></head>
<body>
<div id="header"><div id="title"></div>
<div id="steering"><label id="mode-label" hidden>Mode <select id="mode-picker" title="The agent's mode for the next prompts"></select></label>
<label id="model-label" hidden>Model <select id="model-picker" title="The agent's model for the next prompts"></select></label></div></div>
<div id="transcript" role="log" aria-live="polite"></div>
<div id="composer">
<div id="completions" role="listbox" aria-label="Completions" hidden></div>
<div id="chips" aria-label="Attachments"></div>
<textarea id="prompt" aria-label="Prompt" placeholder="Ask the agent… (/ for its commands, @ to attach a file; Enter sends, Shift+Enter adds a line)"></textarea>
<div id="buttons"><button id="cancel" class="secondary" title="Cancel the running turn">Cancel</button><button id="send" title="Send the prompt">Send</button></div>
</div>
<script nonce="${nonce}">${SCRIPT}</script>
</body></html>`;
}

const STYLE = `
body { padding: 0; margin: 0; font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); display: flex; flex-direction: column; height: 100vh; }
#header { padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border); }
#title { opacity: .8; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#steering { display: flex; flex-wrap: wrap; gap: 2px 10px; }
#steering label { opacity: .9; white-space: nowrap; }
#steering label[hidden] { display: none; }
#steering select { color: var(--vscode-dropdown-foreground); background: var(--vscode-dropdown-background); border: 1px solid var(--vscode-dropdown-border, transparent); max-width: 12em; }
#transcript { flex: 1; overflow-y: auto; overflow-x: hidden; overflow-wrap: anywhere; padding: 0 8px; }
.turn { border-bottom: 1px solid var(--vscode-panel-border); padding: 6px 0; }
.who { font-weight: bold; display: block; margin: 4px 0 2px; }
.prompt-text, .prose { white-space: pre-wrap; word-wrap: break-word; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--vscode-textCodeBlock-background); padding: 4px; margin: 2px 0; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
code { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); }
pre code { background: none; }
.markdown > :first-child { margin-top: 2px; }
.markdown p { margin: 4px 0; }
.markdown ul, .markdown ol { margin: 4px 0; padding-left: 20px; }
.markdown h1, .markdown h2, .markdown h3, .markdown h4 { margin: 8px 0 4px; font-size: 1.1em; }
.markdown h1 { font-size: 1.25em; }
.markdown blockquote { margin: 4px 0; padding: 2px 8px; border-left: 3px solid var(--vscode-textBlockQuote-border); background: var(--vscode-textBlockQuote-background); }
.markdown table { border-collapse: collapse; table-layout: fixed; width: 100%; margin: 4px 0; }
.markdown th, .markdown td { border: 1px solid var(--vscode-panel-border); padding: 2px 6px; text-align: left; }
.markdown hr { border: none; border-top: 1px solid var(--vscode-panel-border); }
pre.code { position: relative; padding: 6px 8px; border-radius: 3px; }
pre.code[data-lang]::before { content: attr(data-lang); float: right; margin-left: 8px; opacity: .6; font-size: 85%; font-family: var(--vscode-font-family); }
a.path, a.link { color: var(--vscode-textLink-foreground); cursor: pointer; text-decoration: none; }
a.path:hover, a.link:hover, a.path:focus, a.link:focus { color: var(--vscode-textLink-activeForeground); text-decoration: underline; }
a.link.dead { color: inherit; cursor: default; text-decoration: underline dotted; }
.hljs-keyword, .hljs-selector-tag, .hljs-literal, .hljs-meta .hljs-keyword { color: var(--vscode-debugTokenExpression-boolean); }
.hljs-built_in, .hljs-doctag, .hljs-meta { color: var(--vscode-debugTokenExpression-name); }
.hljs-string, .hljs-regexp, .hljs-char.escape_, .hljs-symbol, .hljs-template-tag, .hljs-selector-attr { color: var(--vscode-debugTokenExpression-string); }
.hljs-number, .hljs-bullet { color: var(--vscode-debugTokenExpression-number); }
.hljs-title, .hljs-section { color: var(--vscode-symbolIcon-functionForeground); }
.hljs-title.class_, .hljs-type, .hljs-selector-class, .hljs-name { color: var(--vscode-symbolIcon-classForeground); }
.hljs-variable, .hljs-params, .hljs-attr, .hljs-attribute, .hljs-property, .hljs-template-variable, .hljs-selector-id { color: var(--vscode-symbolIcon-variableForeground); }
.hljs-comment, .hljs-quote { color: var(--vscode-descriptionForeground); font-style: italic; }
.hljs-addition { color: var(--vscode-gitDecoration-addedResourceForeground); }
.hljs-deletion { color: var(--vscode-gitDecoration-deletedResourceForeground); }
.hljs-emphasis { font-style: italic; }
.hljs-strong { font-weight: bold; }
.tool, .permission { margin: 3px 0; padding: 2px 4px; border-left: 2px solid var(--vscode-textLink-foreground); }
details.tool > summary { cursor: pointer; }
details.tool > summary::marker { color: var(--vscode-descriptionForeground); }
.tool-body { margin: 2px 0 2px 14px; }
.tool-kind { opacity: .7; }
.paths { opacity: .7; font-family: var(--vscode-editor-font-family); }
.status-failed, .outcome-rejected { border-left-color: var(--vscode-errorForeground); }
.reasoning { opacity: .75; font-style: italic; white-space: pre-wrap; }
.reasoning > summary { cursor: pointer; }
.plan ul { list-style: none; padding-left: 8px; margin: 2px 0; }
.plan-completed { text-decoration: line-through; opacity: .7; }
.label { font-weight: bold; }
.error { color: var(--vscode-errorForeground); white-space: pre-wrap; }
.notice { opacity: .8; font-style: italic; }
.turn-footer { opacity: .7; font-size: 90%; margin-top: 4px; }
.turn-status.failed { color: var(--vscode-errorForeground); }
.turn.rewound .prompt, .turn.rewound .answer > :not(.turn-footer) { opacity: .5; }
.rewound-marker { color: var(--vscode-editorWarning-foreground); font-weight: bold; }
button.rewind { padding: 0 6px; margin-left: 6px; font-size: 90%; }
.pending-summary { padding: 6px 0; font-weight: bold; }
.session-usage { padding: 2px 0 6px; opacity: .7; font-size: 90%; }
.empty { padding: 12px 0; opacity: .7; }
#composer { position: relative; border-top: 1px solid var(--vscode-panel-border); padding: 6px 8px; display: flex; flex-direction: column; gap: 4px; }
#prompt { width: 100%; box-sizing: border-box; min-height: 4em; resize: vertical; font-family: var(--vscode-font-family); color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); }
#completions { position: absolute; bottom: 100%; left: 8px; right: 8px; max-height: 14em; overflow-y: auto; z-index: 10; color: var(--vscode-editorSuggestWidget-foreground); background: var(--vscode-editorSuggestWidget-background); border: 1px solid var(--vscode-editorSuggestWidget-border, var(--vscode-panel-border)); }
#completions[hidden] { display: none; }
.completion { padding: 1px 6px; cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.completion[aria-selected="true"] { color: var(--vscode-editorSuggestWidget-selectedForeground); background: var(--vscode-editorSuggestWidget-selectedBackground); }
.completion .detail { opacity: .7; margin-left: 8px; }
#chips { display: flex; flex-wrap: wrap; gap: 4px; }
#chips:empty { display: none; }
.chip { display: inline-flex; align-items: center; gap: 2px; padding: 0 2px 0 6px; border-radius: 8px; color: var(--vscode-badge-foreground); background: var(--vscode-badge-background); font-family: var(--vscode-editor-font-family); }
.chip button { padding: 0 4px; background: transparent; color: inherit; }
#buttons { display: flex; gap: 4px; justify-content: flex-end; }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 3px 10px; cursor: pointer; }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
`;

// Plain browser JavaScript (no backticks or template placeholders: it sits in a template literal).
const SCRIPT = `
const vscode = acquireVsCodeApi();
const transcript = document.getElementById("transcript");
const title = document.getElementById("title");
const prompt = document.getElementById("prompt");
const list = document.getElementById("completions");
const chipBox = document.getElementById("chips");
const pickers = {
  mode: { label: document.getElementById("mode-label"), select: document.getElementById("mode-picker"), shown: "" },
  model: { label: document.getElementById("model-label"), select: document.getElementById("model-picker"), shown: "" },
};
let modelOptionId = undefined;
let chips = [];
let items = [];
let active = 0;
let trigger = undefined;
let asked = 0;

function send() {
  const text = prompt.value;
  if (text.trim() === "") { return; }
  vscode.postMessage({ type: "prompt", text, attachments: chips });
  asked++; // a completion still on its way belongs to the text just sent
  prompt.value = "";
  chips = [];
  drawChips();
  closeList();
}
function ask() {
  asked++;
  vscode.postMessage({ type: "complete", id: asked, text: prompt.value, cursor: prompt.selectionStart });
}
function closeList() {
  items = [];
  trigger = undefined;
  list.hidden = true;
  list.textContent = "";
}
function drawList() {
  list.textContent = "";
  if (items.length === 0) { list.hidden = true; return; }
  items.forEach((item, i) => {
    const row = document.createElement("div");
    row.className = "completion";
    row.setAttribute("role", "option");
    row.setAttribute("aria-selected", String(i === active));
    row.dataset.index = String(i);
    const label = document.createElement("span");
    label.className = "label-text";
    label.textContent = item.label;
    row.appendChild(label);
    if (item.detail) {
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = item.detail;
      row.appendChild(detail);
    }
    list.appendChild(row);
  });
  list.hidden = false;
  const current = list.children[active];
  if (current) { current.scrollIntoView({ block: "nearest" }); }
}
function accept(i) {
  const item = items[i];
  if (!item || !trigger) { return; }
  const text = prompt.value;
  prompt.value = text.slice(0, trigger.start) + item.insert + text.slice(trigger.end);
  const cursor = trigger.start + item.insert.length;
  prompt.setSelectionRange(cursor, cursor);
  if (item.chip && !chips.some((c) => c.uri === item.chip.uri && JSON.stringify(c.range) === JSON.stringify(item.chip.range))) {
    chips.push(item.chip);
    drawChips();
  }
  closeList();
  prompt.focus();
}
function drawChips() {
  chipBox.textContent = "";
  chips.forEach((chip, i) => {
    const el = document.createElement("span");
    el.className = "chip";
    el.title = chip.title;
    const label = document.createElement("span");
    label.className = "chip-label";
    label.textContent = chip.label;
    const remove = document.createElement("button");
    remove.className = "remove";
    remove.dataset.chip = String(i);
    remove.title = "Remove this attachment";
    remove.setAttribute("aria-label", "Remove " + chip.label);
    remove.textContent = "\\u00d7";
    el.append(label, remove);
    chipBox.appendChild(el);
  });
}
function drawPicker(picker, choices) {
  picker.label.hidden = choices.length === 0;
  const key = JSON.stringify(choices.map((c) => [c.id, c.label]));
  if (key !== picker.shown) {
    picker.shown = key;
    picker.select.textContent = "";
    for (const c of choices) {
      const option = document.createElement("option");
      option.value = c.id;
      option.textContent = c.label;
      if (c.description) { option.title = c.description; }
      picker.select.appendChild(option);
    }
  }
  const picked = choices.find((c) => c.picked);
  if (picked) { picker.select.value = picked.id; }
}

document.getElementById("send").addEventListener("click", send);
document.getElementById("cancel").addEventListener("click", () => vscode.postMessage({ type: "cancel" }));
pickers.mode.select.addEventListener("change", () => vscode.postMessage({ type: "setMode", modeId: pickers.mode.select.value }));
pickers.model.select.addEventListener("change", () => {
  if (modelOptionId) { vscode.postMessage({ type: "setOption", optionId: modelOptionId, value: pickers.model.select.value }); }
});
// Paths and web addresses go to the extension; preventDefault also keeps a click on a path in a tool's summary
// from folding the tool.
function follow(e) {
  const target = e.target instanceof Element ? e.target : null;
  const path = target ? target.closest("[data-open]") : null;
  const link = target ? target.closest("[data-href]") : null;
  if (path) { vscode.postMessage({ type: "open", path: path.getAttribute("data-open") }); }
  else if (link) { vscode.postMessage({ type: "link", href: link.getAttribute("data-href") }); }
  else { return false; }
  e.preventDefault();
  return true;
}
transcript.addEventListener("click", (e) => {
  if (follow(e)) { return; }
  const button = e.target instanceof Element ? e.target.closest("button[data-rewind]") : null;
  if (button) { vscode.postMessage({ type: "rewind", turnId: button.getAttribute("data-rewind") }); }
});
transcript.addEventListener("keydown", (e) => {
  if (e.key === "Enter") { follow(e); }
});
chipBox.addEventListener("click", (e) => {
  const button = e.target instanceof Element ? e.target.closest("button[data-chip]") : null;
  if (button) {
    chips.splice(Number(button.getAttribute("data-chip")), 1);
    drawChips();
    prompt.focus();
  }
});
// mousedown, not click: the prompt keeps the focus (a blur would close the list first).
list.addEventListener("mousedown", (e) => {
  const row = e.target instanceof Element ? e.target.closest(".completion") : null;
  if (row) { e.preventDefault(); accept(Number(row.dataset.index)); }
});
prompt.addEventListener("input", ask);
prompt.addEventListener("blur", closeList);
prompt.addEventListener("keydown", (e) => {
  if (!list.hidden && items.length > 0) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      drawList();
      return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      accept(active);
      return;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      closeList();
      return;
    }
  }
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
});
window.addEventListener("message", (e) => {
  const msg = e.data;
  if (msg.type === "render") {
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 30;
    const opened = new Set(Array.from(transcript.querySelectorAll("details[data-key]")).filter((d) => d.open).map((d) => d.dataset.key));
    transcript.innerHTML = msg.html;
    for (const d of transcript.querySelectorAll("details[data-key]")) {
      if (opened.has(d.dataset.key)) { d.open = true; }
    }
    title.textContent = msg.header;
    const steering = msg.steering || { modes: [], models: [] };
    drawPicker(pickers.mode, steering.modes);
    drawPicker(pickers.model, steering.models);
    modelOptionId = steering.modelOptionId;
    if (atBottom) { transcript.scrollTop = transcript.scrollHeight; }
  } else if (msg.type === "completions") {
    // Only the answer to the latest keystroke counts; an earlier one would splice into stale text.
    if (msg.id !== asked || document.activeElement !== prompt) { return; }
    items = msg.items || [];
    trigger = { start: msg.start, end: msg.end };
    active = 0;
    drawList();
  } else if (msg.type === "focus") {
    prompt.focus();
  }
});
vscode.postMessage({ type: "ready" });
`;
