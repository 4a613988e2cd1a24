-- Steering in the plugin, fed payloads in the wire shape of docs/protocol.md through the paths the LSP handlers
-- use (the client's `agentBridge/event` handler and the plugin's executeCommand helper answering for the
-- bridge): the agent's state (agentBridge.agentState), :AgentMode and :AgentModel through vim.ui.select and with
-- an argument (agentBridge.setMode / setOption and what they send), their argument completion, the statusline's
-- mode and model (kept current by modeChanged / configChanged), an error from the bridge, an agent without
-- modes; `/` and `@` completion in :AgentPrompt, in vim.ui.input's prompt and in the chat's prompt buffer
-- (<C-x><C-o>); `@path` mentions and a range sent as agentBridge.prompt attachments. Run by plugin_test.lua with
-- its harness on a running bridge.

local helper = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "helper.lua"))
local helper_choose, helper_text = helper.choose_label, helper.buf_text

local SID = "steer000-1111-2222-3333-444444444444"

---@param t agent_bridge.test.Harness
---@param client vim.lsp.Client
---@param target string           greet.py in the test's repository (README.md beside it)
return function(t, client, target)
  local check, wait = t.check, t.wait
  local ab = require("agent_bridge")
  local chat = require("agent_bridge.chat")
  local sessions = require("agent_bridge.sessions")
  local mentions = require("agent_bridge.mentions")

  vim.cmd.edit(vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  local root = vim.fs.dirname(target)
  local greet_uri = vim.uri_from_fname(target)
  local readme_uri = vim.uri_from_fname(vim.fs.joinpath(root, "README.md"))

  -- The bridge's side of this section: one agent's state, changed by setMode / setOption as the bridge would.
  local state = {
    agent = "scripted",
    modes = { currentModeId = "default", availableModes = {
      { id = "default", name = "Default", description = "Ask before every edit and command" },
      { id = "plan", name = "Plan", description = "Only plan, never edit" },
    } },
    configOptions = {
      { id = "effort", name = "Effort", category = "thought_level", type = "select", currentValue = "low",
        options = { { value = "low", name = "Low" }, { value = "high", name = "High" } } },
      { id = "model", name = "Model", category = "model", type = "select", currentValue = "fast",
        options = { { value = "fast", name = "Fast" },
          { group = "big", name = "Big models", options = { { value = "smart", name = "Smart model",
            description = "slower" } } } } },
    },
    commands = { { name = "web", description = "Search the web", input = { hint = "query" } },
      { name = "init", description = "Write AGENTS.md" } },
  }
  local answers, sent, restore = helper.fake_commands()
  answers["agentBridge.agentState"] = function(arg)
    if arg.sessionId ~= SID then
      return nil, "unknown session: " .. tostring(arg.sessionId)
    end
    return vim.deepcopy(state)
  end
  answers["agentBridge.setMode"] = function(arg)
    if arg.modeId == "nope" then
      return nil, "agentBridge.setMode: scripted offers no mode 'nope'"
    end
    state.modes.currentModeId = arg.modeId
    return vim.deepcopy(state)
  end
  answers["agentBridge.setOption"] = function(arg)
    for _, o in ipairs(state.configOptions) do
      if o.id == arg.optionId then
        o.currentValue = arg.value
      end
    end
    return vim.deepcopy(state)
  end
  answers["agentBridge.history"] = function()
    return {}
  end
  local turn = 0
  answers["agentBridge.prompt"] = function(arg)
    turn = turn + 1
    return { sessionId = arg.sessionId or SID, turnId = "steer-turn-" .. turn }
  end
  local function last_sent(command)
    for i = #sent, 1, -1 do
      if sent[i].command == command then
        return sent[i].arg
      end
    end
  end
  local function event(ev)
    client.handlers["agentBridge/event"](nil, vim.tbl_extend("force", { sessionId = SID, turnId = vim.NIL }, ev),
      { client_id = client.id, method = "agentBridge/event" })
  end

  -- 1. The agent publishes its commands (before any state was asked for): `/` completes them.
  event({ kind = "availableCommands", agent = "scripted", commands = state.commands })
  local s = sessions.get(SID)
  sessions.set_current(client.id, SID)
  local slash = vim.fn.getcompletion("AgentPrompt /", "cmdline")
  check("steer: / completes the published commands", vim.deep_equal(slash, { "/web", "/init" }), slash)
  local slash_w = vim.fn.getcompletion("AgentPrompt --agent=scripted /w", "cmdline")
  check("steer: / completes after flags, by prefix", vim.deep_equal(slash_w, { "/web" }), slash_w)
  local slash_late = vim.fn.getcompletion("AgentPrompt explain /w", "cmdline")
  check("steer: / completes only where the prompt starts", #slash_late == 0, slash_late)

  -- 2. The statusline learns the mode and model from the agent's state, and follows the events.
  event({ kind = "turnStarted", turnId = "steer-turn-0", agent = "scripted", prompt = "hello" })
  wait("agent state asked after the agent's first turn", function()
    return last_sent("agentBridge.agentState") ~= nil and s.agent_states.scripted.complete
  end)
  check("steer: agentState asked for the session and agent", vim.deep_equal(last_sent("agentBridge.agentState"),
    { sessionId = SID, agent = "scripted" }), last_sent("agentBridge.agentState"))
  check("steer: statusline shows mode and model", ab.statusline():find("scripted [default, fast] steer000", 1, true),
    ab.statusline())
  local st = ab.status()
  check("steer: status() has mode and model", st and st.mode == "default" and st.model == "fast", st)
  state.modes.currentModeId = "plan" -- the agent switched on its own (and the bridge knows)
  event({ kind = "modeChanged", agent = "scripted", modeId = "plan" })
  check("steer: modeChanged updates the statusline", ab.statusline():find("[plan, fast]", 1, true), ab.statusline())
  state.configOptions[2].currentValue = "smart"
  event({ kind = "configChanged", agent = "scripted", options = vim.deepcopy(state.configOptions) })
  check("steer: configChanged updates the statusline", ab.statusline():find("[plan, smart]", 1, true),
    ab.statusline())

  -- 3. :AgentMode: vim.ui.select over the modes, then agentBridge.setMode.
  local done
  t.answers.select = helper_choose("^  Default —")
  ab.mode({ on_done = function(x)
    done = x
  end })
  wait(":AgentMode set the mode", function()
    return done ~= nil
  end)
  local q = t.last_ui("select")
  check("steer: :AgentMode lists the modes, the current one marked", q and q.prompt == "Mode of scripted"
    and vim.deep_equal(q.items, { "  Default — Ask before every edit and command", "● Plan — Only plan, never edit" }),
    q)
  check("steer: setMode sends session, agent and mode", vim.deep_equal(last_sent("agentBridge.setMode"),
    { sessionId = SID, agent = "scripted", modeId = "default" }), last_sent("agentBridge.setMode"))
  check("steer: statusline shows the mode set", ab.statusline():find("[default, smart]", 1, true), ab.statusline())

  vim.cmd("AgentMode plan")
  wait(":AgentMode plan answered", function()
    return ab.statusline():find("[plan, smart]", 1, true) ~= nil
  end)
  check("steer: :AgentMode {id} sets it without asking", last_sent("agentBridge.setMode").modeId == "plan"
    and t.last_ui("select") == q, last_sent("agentBridge.setMode"))
  local mode_ids = vim.fn.getcompletion("AgentMode ", "cmdline")
  check("steer: mode ids complete", vim.deep_equal(mode_ids, { "default", "plan" }), mode_ids)

  -- 4. :AgentModel: the model option's values (groups flattened), then agentBridge.setOption.
  done = nil
  t.answers.select = helper_choose("^  Fast")
  ab.model({ on_done = function(x)
    done = x
  end })
  wait(":AgentModel set the model", function()
    return done ~= nil
  end)
  q = t.last_ui("select")
  check("steer: :AgentModel lists the model's values", q and q.prompt == "Model of scripted"
    and vim.deep_equal(q.items, { "  Fast (fast)", "● Smart model (smart)  [Big models]" }), q)
  check("steer: setOption sends the model option's id and value", vim.deep_equal(last_sent("agentBridge.setOption"),
    { sessionId = SID, agent = "scripted", optionId = "model", value = "fast" }), last_sent("agentBridge.setOption"))
  check("steer: statusline shows the model set", ab.statusline():find("[plan, fast]", 1, true), ab.statusline())
  local model_values = vim.fn.getcompletion("AgentModel s", "cmdline")
  check("steer: model values complete", vim.deep_equal(model_values, { "smart" }), model_values)
  vim.cmd("AgentModel smart")
  wait(":AgentModel smart answered", function()
    return ab.statusline():find("[plan, smart]", 1, true) ~= nil
  end)
  t.answers.select = nil

  -- 5. The bridge refuses: the user is told why, nothing changes.
  local before = #t.verdict.notifications
  vim.cmd("AgentMode nope")
  wait("refusal reported", function()
    return #t.verdict.notifications > before
  end)
  local refusal = table.remove(t.verdict.notifications) -- an error on purpose: not one the run may show
  check("steer: a refused mode is reported", refusal.level == vim.log.levels.ERROR
    and refusal.msg:find("mode not changed: agentBridge.setMode: scripted offers no mode 'nope'", 1, true), refusal)
  check("steer: statusline keeps the mode", ab.statusline():find("[plan, smart]", 1, true), ab.statusline())

  -- 6. An agent without modes or models says so.
  local saved = vim.deepcopy(state)
  state.modes, state.configOptions = vim.NIL, {}
  before = #t.verdict.notifications
  ab.mode()
  wait("no modes reported", function()
    return #t.verdict.notifications > before
  end)
  check("steer: an agent without modes says so", t.verdict.notifications[#t.verdict.notifications].msg
    :find("scripted offers no modes", 1, true), t.verdict.notifications[#t.verdict.notifications])
  before = #t.verdict.notifications
  ab.model()
  wait("no model reported", function()
    return #t.verdict.notifications > before
  end)
  check("steer: an agent without a model option says so", t.verdict.notifications[#t.verdict.notifications].msg
    :find("scripted offers no choice of model", 1, true), t.verdict.notifications[#t.verdict.notifications])
  check("steer: statusline without mode and model", ab.statusline():find("^scripted steer000"), ab.statusline())
  state = saved
  ab.mode({ value = "default" })
  wait("state back", function()
    return ab.statusline():find("[default, smart]", 1, true) ~= nil
  end)

  -- 7. `@` completes the workspace's files: :AgentPrompt, vim.ui.input's prompt.
  local files = vim.fn.getcompletion("AgentPrompt explain @gre", "cmdline")
  check("steer: @ completes files in :AgentPrompt", vim.deep_equal(files, { "@greet.py" }), files)
  files = vim.fn.getcompletion("AgentPrompt @READ", "cmdline")
  check("steer: @ completes by prefix, case-insensitively", vim.deep_equal(files, { "@README.md" }), files)
  check("steer: files listed from git", vim.tbl_contains(mentions.files(root), "greet.py"), mentions.files(root))
  local input_completion = vim.fn.getcompletion("explain @gre",
    "customlist,v:lua.require'agent_bridge.mentions'.complete_input")
  check("steer: @ completes in the vim.ui.input prompt", vim.deep_equal(input_completion, { "explain @greet.py" }),
    input_completion)
  local input_slash = vim.fn.getcompletion("/in", "customlist,v:lua.require'agent_bridge.mentions'.complete_input")
  check("steer: / completes in the vim.ui.input prompt", vim.deep_equal(input_slash, { "/init" }), input_slash)

  -- 8. Mentions become attachments; the text goes as typed; a file outside the workspace stays text.
  local outside = vim.fn.tempname()
  vim.fn.writefile({ "secret" }, outside)
  local queued
  ab.prompt({ text = "explain @greet.py and @nothere.py, then @README.md. Not @" .. outside .. " nor me@greet.py",
    on_queued = function(res)
      queued = res
    end })
  wait("mention prompt queued", function()
    return queued ~= nil
  end)
  local arg = last_sent("agentBridge.prompt")
  check("steer: @mentions sent as attachments", vim.deep_equal(arg.attachments, { { uri = greet_uri },
    { uri = readme_uri } }), arg)
  check("steer: the prompt's text goes as typed", arg.text:find("explain @greet.py and", 1, true) == 1, arg)
  event({ kind = "turnStarted", turnId = queued.turnId, agent = "scripted", prompt = arg.text })
  local c = chat.chats[SID]
  wait("mention turn drawn", function()
    return c and helper_text(c.buf):find("(with greet.py; README.md)", 1, true) ~= nil
  end)

  -- A range: the selection goes as {uri, range} first.
  vim.api.nvim_set_current_buf(buf)
  local range_turn = "steer-turn-" .. (turn + 1)
  vim.cmd("1,2AgentPrompt look at this and @README.md")
  wait("range prompt queued", function()
    return s.contexts and s.contexts[range_turn] ~= nil
  end)
  arg = last_sent("agentBridge.prompt")
  check("steer: a range is an attachment with its lines", vim.deep_equal(arg.attachments, {
    { uri = greet_uri, range = { start = { line = 0, character = 0 }, ["end"] = { line = 2, character = 0 } } },
    { uri = readme_uri } }) and arg.uri == nil and arg.range == nil, arg)
  event({ kind = "turnStarted", turnId = range_turn, agent = "scripted", prompt = arg.text })
  wait("range turn drawn", function()
    return helper_text(c.buf):find("(with greet.py, lines 1-2; README.md)", 1, true) ~= nil
  end)

  -- 9. The chat's prompt buffer: <C-x><C-o> completes, :w sends (several lines), the buffer empties.
  local win = ab.compose(SID, { insert = false })
  local pbuf = vim.api.nvim_get_current_buf()
  check("steer: the prompt buffer opens under the chat", vim.b[pbuf].agent_bridge_session == SID
    and vim.bo[pbuf].omnifunc:find("agent_bridge.mentions", 1, true) and chat.window(SID) ~= nil, vim.bo[pbuf])
  vim.api.nvim_feedkeys(vim.keycode("i/we<C-x><C-o><Esc>"), "xt", false)
  local line1 = vim.api.nvim_buf_get_lines(pbuf, 0, 1, false)[1]
  check("steer: <C-x><C-o> completes a command in the prompt buffer", line1 == "/web", line1)
  vim.api.nvim_feedkeys(vim.keycode("o@gre<C-x><C-o><Esc>"), "xt", false)
  local line2 = vim.api.nvim_buf_get_lines(pbuf, 1, 2, false)[1]
  check("steer: <C-x><C-o> completes a file in the prompt buffer", line2 == "@greet.py", line2)
  vim.api.nvim_feedkeys(vim.keycode("oand /web again<Esc>"), "xt", false)
  vim.api.nvim_win_set_cursor(0, { 3, 8 })
  check("steer: / completes nothing past the start", mentions.omnifunc(1, "") == -3)
  local n_sent = #sent
  vim.cmd("write")
  wait("prompt buffer sent", function()
    return #sent > n_sent and last_sent("agentBridge.prompt").text == "/web\n@greet.py\nand /web again"
  end)
  arg = last_sent("agentBridge.prompt")
  check("steer: the prompt buffer prompts its session with its mentions", arg.sessionId == SID
    and vim.deep_equal(arg.attachments, { { uri = greet_uri } }), arg)
  wait("prompt buffer emptied", function()
    return helper_text(pbuf) == "\n" and not vim.bo[pbuf].modified
  end)
  pcall(vim.api.nvim_win_close, win, true)

  restore()
  vim.fn.delete(outside)
  chat.forget(SID)
  sessions.forget(SID)
  vim.api.nvim_set_current_buf(buf)
  vim.cmd("only")
end
