-- The user commands and their completion. No global keymaps are set (see :help agent_bridge-keymaps).
local client_mod = require("agent_bridge.client")
local sessions = require("agent_bridge.sessions")

local M = {}

-- Completion sources ----------------------------------------------------------------------------------------

local function agent_names()
  local c = client_mod.for_buffer(0)
  local pickers = require("agent_bridge.pickers")
  if c and not pickers.cached_agents then
    local list = client_mod.exec_sync(c, "agentBridge.agents", {}, 1000)
    if list then
      pickers.cached_agents = vim.tbl_map(function(a)
        return a.name
      end, list)
    end
  end
  return pickers.cached_agents or {}
end

local function session_ids()
  local c = client_mod.for_buffer(0)
  if c then
    local list = client_mod.exec_sync(c, "agentBridge.sessions", {}, 1000)
    if list then
      sessions.update_from_list(c.id, list)
    end
  end
  local ids = {}
  for id, s in pairs(sessions.by_id) do
    if not c or s.client_id == c.id then
      table.insert(ids, id)
    end
  end
  table.sort(ids)
  return ids
end

local function matching(list, lead)
  return vim.tbl_filter(function(x)
    return vim.startswith(x, lead)
  end, list)
end

local PROMPT_FLAGS = { "--agent=", "--new", "--session=" }

