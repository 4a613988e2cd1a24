-- The shared harness of the plugin's Lua test drivers (each run inside real headless Neovim by a test under
-- tests/real/): named checks and steps recorded in a JSON verdict that the pytest side asserts on, waits,
-- scripted answers to vim.ui.input, vim.ui.select and vim.fn.confirm (every question recorded), and the
-- notifications and `agentBridge/event`s the plugin saw.
--   local t = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "helper.lua"))
--     .start(os.getenv("AB_TEST_VERDICT"))
--   t.finish(main)   -- runs main, writes the verdict, quits

local M = {}

M.TIMEOUT = 20000 -- ms for each wait; the pytest side kills the whole run after a while

---@class (exact) agent_bridge.test.Verdict
---@field ok boolean
---@field checks { name: string, ok: boolean, detail: string|nil }[]
---@field steps string[]
---@field ui table[]              every question asked: { kind, prompt, items? }
---@field notifications { msg: string, level: integer|nil }[]
---@field [string] any            what a driver adds for the pytest side

---@class (exact) agent_bridge.test.Answers
---@field input? string                                               vim.ui.input's answer
---@field select? fun(items: any[], labels: string[], opts: table): any  picks vim.ui.select's answer
---@field confirm? integer                                            vim.fn.confirm's answer (default: cancel)

---@class (exact) agent_bridge.test.Harness
---@field verdict agent_bridge.test.Verdict
---@field answers agent_bridge.test.Answers
---@field events table[]          every agentBridge/event (User AgentBridgeEvent), in order
---@field check fun(name: string, ok: any, detail?: any)
---@field step fun(msg: string)
---@field wait fun(what: string, cond: fun(): any, timeout?: integer)
---@field last_ui fun(kind: string): table|nil
---@field turn_end fun(turn_id: string): table|nil
---@field finish fun(main: fun())

--- Answer some bridge commands in the test, by command name (`answers[command] = function(arg) return res, err
--- end`), as if over the wire (exec answers later; exec_sync at once); every other command goes to the real
--- bridge. `sent` lists what the answered commands were sent ({command, a copy of arg}); `restore()` puts the
--- real client back.
---@return table<string, fun(arg: any): any, any> answers
---@return { command: string, arg: any }[] sent
---@return fun() restore
function M.fake_commands()
  local client_mod = require("agent_bridge.client")
  local answers, sent = {}, {}
  local real_exec, real_exec_sync = client_mod.exec, client_mod.exec_sync
  client_mod.exec = function(c, command, arg, cb)
    local answer = answers[command]
    if not answer then
      return real_exec(c, command, arg, cb)
    end
    table.insert(sent, { command = command, arg = vim.deepcopy(arg) })
    vim.schedule(function() -- an answer comes later, as over the wire
      local res, err = answer(arg)
      if cb then
        cb(err, res)
      end
    end)
  end
  client_mod.exec_sync = function(c, command, arg, timeout)
    local answer = answers[command]
    if not answer then
      return real_exec_sync(c, command, arg, timeout)
    end
    table.insert(sent, { command = command, arg = vim.deepcopy(arg) })
    return answer(arg)
  end
  return answers, sent, function()
    client_mod.exec, client_mod.exec_sync = real_exec, real_exec_sync
  end
end

--- A select answer: the item whose label matches `pattern`.
function M.choose_label(pattern)
  return function(items, labels)
    for i, label in ipairs(labels) do
      if label:find(pattern) then
        return items[i]
      end
    end
    return nil
  end
end

function M.buf_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n"
end

---@param verdict_path string
---@return agent_bridge.test.Harness
function M.start(verdict_path)
  local verdict = { ok = false, checks = {}, steps = {}, ui = {}, notifications = {} }
  local t = { verdict = verdict, answers = {}, events = {} }

  function t.step(msg)
    table.insert(verdict.steps, msg)
  end

  -- A named check: `ok` truthy passes; `detail` explains what was seen.
  function t.check(name, ok, detail)
    table.insert(verdict.checks, { name = name, ok = ok and true or false,
      detail = detail ~= nil and vim.inspect(detail) or nil })
  end

  function t.wait(what, cond, timeout)
    if not vim.wait(timeout or M.TIMEOUT, cond, 20) then
      error("timed out waiting for " .. what)
    end
    t.step(what)
  end

  function t.last_ui(kind)
    for i = #verdict.ui, 1, -1 do
      if verdict.ui[i].kind == kind then
        return verdict.ui[i]
      end
    end
  end

  function t.turn_end(turn_id)
    for _, ev in ipairs(t.events) do
      if ev.kind == "turnEnded" and ev.turnId == turn_id then
        return ev
      end
    end
  end

  vim.ui.input = function(opts, on_confirm)
    table.insert(verdict.ui, { kind = "input", prompt = opts and opts.prompt })
    on_confirm(t.answers.input)
  end
  vim.ui.select = function(items, opts, on_choice)
    opts = opts or {}
    local labels = {}
    for i, item in ipairs(items) do
      labels[i] = opts.format_item and opts.format_item(item) or tostring(item)
    end
    table.insert(verdict.ui, { kind = "select", prompt = opts.prompt, items = labels })
    local choice = t.answers.select and t.answers.select(items, labels, opts) or nil
    local idx
    for i, item in ipairs(items) do
      if item == choice then
        idx = i
      end
    end
    on_choice(choice, idx)
  end
  vim.fn.confirm = function(msg, choices)
    table.insert(verdict.ui, { kind = "confirm", prompt = msg, items = choices })
    return t.answers.confirm or 0
  end
  local orig_notify = vim.notify
  vim.notify = function(msg, level, opts)
    table.insert(verdict.notifications, { msg = msg, level = level })
    return orig_notify(msg, level, opts)
  end
  vim.api.nvim_create_autocmd("User", {
    pattern = "AgentBridgeEvent",
    callback = function(args)
      table.insert(t.events, args.data)
    end,
  })

  function t.finish(main)
    local ok, err = xpcall(main, debug.traceback)
    if not ok then
      verdict.error = tostring(err)
    end
    verdict.nvim = tostring(vim.version())
    local f = assert(io.open(verdict_path, "w"))
    f:write(vim.json.encode(verdict))
    f:close()
    vim.cmd("qa!")
  end

  return t
end

return M
