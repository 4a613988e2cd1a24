-- Steering against the real bridge and its scripted agent (which offers modes and a "model" option): the slash
-- commands the agent publishes (`@commands`) complete after `/`; :AgentMode and :AgentModel switch through
-- vim.ui.select and the statusline and agentBridge.sessions show the choice; `@greet.py` in a prompt reaches the
-- agent as a resource (its `@echo-prompt` says what it received). Run by plugin_test.lua on its live session.

local helper = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "helper.lua"))

---@param t agent_bridge.test.Harness
---@param client vim.lsp.Client
---@param session agent_bridge.Session
return function(t, client, session)
  local check, wait = t.check, t.wait
  local ab = require("agent_bridge")
  local chat = require("agent_bridge.chat")
  local client_mod = require("agent_bridge.client")
  local steer = require("agent_bridge.steer")

  local function run(text)
    local res
    ab.prompt({ text = text, on_queued = function(r)
      res = r
    end })
    wait("queued: " .. text:gsub("\n", " | "), function()
      return res ~= nil
    end)
    wait("ended: " .. text:gsub("\n", " | "), function()
      return t.turn_end(res.turnId) ~= nil
    end)
    return res, t.turn_end(res.turnId)
  end

  -- 1. The agent publishes its commands: `/` completes them.
  local _, ended = run("@commands")
  check("real steer: the @commands turn completed", ended.status == "completed", ended)
  wait("commands known", function()
    local st = steer.state(session, "scripted")
    return st and #st.commands > 0
  end)
  local slash = vim.fn.getcompletion("AgentPrompt /", "cmdline")
  check("real steer: / completes the commands the agent published", vim.tbl_contains(slash, "/help")
    and vim.tbl_contains(slash, "/say"), slash)

  -- 2. :AgentMode through vim.ui.select: the agent's modes; Plan chosen.
  local done
  t.answers.select = helper.choose_label("Plan")
  ab.mode({ on_done = function(st)
    done = st
  end })
  wait(":AgentMode answered", function()
    return done ~= nil
  end)
  local q = t.last_ui("select")
  check("real steer: :AgentMode lists the agent's modes", q and q.prompt == "Mode of scripted"
    and #q.items == 2 and q.items[1]:find("Default", 1, true) and q.items[2]:find("Plan", 1, true), q)
  check("real steer: the mode is set", done.modes and done.modes.currentModeId == "plan", done)
  wait("statusline shows the plan mode", function()
    return ab.statusline():find("scripted [plan", 1, true) ~= nil
  end)

  -- 3. :AgentModel through vim.ui.select: the values of the agent's model option; the other one chosen.
  local opt = steer.model_option(done)
  local values = opt and steer.values(opt) or {}
  local other
  for _, v in ipairs(values) do
    if v.value ~= opt.currentValue then
      other = other or v
    end
  end
  check("real steer: the agent offers a model choice", opt ~= nil and other ~= nil, done.configOptions)
  done = nil
  t.answers.select = function(items, labels)
    for i, label in ipairs(labels) do
      if other and label:find(other.value, 1, true) then
        return items[i]
      end
    end
  end
  ab.model({ on_done = function(st)
    done = st
  end })
  wait(":AgentModel answered", function()
    return done ~= nil
  end)
  t.answers.select = nil
  local model_opt = steer.model_option(done)
  check("real steer: the model is set", other and model_opt and model_opt.currentValue == other.value, model_opt)
  local line = ab.statusline()
  check("real steer: statusline shows mode and model", other
    and line:find("scripted [plan, " .. other.value .. "]", 1, true), line)
  local listed = client_mod.exec_sync(client, "agentBridge.sessions", {})
  local entry
  for _, item in ipairs(listed or {}) do
    for _, a in ipairs(item.sessionId == session.id and item.agents or {}) do
      if a.agent == "scripted" then
        entry = a
      end
    end
  end
  check("real steer: agentBridge.sessions shows mode and model", entry and entry.mode == "plan"
    and other and entry.model == other.value, entry)
  local modes = vim.fn.getcompletion("AgentMode ", "cmdline")
  check("real steer: mode ids complete", vim.deep_equal(modes, { "default", "plan" }), modes)
  vim.cmd("AgentMode default")
  wait("statusline back to the default mode", function()
    return ab.statusline():find("scripted [default", 1, true) ~= nil
  end)

  -- 4. `@greet.py` reaches the agent as a resource: the text the user sees, at the worktree's copy.
  local res
  res, ended = run("explain @greet.py\n@echo-prompt")
  check("real steer: the mention turn completed", ended.status == "completed", ended)
  local c = chat.chats[session.id]
  local text = c and helper.buf_text(c.buf) or ""
  local from = text:find("explain @greet.py", 1, true)
  local echoed = from and text:sub(from) or ""
  check("real steer: @greet.py reached the agent as a resource", echoed:find("<resource uri=file://", 1, true)
    and echoed:find("/greet.py>", 1, true) and echoed:find("def greet(name):", 1, true), echoed)
  check("real steer: the resource points at the worktree", echoed:find("worktrees/" .. session.id, 1, true), echoed)
  check("real steer: the chat names the mention", text:find("> (with greet.py)", 1, true), text)
  check("real steer: the mention turn's id", res and res.sessionId == session.id, res)
end