-- :AgentPrompt [--agent=NAME] [--new] [--session=ID] [text]; the agent's slash commands complete after "/" (as
-- the text's first word), the workspace's files after "@".
function M.complete_prompt(lead, line)
  local before = line:sub(1, #line - #lead)
  local words = vim.split(vim.trim(before), "%s+")
  local in_flags = true
  for i = 2, #words do
    if not vim.startswith(words[i], "--") then
      in_flags = false
    end
  end
  if vim.startswith(lead, "--agent=") then
    return vim.tbl_map(function(n)
      return "--agent=" .. n
    end, matching(agent_names(), lead:sub(9)))
  elseif vim.startswith(lead, "--session=") then
    return vim.tbl_map(function(n)
      return "--session=" .. n
    end, matching(session_ids(), lead:sub(11)))
  elseif in_flags and vim.startswith(lead, "-") then
    return matching(PROMPT_FLAGS, lead)
  elseif vim.startswith(lead, "@") or vim.startswith(lead, "/") then
    -- A command only where the prompt's text starts; the agent the prompt goes to is the one whose commands
    -- complete.
    local agent = before:match("%-%-agent=(%S+)")
    return require("agent_bridge.mentions").complete_arg(lead, in_flags, agent)
  end
  return {}
end

---@return table opts for prompt(), string text
function M.parse_prompt_args(args)
  local opts = {}
  local rest = args
  while true do
    local word, after = rest:match("^%s*(%-%-%S+)%s*(.*)$")
    if not word then
      break
    end
    local agent = word:match("^%-%-agent=(.+)$")
    local session = word:match("^%-%-session=(.+)$")
    if agent then
      opts.agent = agent
    elseif session then
      opts.session = session
    elseif word == "--new" then
      opts.new = true
    else
      break -- not ours: part of the prompt
    end
    rest = after
  end
  return opts, vim.trim(rest)
end

-- Commands -------------------------------------------------------------------------------------------------

function M.create()
  local cmd = vim.api.nvim_create_user_command

  cmd("AgentPrompt", function(o)
    local prompt = require("agent_bridge.prompt")
    local opts, text = M.parse_prompt_args(o.args)
    if opts.session then
      local s = prompt.session_for(opts.session)
      opts.session = s and s.id or opts.session
    end
    if o.range > 0 then
      opts.range = { o.line1, o.line2 }
    end
    if text == "" then
      prompt.ask(opts)
    else
      opts.text = text
      prompt.prompt(opts)
    end
  end, {
    nargs = "*",
    range = true,
    complete = M.complete_prompt,
    desc = "Prompt an agent (a range sends those lines as context; empty: asks)",
  })

  cmd("AgentMode", function(o)
    require("agent_bridge.steer").mode({ value = o.args })
  end, {
    nargs = "?",
    complete = function(lead)
      return require("agent_bridge.steer").complete_mode(lead)
    end,
    desc = "Set the agent's mode (no argument: choose from the modes it offers)",
  })

  cmd("AgentModel", function(o)
    require("agent_bridge.steer").model({ value = o.args })
  end, {
    nargs = "?",
    complete = function(lead)
      return require("agent_bridge.steer").complete_model(lead)
    end,
    desc = "Set the agent's model (no argument: choose from the models it offers)",
  })

  cmd("AgentCancel", function(o)
    require("agent_bridge.prompt").cancel(o.args)
  end, {
    nargs = "?",
    complete = function(lead)
      return matching(session_ids(), lead)
    end,
    desc = "Cancel the agent's running turn",
  })

  cmd("AgentSessions", function()
    require("agent_bridge.pickers").sessions()
  end, { nargs = 0, desc = "Agent sessions: switch, show the chat, cancel, close" })

  cmd("AgentAgents", function(o)
    require("agent_bridge.pickers").agents(o.args)
  end, {
    nargs = "?",
    complete = function(lead)
      return matching(agent_names(), lead)
    end,
    desc = "List agents and choose the one prompts go to",
  })

  cmd("AgentChat", function(o)
    local s = require("agent_bridge.prompt").session_for(o.args)
    if not s then
      return client_mod.notify("no agent session yet: :AgentPrompt starts one", vim.log.levels.WARN)
    end
    require("agent_bridge.chat").toggle(s)
  end, {
    nargs = "?",
    complete = function(lead)
      return matching(session_ids(), lead)
    end,
    desc = "Show or hide the session's chat",
  })

  cmd("AgentRewind", function(o)
    require("agent_bridge.rewind").rewind({ turn = o.args })
  end, {
    nargs = "?",
    complete = function(lead)
      return require("agent_bridge.rewind").complete(lead)
    end,
    desc = "Undo the agent's changes of a turn and of every later one (no argument: pick the turn)",
  })

  cmd("AgentPending", function()
    require("agent_bridge.review").pending()
  end, { nargs = 0, desc = "Pending agent changes in the quickfix list" })

  cmd("AgentDiff", function()
    require("agent_bridge.diff").diff()
  end, { nargs = 0, desc = "The agent's version of this file beside it, in diff mode" })

  cmd("AgentApply", function(o)
    require("agent_bridge.review").apply({ bang = o.bang, line1 = o.line1, line2 = o.line2 })
  end, { bang = true, range = true, nargs = 0, desc = "Apply the agent change under the cursor (!: whole file)" })

  cmd("AgentReject", function(o)
    require("agent_bridge.review").reject({ bang = o.bang, line1 = o.line1, line2 = o.line2 })
  end, { bang = true, range = true, nargs = 0, desc = "Reject the agent change under the cursor (!: whole file)" })

  local session_arg = {
    nargs = "?",
    complete = function(lead)
      return matching(session_ids(), lead)
    end,
  }
  cmd("AgentApplyAll", function(o)
    require("agent_bridge.review").apply({ all = true, session = o.args })
  end, vim.tbl_extend("force", session_arg, { desc = "Apply every pending change of the session" }))

  cmd("AgentRejectAll", function(o)
    require("agent_bridge.review").reject({ all = true, session = o.args })
  end, vim.tbl_extend("force", session_arg, { desc = "Reject every pending change of the session" }))

  cmd("AgentUnreject", function()
    require("agent_bridge.bulk").unreject()
  end, { nargs = 0, desc = "Bring back the changes the latest reject took away" })

  cmd("AgentNext", function()
    require("agent_bridge.navigate").next()
  end, { nargs = 0, desc = "Go to the next pending agent change (across files)" })

  cmd("AgentPrev", function()
    require("agent_bridge.navigate").prev()
  end, { nargs = 0, desc = "Go to the previous pending agent change (across files)" })

  cmd("AgentPreview", function(o)
    local on = ({ on = true, off = false })[o.args]
    require("agent_bridge.preview").toggle({ on = on })
  end, {
    nargs = "?",
    complete = function()
      return { "on", "off" }
    end,
    desc = "Show or hide this buffer's pending changes inline",
  })
end

return M
