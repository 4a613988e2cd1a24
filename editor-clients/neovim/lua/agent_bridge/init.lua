-- agent-bridge for Neovim: prompt, watch and review coding agents through the agent-bridge language server.
--   require("agent_bridge").setup({ default_agent = "qwen" })
-- See :help agent_bridge.
local M = {}

M.did_setup = false
local restored = {} -- client ids whose restored sessions were fetched

--- Generates the help tags of doc/ when they are missing or older than the help file (an updated plugin's new
--- tags, e.g. a new command's, would otherwise not be found), if the directory is writable.
function M.helptags()
  local src = debug.getinfo(1, "S").source:sub(2)
  local doc = vim.fs.joinpath(vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(src))), "doc")
  local tags = vim.fs.joinpath(doc, "tags")
  local stale = vim.fn.getftime(tags) < vim.fn.getftime(vim.fs.joinpath(doc, "agent_bridge.txt"))
  if vim.fn.isdirectory(doc) == 1 and stale and vim.fn.filewritable(doc) == 2 then
    pcall(vim.cmd.helptags, vim.fn.fnameescape(doc))
  end
end

---@param opts? agent_bridge.Options
function M.setup(opts)
  if vim.fn.has("nvim-0.10") == 0 then
    vim.notify("agent-bridge: Neovim 0.10 or newer is needed", vim.log.levels.ERROR)
    return M
  end
  local config = require("agent_bridge.config")
  config.set(opts)
  if config.options.default_agent then
    require("agent_bridge.sessions").agent = config.options.default_agent
  end
  require("agent_bridge.commands").create()
  require("agent_bridge.review").setup()
  require("agent_bridge.preview").setup()
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("agent_bridge.sessions", { clear = true }),
    callback = function(args)
      local c = vim.lsp.get_client_by_id(args.data.client_id)
      if c and c.name == "agent_bridge" and not restored[c.id] then
        restored[c.id] = true
        require("agent_bridge.sessions").restore(c)
      end
    end,
  })
  if config.options.autostart then
    require("agent_bridge.client").enable()
  end
  M.helptags()
  M.did_setup = true
  return M
end

--- Prompts an agent: { text, agent?, session?, new?, bufnr?, range? = {first, last}, on_queued? }.
function M.prompt(opts)
  require("agent_bridge.prompt").prompt(opts)
end

--- Cancels the running turn of a session (default: the current one).
function M.cancel(session_id)
  require("agent_bridge.prompt").cancel(session_id)
end

--- Shows or hides the chat of a session (default: the current one).
function M.chat(session_id)
  local s = require("agent_bridge.prompt").session_for(session_id)
  if s then
    require("agent_bridge.chat").toggle(s)
  end
end

--- Sets the agent's mode: { value?, session?, agent?, on_done? } (no value: vim.ui.select over its modes).
function M.mode(opts)
  require("agent_bridge.steer").mode(opts)
end

--- Sets the agent's model: { value?, session?, agent?, on_done? } (no value: vim.ui.select over its models).
function M.model(opts)
  require("agent_bridge.steer").model(opts)
end

--- What the plugin knows of an agent's modes, config options and slash commands in a session (default: the
--- current session and the agent prompts go to), or nil.
---@return agent_bridge.AgentState|nil
function M.agent_state(session_id, agent)
  local s = require("agent_bridge.prompt").session_for(session_id)
  return s and require("agent_bridge.steer").state(s, agent) or nil
end

--- Opens the chat's prompt buffer of a session (default: the current one) to write the next prompt in;
--- `opts.insert = false` stays in Normal mode. Returns its window.
---@param session_id? string
---@param opts? { insert?: boolean }
---@return integer|nil
function M.compose(session_id, opts)
  local s = require("agent_bridge.prompt").session_for(session_id)
  if not s then
    return require("agent_bridge.client").notify("no agent session yet: :AgentPrompt starts one",
      vim.log.levels.WARN)
  end
  return require("agent_bridge.chat_prompt").open(s, opts)
end

--- The statusline component: "scripted [plan, fast] 3f2a1b2c ⟳ running: Write greet.py · 2 pending" (or "").
function M.statusline()
  return require("agent_bridge.status").statusline()
end

--- The statusline's state as a table (agent, mode, model, session, title, state, tool, asking, pending, queued),
--- or nil.
function M.status(bufnr)
  return require("agent_bridge.status").get(bufnr)
end

function M.apply(opts)
  require("agent_bridge.review").apply(opts)
end

function M.reject(opts)
  require("agent_bridge.review").reject(opts)
end

--- Undoes the agent's changes of a turn and every later one: { turn?, session?, on_done? } (no turn: a picker).
function M.rewind(opts)
  require("agent_bridge.rewind").rewind(opts)
end

--- Applies / rejects every pending change of a session: { session?, on_done? } (default: the current one).
function M.apply_all(opts)
  require("agent_bridge.review").apply(vim.tbl_extend("force", opts or {}, { all = true }))
end

function M.reject_all(opts)
  require("agent_bridge.review").reject(vim.tbl_extend("force", opts or {}, { all = true }))
end

--- Brings back the changes the latest reject took away: { on_done? }.
function M.unreject(opts)
  require("agent_bridge.bulk").unreject(opts)
end

--- Moves to the next / previous pending hunk, opening the next file with pending changes past this one's.
function M.next_hunk(opts)
  require("agent_bridge.navigate").next(opts)
end

function M.prev_hunk(opts)
  require("agent_bridge.navigate").prev(opts)
end

--- Toggles the buffer's inline preview of pending hunks: { bufnr?, on?, on_done? }.
function M.preview(opts)
  require("agent_bridge.preview").toggle(opts)
end

function M.pending(opts)
  require("agent_bridge.review").pending(opts)
end

function M.diff(opts)
  require("agent_bridge.diff").diff(opts)
end

function M.sessions(opts)
  require("agent_bridge.pickers").sessions(opts)
end

function M.agents(name, opts)
  require("agent_bridge.pickers").agents(name, opts)
end

return M
