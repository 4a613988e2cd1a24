-- Living sessions in the plugin, fed payloads in the wire shape of docs/protocol.md through the paths the LSP
-- handlers use (the client's `agentBridge/event` handler, Neovim's publishDiagnostics handler, and the
-- plugin's executeCommand helper answering for the bridge): the chat drawn again from agentBridge.history
-- (tool calls, plan, rewound marks; an entry without the newer fields), events that arrive while it loads,
-- the `rewound` and `synced` events, :AgentRewind (picker, confirm, the command sent, the report), and conflict
-- hunks (sign, label, quickfix). Run by plugin_test.lua with its harness on a running bridge.

local helper = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "helper.lua"))

local SID = "fake0000-1111-2222-3333-444444444444"

---@param t agent_bridge.test.Harness
---@param client vim.lsp.Client
return function(t, client)
  local check, wait = t.check, t.wait
  local chat = require("agent_bridge.chat")
  local sessions = require("agent_bridge.sessions")
  local review = require("agent_bridge.review")

  -- The bridge's answers for this section (by command); every other command goes to the real bridge.
  local answers, sent, restore = helper.fake_commands()
  local function event(ev)
    client.handlers["agentBridge/event"](nil, vim.tbl_extend("force", { sessionId = SID }, ev),
      { client_id = client.id, method = "agentBridge/event" })
  end

  local iso = os.date("!%Y-%m-%dT%H:%M:%S.000000+00:00") --[[@as string]]
  local history = {
    -- As a bridge without the newer fields sends it.
    { turnId = "turn-0", agent = "scripted", prompt = "an old prompt", status = "completed", answer = "old answer",
      queuedAt = iso, startedAt = iso, endedAt = iso },
    { turnId = "turn-1", agent = "scripted", prompt = "add a docstring\nto greet", status = "completed",
      answer = "added it", queuedAt = iso, startedAt = iso, endedAt = iso, rewound = false,
      toolCalls = { { toolCallId = "tc-1", title = "Write greet.py", toolKind = "edit", status = "completed",
        paths = { "/x/greet.py" }, command = "never shown", output = "never shown either" } },
      plan = { { content = "Read greet.py", status = "completed", priority = "medium" },
        { content = "Add a docstring", status = "in_progress", priority = "high" } },
      usage = { inputTokens = 10, outputTokens = 5 }, permissions = {} },
    { turnId = "turn-2", agent = "scripted", prompt = "rename it", status = "failed", error = "it broke",
      answer = "", queuedAt = iso, startedAt = iso, endedAt = iso, rewound = true, toolCalls = {}, plan = nil,
      usage = nil, permissions = {} },
    { turnId = "turn-3", agent = "scripted", prompt = "still going", status = "running", answer = "",
      queuedAt = iso, startedAt = iso, rewound = false, toolCalls = {}, permissions = {} },
  }
  answers["agentBridge.history"] = function(arg)
    if arg.sessionId ~= SID then
      return nil, "unknown session"
    end
    return vim.deepcopy(history)
  end

  -- 1. A chat created for a session with a past draws it from the history; events arriving meanwhile wait.
  local s = sessions.ensure(SID, client.id)
  chat.open(s)
  local c = chat.chats[SID]
  check("history: the chat waits for the history", c and c.loading ~= nil)
  event({ turnId = "turn-1", kind = "text", agent = "scripted", text = "added it" }) -- the history holds it
  event({ turnId = "turn-3", kind = "toolCall", toolCallId = "tc-3", title = "Read greet.py", toolKind = "read",
    status = "in_progress", paths = {} })
  event({ turnId = "turn-3", kind = "text", agent = "scripted", text = "reading now" })
  wait("history drawn", function()
    return c.loading == nil
  end)
  local text = helper.buf_text(c.buf)
  t.verdict.history_chat = text
  check("history: prompts and answers of every turn", text:find("> an old prompt\n", 1, true)
    and text:find("old answer", 1, true) and text:find("> add a docstring\n> to greet\n", 1, true)
    and text:find("added it", 1, true) and text:find("> still going\n", 1, true), text)
  check("history: an answer the history holds is not drawn twice", select(2, text:gsub("added it", "")) == 1, text)
  check("history: each tool call on one line", text:find("✓ Write greet.py  (edit, completed)\n", 1, true)
    and not text:find("never shown", 1, true), text)
  check("history: the plan", text:find("- [x] Read greet.py\n- [-] Add a docstring", 1, true), text)
  check("history: how turns ended", text:find("── completed ──", 1, true)
    and text:find("✗ it broke", 1, true), text)
  check("history: a rewound turn is marked", text:find("── failed · rewound: its changes were undone ──", 1, true)
    and not text:find("completed · rewound", 1, true), text)
  check("history: a running turn goes on", text:find("◐ Read greet.py  (read, in_progress)", 1, true)
    and text:find("reading now", 1, true) and not text:find("── running", 1, true), text)
  event({ turnId = "turn-3", kind = "turnEnded", agent = "scripted", status = "completed" })
  text = helper.buf_text(c.buf)
  check("history: the running turn's end is drawn live", text:sub(-#"── completed ──\n") == "── completed ──\n", text)

  -- 2. The rewound event (from any window) marks the turns; the synced event says what the worktree took in.
  event({ turnId = "turn-1", kind = "rewound", agent = "scripted", turnIds = { "turn-1", "turn-3" },
    files = { vim.uri_from_fname("/x/greet.py") } })
  text = helper.buf_text(c.buf)
  check("rewound event marks the turns", select(2, text:gsub("── completed · rewound: its changes were undone ──",
    "")) == 2, text)
  check("rewound event says what it did",
    text:find('⟲ Rewound 2 turns from "add a docstring": the agent\'s changes to 1 file undone', 1, true), text)
  event({ turnId = "turn-4", kind = "synced", agent = "scripted",
    files = { vim.uri_from_fname("/x/a.py"), vim.uri_from_fname("/x/b.py") }, conflicts = 1 })
  text = helper.buf_text(c.buf)
  check("synced event shown", text:find("↻ caught up with your changes to 2 files · 1 conflict with the agent's "
    .. "changes (:AgentPending)", 1, true), text)

  -- 3. Switching to the session draws its chat again from the (now changed) history.
  history[2].rewound, history[4].status = true, "completed"
  chat.open(s, { redraw = true })
  wait("redrawn on switch", function()
    return c.loading == nil
  end)
  text = helper.buf_text(c.buf)
  check("switching redraws from the history", not text:find("Rewound 2 turns", 1, true)
    and text:find("── completed · rewound: its changes were undone ──", 1, true)
    and select(2, text:gsub("## You", "")) == 4, text)

  -- 4. :AgentRewind: the picker lists turns not rewound (newest first), confirm names how many turns go.
  history[2].rewound, history[3].rewound = false, false
  answers["agentBridge.rewind"] = function(arg)
    return { turnsUndone = 3, files = { vim.uri_from_fname(vim.fn.getcwd() .. "/greet.py") } }, nil
  end
  sessions.set_current(client.id, SID)
  t.answers.select = helper.choose_label("add a docstring")
  t.answers.confirm = 2 -- cancel
  vim.cmd("AgentRewind")
  wait("rewind cancelled", function()
    local q = t.last_ui("confirm")
    return q ~= nil
  end)
  local picker = t.last_ui("select")
  check("rewind picker lists the turns, newest first", picker and picker.prompt:find("Rewind", 1, true)
    and #picker.items == 4 and picker.items[1]:find("scripted  still going", 1, true)
    and picker.items[3]:find("%d%d:%d%d  scripted  add a docstring$"), picker)
  local question = t.last_ui("confirm")
  check("rewind confirm names how many turns go", question.prompt:find('Rewind 3 turns: undo the agent\'s changes '
    .. 'of "add a docstring" and the 2 after it?', 1, true), question)
  check("a cancelled rewind sends nothing", not vim.iter(sent):any(function(x)
    return x.command == "agentBridge.rewind"
  end), sent)
  t.answers.confirm = 1
  local result
  require("agent_bridge").rewind({ turn = "turn-1", on_done = function(res)
    result = res
  end })
  wait("rewound through the API", function()
    return result ~= nil
  end)
  local call = vim.iter(sent):find(function(x)
    return x.command == "agentBridge.rewind"
  end)
  check("rewind sends the session and turn", call and call.arg.sessionId == SID and call.arg.turnId == "turn-1",
    call)
  check("rewind reports what it undid", vim.iter(t.verdict.notifications):any(function(n)
    return n.msg:find("rewound 3 turns; back as before: greet.py", 1, true) ~= nil
  end), t.verdict.notifications)
  history[3].rewound = true
  local completion = vim.fn.getcompletion("AgentRewind turn-", "cmdline")
  check("rewind completes turn ids", vim.deep_equal(completion, { "turn-0", "turn-1", "turn-3" }), completion)
  t.answers.select, t.answers.confirm = nil, nil

  -- 5. Conflict hunks: a warning sign and label apart from ordinary hunks, and the quickfix list says so.
  local path = vim.fn.tempname() .. ".py"
  vim.fn.writefile({ "a = 1", "b = 2", "c = 3", "d = 4" }, path)
  vim.cmd.edit(vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  local function diag(line, hunk, severity, message)
    return { range = { start = { line = line, character = 0 }, ["end"] = { line = line + 1, character = 0 } },
      severity = severity, source = "agent-bridge", code = hunk, message = message,
      data = { sessionId = SID, hunkId = hunk } }
  end
  vim.lsp.handlers["textDocument/publishDiagnostics"](nil, { uri = vim.uri_from_bufnr(buf), diagnostics = {
    diag(0, "h-plain", vim.lsp.protocol.DiagnosticSeverity.Hint,
      "Pending agent change from scripted: change 1 line. Use a code action to apply or reject it."),
    diag(2, "h-conflict", vim.lsp.protocol.DiagnosticSeverity.Warning,
      "Pending agent change from scripted collides with your edit: you changed these lines too; it is kept."),
  } }, { client_id = client.id, method = "textDocument/publishDiagnostics" })
  local marks
  wait("conflict signs", function()
    marks = vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, { details = true })
    return #marks == 2
  end)
  local hunks = review.hunks(buf)
  check("conflict hunk recognized", #hunks == 2 and not hunks[1].conflict and hunks[2].conflict, hunks)
  check("conflict hunk has its own sign and colours", marks[2][4].sign_hl_group == "AgentBridgeHunkConflictSign"
    and vim.trim(marks[2][4].sign_text) == "┇" and marks[1][4].sign_hl_group == "AgentBridgeHunkSign", marks)
  check("conflict hunk labelled as a conflict", marks[2][4].virt_text[1][1] == "  conflict: scripted: you changed these lines too"
    and marks[2][4].virt_text[1][2] == "AgentBridgeHunkConflictText"
    and not marks[1][4].virt_text[1][1]:find("conflict", 1, true), marks)
  check("conflict colours link to DiagnosticWarn",
    vim.api.nvim_get_hl(0, { name = "AgentBridgeHunkConflictSign" }).link == "DiagnosticWarn")
  answers["agentBridge.pending"] = function()
    return { { sessionId = SID, uri = vim.uri_from_bufnr(buf), change = "modify", hunks = {
      { hunkId = "h-plain", agent = "scripted", oldText = "a = 1\n", newText = "a = 10\n", conflict = false,
        range = { start = { line = 0, character = 0 }, ["end"] = { line = 1, character = 0 } } },
      { hunkId = "h-conflict", agent = "scripted", oldText = "c = 30\n", newText = "c = 300\n", conflict = true,
        conflictReason = "you changed these lines too (apply it by itself to take it)",
        range = { start = { line = 2, character = 0 }, ["end"] = { line = 3, character = 0 } } },
    } } }
  end
  local items
  review.pending({ open = false, on_done = function(list)
    items = list
  end })
  wait("pending listed", function()
    return items ~= nil
  end)
  local qf = vim.tbl_map(function(i)
    return { text = i.text, type = i.type }
  end, items)
  check("the pending list names conflicts", #qf == 2 and qf[1].text == "[scripted] + a = 10" and qf[1].type == "I"
    and qf[2].text == "[scripted] conflict (you changed these lines too): + c = 300" and qf[2].type == "W", qf)

  restore()
  vim.diagnostic.reset(nil, buf)
  vim.cmd("bwipeout!")
  chat.forget(SID)
  sessions.forget(SID)
end
