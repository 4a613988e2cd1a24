/**
 * The agent's answer as HTML: CommonMark + GitHub tables and strikethrough (markdown-it), code blocks
 * highlighted (highlight.js, its common languages). Agent output is untrusted: raw HTML is shown as text,
 * images become links, and no link carries an `href` the webview could follow on its own: links and paths
 * become `data-href` / `data-open` the chat page hands to the extension, which decides what to open.
 * Pure: no VS Code.
 */
import hljs from "highlight.js/lib/common";
import MarkdownIt from "markdown-it";
import type { PathContext, ShownPath } from "./chatPaths";
import { NO_PATHS, pathInText, splitPaths } from "./chatPaths";

/** Highlighting a long block takes long and helps little: past this size a block is plain text. */
const MAX_HIGHLIGHT_CHARS = 20_000;
/** Schemes a link may open outside VS Code. */
const EXTERNAL = /^(https?:|mailto:)/i;

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The opening tag of a path link (focusable: no `href`, so `tabindex` makes it reachable by keyboard). */
function pathOpen(shown: ShownPath): string {
  return `<a class="path" data-open="${escapeHtml(shown.target)}" title="Open ${escapeHtml(shown.label)}" tabindex="0">`;
}

/** A path as the chat shows it: relative, and a link the page asks the extension to open. */
export function pathLink(shown: ShownPath): string {
  return `${pathOpen(shown)}${escapeHtml(shown.label)}</a>`;
}

function linkOpen(href: string): string {
  return `<a class="link" data-href="${escapeHtml(href)}" title="${escapeHtml(href)}" tabindex="0">`;
}

/** `text` escaped, with the worktree and workspace paths in it as path links. */
export function textWithPaths(text: string, ctx: PathContext): string {
  return splitPaths(text, ctx).map((p) => (typeof p === "string" ? escapeHtml(p) : pathLink(p))).join("");
}

function highlight(code: string, lang: string): string {
  const language = lang.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  let body = escapeHtml(code);
  if (code.length <= MAX_HIGHLIGHT_CHARS) {
    try {
      if (language !== "" && hljs.getLanguage(language) !== undefined) {
        body = hljs.highlight(code, { language, ignoreIllegals: true }).value;
      } else if (language === "") {
        body = hljs.highlightAuto(code).value;
      }
    } catch {
      // A grammar that throws leaves the block plain; the text is what matters.
    }
  }
  const label = language === "" ? "" : ` data-lang="${escapeHtml(language)}"`;
  return `<pre class="code hljs"${label}><code>${body.replace(/\n$/, "")}</code></pre>`;
}

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false, highlight });

/** Whether the inline token at `idx` sits inside a link (its text must not become a second link). */
function inLink(tokens: { type: string }[], idx: number): boolean {
  let depth = 0;
  for (let i = 0; i < idx; i++) {
    if (tokens[i].type === "link_open") {
      depth++;
    } else if (tokens[i].type === "link_close") {
      depth--;
    }
  }
  return depth > 0;
}

type Env = {
  paths: PathContext;
};

function pathsOf(env: unknown): PathContext {
  return (env as Env | undefined)?.paths ?? NO_PATHS;
}

md.renderer.rules.text = (tokens, idx, _options, env: unknown) =>
  inLink(tokens, idx) ? escapeHtml(tokens[idx].content) : textWithPaths(tokens[idx].content, pathsOf(env));

md.renderer.rules.code_inline = (tokens, idx, _options, env: unknown) => {
  const content = tokens[idx].content;
  const shown = inLink(tokens, idx) ? undefined : pathInText(content, pathsOf(env));
  const code = `<code>${escapeHtml(shown?.label ?? content)}</code>`;
  return shown === undefined
    ? code
    : `${pathOpen(shown)}${code}</a>`;
};

md.renderer.rules.link_open = (tokens, idx, _options, env: unknown) => {
  const href = String(tokens[idx].attrGet("href") ?? "");
  if (EXTERNAL.test(href)) {
    return linkOpen(href);
  }
  let target = href.replace(/^file:\/\//i, "");
  try {
    target = decodeURIComponent(target);
  } catch {
    // Not percent-encoded after all: take it as written.
  }
  const shown = pathInText(target, pathsOf(env));
  if (shown !== undefined) {
    return pathOpen(shown);
  }
  // Anything else (another scheme, a path outside the workspace) is shown but leads nowhere.
  return `<a class="link dead" title="${escapeHtml(href)}">`;
};

// The page loads nothing from outside (its CSP): an image is its description, a link when it has an address.
md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx];
  const src = String(token.attrGet("src") ?? "");
  const alt = escapeHtml(token.content || src);
  return EXTERNAL.test(src)
    ? `${linkOpen(src)}[image: ${alt}]</a>`
    : `<span class="image">[image: ${alt}]</span>`;
};

// markdown-it's own URL check would drop file: links; ours decide above, so every URL may pass to them.
md.validateLink = (url: string) => !/^(javascript|vbscript|data):/i.test(url.trim());

/** Rendered answers by session paths and text: the chat redraws every turn on each streamed event, and a
 * finished turn's text never changes. Oldest out first past the cap. */
const cache = new Map<string, string>();
const CACHE_ENTRIES = 200;

/** The agent's Markdown as HTML (see the module comment for what is allowed). */
export function renderMarkdown(text: string, paths: PathContext): string {
  const key = JSON.stringify([paths.worktree, paths.workspace, paths.roots, text]);
  const cached = cache.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const env: Env = { paths };
  const html = md.render(text, env);
  cache.set(key, html);
  if (cache.size > CACHE_ENTRIES) {
    cache.delete(cache.keys().next().value as string);
  }
  return html;
}
