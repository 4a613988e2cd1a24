-- Driver for tests/real/test_neovim_agents.py: a real agent inside real headless Neovim, the README's way.
-- The plugin (set up by the init.lua the test writes) starts the bridge; this script plays the user: opens the
-- file, prompts (multi-line, through require("agent_bridge").prompt), waits for the turn, applies each pending
-- hunk with vim.lsp.buf.code_action() (Neovim applies the action's edit), checks the buffer, prompts again in
-- the same session and records everything in the JSON file named by AB_VERDICT.

local verdict_path = assert(os.getenv("AB_VERDICT"))
local target = assert(os.getenv("AB_FILE"))
local first_prompt = assert(os.getenv("AB_FIRST_PROMPT"))
local second_prompt = assert(os.getenv("AB_SECOND_PROMPT"))
local TURN_MS = tonumber(os.getenv("AB_TURN_MS") or "120000")

local verdict = { ok = false, steps = {}, events = {}, applied = {} }

local function write_verdict()
  local f = assert(io.open(verdict_path, "w"))
  f:write(vim.json.encode(verdict))
  f:close()
end

local function wait(what, cond, timeout)
  if not vim.wait(timeout or 30000, cond, 50) then
    error("timed out waiting for " .. what)
  end
  table.insert(verdict.steps, what)
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n"
end

local function run()
  vim.lsp.set_log_level("debug")
  vim.cmd.edit(target)
  local buf = vim.api.nvim_get_current_buf()
  local client
  wait("the plugin started the bridge", function()
    client = vim.lsp.get_clients({ bufnr = buf, name = "agent_bridge" })[1]
    return client ~= nil and client.initialized
  end)

  -- Every agentBridge/event, as the plugin's chat sees them.
  local previous = client.handlers["agentBridge/event"] or vim.lsp.handlers["agentBridge/event"]
  client.handlers["agentBridge/event"] = function(err, params, ctx, config)
    table.insert(verdict.events, { kind = params.kind, turnId = params.turnId, agent = params.agent,
      status = params.status, error = params.error })
    if previous then
      return previous(err, params, ctx, config)
    end
  end

  local function command(name, arg, timeout)
    local res = client:request_sync("workspace/executeCommand", { command = name, arguments = { arg } },
      timeout or 10000, buf)
    assert(res and not res.err, name .. " failed: " .. vim.inspect(res and res.err))
    return res.result
  end

  local function prompt(text)
    local queued
    require("agent_bridge").prompt({ text = text, on_queued = function(r) queued = r end })
    wait("the prompt was queued", function() return queued ~= nil end)
    local result = command("agentBridge.awaitTurn", { sessionId = queued.sessionId, turnId = queued.turnId },
      TURN_MS)
    return queued, result
  end

  verdict.before = buffer_text(buf)
  local first, first_result = prompt(first_prompt)
  verdict.first_result = first_result
  verdict.session = first.sessionId

  -- Each pending hunk shows as a hint diagnostic; apply them one by one through the code action.
  local function hunk_lines()
    local lines = {}
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.source == "agent-bridge" then
        table.insert(lines, d.lnum)
      end
    end
    table.sort(lines)
    return lines
  end
  wait("hint diagnostics for the agent's hunks", function() return #hunk_lines() >= 2 end)
  verdict.hunks_before = #hunk_lines()
  while #hunk_lines() > 0 do
    local line = hunk_lines()[1]
    local before = #hunk_lines()
    vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
    local titles = {}
    vim.lsp.buf.code_action({
      apply = true,
      filter = function(action)
        table.insert(titles, action.title)
        return action.title:match("^Apply agent change") ~= nil
      end,
    })
    wait("hunk at line " .. line .. " applied", function() return #hunk_lines() < before end)
    table.insert(verdict.applied, { line = line, titles = titles })
  end
  verdict.after = buffer_text(buf)
  verdict.modified = vim.bo[buf].modified

  local sessions = command("agentBridge.sessions", {})
  verdict.agents_after_first = sessions[1] and sessions[1].agents

  -- The same session again: the warm agent answers.
  local second, second_result = prompt(second_prompt)
  verdict.second_session = second.sessionId
  verdict.second_result = second_result
  sessions = command("agentBridge.sessions", {})
  verdict.agents_after_second = sessions[1] and sessions[1].agents
  verdict.ok = true
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  verdict.error = err
end
write_verdict()
vim.cmd("qa!")
