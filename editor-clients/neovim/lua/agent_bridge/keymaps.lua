-- The default mappings of the chat and prompt buffers (buffer-local; `mappings = false` in setup() sets none).
-- The plugin maps no global keys: see :help agent_bridge-keymaps for suggested ones.
local config = require("agent_bridge.config")

local M = {}

---@class (exact) agent_bridge.Mapping
---@field mode string|string[]
---@field lhs string
---@field desc string
---@field fn fun(buf: integer)

local function session_of(buf)
  return vim.b[buf].agent_bridge_session
end

local function cancel(buf)
  require("agent_bridge.prompt").cancel(session_of(buf))
end

local function send(buf)
  if vim.fn.mode() == "i" then
    vim.cmd.stopinsert()
  end
  require("agent_bridge.chat_prompt").send(buf)
end

--- The chat buffer's mappings (the list :help agent_bridge-mappings documents).
---@type agent_bridge.Mapping[]
M.CHAT = {
  { mode = "n", lhs = "q", desc = "Close the chat window (and the prompt window under it)", fn = function()
    require("agent_bridge.chat_window").close()
  end },
  { mode = "n", lhs = "i", desc = "Write the next prompt (the prompt buffer under the chat)", fn = function(buf)
    local s = require("agent_bridge.sessions").get(session_of(buf) or "")
    if s then
      require("agent_bridge.chat_prompt").open(s)
    end
  end },
  { mode = "n", lhs = "<C-c>", desc = "Cancel the session's running turn", fn = cancel },
}

--- The prompt buffer's mappings.
---@type agent_bridge.Mapping[]
M.PROMPT = {
  { mode = "n", lhs = "<CR>", desc = "Send the prompt to the agent", fn = send },
  { mode = { "n", "i" }, lhs = "<C-s>", desc = "Send the prompt to the agent", fn = send },
  { mode = { "n", "i" }, lhs = "<C-c>", desc = "Cancel the session's running turn", fn = cancel },
  { mode = "n", lhs = "q", desc = "Close the prompt window", fn = function()
    vim.cmd("close")
  end },
}

local function set(buf, list)
  if config.options.mappings == false then
    return
  end
  for _, m in ipairs(list) do
    vim.keymap.set(m.mode, m.lhs, function()
      m.fn(buf)
    end, { buffer = buf, desc = "agent-bridge: " .. m.desc, nowait = true })
  end
end

---@param buf integer
function M.chat(buf)
  set(buf, M.CHAT)
end

---@param buf integer
function M.prompt(buf)
  set(buf, M.PROMPT)
end

return M
