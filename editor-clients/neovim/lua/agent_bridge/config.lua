-- Options of the plugin: defaults, merging and validation. Everything else reads `config.options`.
local M = {}

---@class agent_bridge.Options
M.defaults = {
  -- How to start the bridge (one process per git workspace; reused by every buffer inside it).
  cmd = { "agent-bridge", "serve" },
  -- Extra environment for the bridge process (e.g. { AGENT_BRIDGE_STATE_DIR = "..." }).
  cmd_env = nil,
  -- Agents for the bridge's initializationOptions: { NAME = { protocol = "acp", command = {...}, env = {...} } }.
  agents = {},
  -- The agent prompts go to (nil: the bridge's configured default). :AgentAgents changes it.
  default_agent = nil,
  -- Every agent in a bubblewrap sandbox unless its own entry says `sandbox = false` (initializationOptions.sandbox;
  -- nil: as the bridge's configuration says). An agent's own `sandbox = true` and `sandboxPaths` go in `agents`.
  sandbox = nil,
  -- The bridge's settings (initializationOptions.settings): hintDiagnostics, maxLiveAgents, idleTimeout, turnWatchdog.
  settings = {},
  -- Start the bridge automatically for file buffers inside a directory with one of these markers.
  autostart = true,
  root_markers = { ".git" },
  -- Only attach to these filetypes (nil: every file buffer).
  filetypes = nil,
  -- Extra fields merged into the LSP client configuration (capabilities, handlers, on_attach, ...).
  lsp = {},
  -- The chat and prompt buffers' default mappings (:help agent_bridge-mappings); false: none.
  mappings = true,
  chat = {
    -- Open a session's chat window when you prompt it: "prompt" | "never".
    open = "prompt",
    -- Where the chat window goes: "right" | "left" | "bottom" | "top" | "tab".
    position = "right",
    -- Width (right/left) or height (bottom/top): columns/lines, or a fraction of the editor below 1.
    size = 0.4,
    -- Keep the cursor on the last line while text streams in (when it was already there).
    follow = true,
    -- Open the prompt buffer (the next prompt, on as many lines as it takes) under the chat window with it.
    prompt_window = true,
    -- How many lines of a tool call's output to show under it.
    tool_output_lines = 6,
  },
  review = {
    -- Mark pending hunks' lines in the sign column.
    signs = true,
    sign_text = "┃",
    -- The sign of a conflict hunk (you and the agent changed the same lines); drawn in DiagnosticWarn colours.
    conflict_sign_text = "┇",
    -- Show "agent: summary" at the end of a hunk's first line.
    virtual_text = true,
    -- Hide the bridge's own hint-diagnostic signs when the plugin draws its signs.
    hide_diagnostic_signs = true,
    -- Show every buffer's pending hunks inline (removed lines highlighted, added lines as virtual lines);
    -- :AgentPreview toggles one buffer.
    preview = false,
  },
}

M.options = vim.deepcopy(M.defaults)

-- vim.validate's short form is 0.11+; 0.10 only has the table form.
local function validate(name, value, types, optional)
  if vim.fn.has("nvim-0.11") == 1 then
    vim.validate(name, value, types, optional)
  else
    vim.validate({ [name] = { value, types, optional } })
  end
end

local function check(opts)
  validate("cmd", opts.cmd, { "table", "function" })
  validate("agents", opts.agents, "table")
  validate("default_agent", opts.default_agent, "string", true)
  validate("sandbox", opts.sandbox, "boolean", true)
  validate("settings", opts.settings, "table")
  validate("root_markers", opts.root_markers, "table")
  validate("filetypes", opts.filetypes, "table", true)
  validate("chat", opts.chat, "table")
  validate("review", opts.review, "table")
  validate("mappings", opts.mappings, "boolean")
  if not vim.tbl_contains({ "prompt", "never" }, opts.chat.open) then
    error("agent_bridge: chat.open must be 'prompt' or 'never', not " .. vim.inspect(opts.chat.open))
  end
  if not vim.tbl_contains({ "right", "left", "bottom", "top", "tab" }, opts.chat.position) then
    error("agent_bridge: chat.position must be right, left, bottom, top or tab")
  end
end

---@param opts table|nil
function M.set(opts)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- Lists replace the defaults rather than merging index by index.
  for _, key in ipairs({ "cmd", "root_markers", "filetypes" }) do
    if opts and opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  check(merged)
  M.options = merged
  return merged
end

return M
