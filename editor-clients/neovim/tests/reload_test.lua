-- Driver of tests/real/test_neovim_reload.py: a session outlives Neovim. Run twice on the same state dir (the
-- README's minimal configuration, the real bridge and its scripted agent):
--   AB_TEST_PHASE=first   prompts two turns that each rewrite greet.py, then quits;
--   AB_TEST_PHASE=second  a new Neovim: :AgentChat draws both turns from the session's history; then
--                         :AgentRewind on the second turn, and the pending change is the
--                         first turn's again; then the user writes over the agent's lines and a third turn
--                         catches up with it: the chat says so and the hunk is drawn as a conflict.
-- Records checks in the JSON verdict named by AB_TEST_VERDICT (see helper.lua).
--
-- Environment: AB_TEST_VERDICT, AB_TEST_FILE (greet.py in a git repository), AB_TEST_PHASE,
-- AB_TEST_FIRST / AB_TEST_SECOND (the agent's text of greet.py after each turn).

local helper = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "helper.lua"))
local t = helper.start(assert(os.getenv("AB_TEST_VERDICT"), "AB_TEST_VERDICT not set"))
local target = assert(os.getenv("AB_TEST_FILE"), "AB_TEST_FILE not set")
local phase = assert(os.getenv("AB_TEST_PHASE"), "AB_TEST_PHASE not set")
local FIRST = assert(os.getenv("AB_TEST_FIRST"))
local SECOND = assert(os.getenv("AB_TEST_SECOND"))
local check, wait, verdict = t.check, t.wait, t.verdict
local USER_DOC = '    """Greets NAME."""'

local function write_prompt(text, say)
  return "@write greet.py\n" .. text .. "@end\n@say " .. say
end

local function attach()
  vim.cmd("filetype on")
  vim.cmd.edit(vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  local client
  wait("client attached", function()
    client = require("agent_bridge.client").clients({ bufnr = buf })[1]
    return client ~= nil and client.initialized == true
  end)
  return client, buf
end

local function agent_text(client, session_id, uri)
  local res = require("agent_bridge.client").exec_sync(client, "agentBridge.diff", { sessionId = session_id,
    uri = uri }, 5000)
  return res and res.agentText
end

local function run_turn(text)
  local queued
  require("agent_bridge").prompt({ text = text, on_queued = function(res)
    queued = res
  end })
  wait("turn queued", function()
    return queued ~= nil
  end)
  wait("turn ended", function()
    return t.turn_end(queued.turnId) ~= nil
  end)
  return queued, t.turn_end(queued.turnId)
end

local function first(client, buf)
  local one, one_end = run_turn(write_prompt(FIRST, "first turn done"))
  local two, two_end = run_turn(write_prompt(SECOND, "second turn done"))
  check("both turns completed", one_end.status == "completed" and two_end.status == "completed",
    { one_end, two_end })
  check("one session", one.sessionId == two.sessionId, { one, two })
  verdict.session, verdict.turns = one.sessionId, { one.turnId, two.turnId }
  check("the pending change is the second turn's",
    agent_text(client, one.sessionId, vim.uri_from_bufnr(buf)) == SECOND)
end

local function second(client, buf)
  local sessions = require("agent_bridge.sessions")
  local chat = require("agent_bridge.chat")
  local s
  wait("the earlier session restored", function()
    s = sessions.current(client.id)
    return s ~= nil
  end)
  verdict.session = s.id
  vim.cmd("AgentChat")
  local c = chat.chats[s.id]
  wait("chat drawn from the history", function()
    return c ~= nil and c.loading == nil and helper.buf_text(c.buf):find("\nsecond turn done\n", 1, true) ~= nil
  end)
  local text = helper.buf_text(c.buf)
  verdict.chat = text
  check("the chat shows both prompts", text:find("> @write greet.py", 1, true)
    and select(2, text:gsub("## You", "")) == 2, text)
  -- The answers' lines (the prompts say the same after "> @say").
  check("the chat shows both answers", text:find("\nfirst turn done\n", 1, true)
    and text:find("\nsecond turn done\n", 1, true), text)
  check("the chat shows each turn's tool call", select(2, text:gsub("✓ [^\n]*greet%.py[^\n]*%(edit, completed%)",
    "")) == 2, text)
  check("the chat shows how both turns ended", select(2, text:gsub("── completed", "")) == 2, text)

  local entries = require("agent_bridge.client").exec_sync(client, "agentBridge.history", { sessionId = s.id })
  local turn2 = entries and entries[2] and entries[2].turnId
  verdict.turns = { entries[1].turnId, turn2 }
  t.answers.confirm = 1
  vim.cmd("AgentRewind " .. turn2)
  local rewound, failed
  wait("rewound event", function()
    rewound = vim.iter(t.events):find(function(ev)
      return ev.kind == "rewound"
    end)
    failed = vim.iter(verdict.notifications):find(function(n)
      return n.msg:find("rewind failed", 1, true) ~= nil
    end)
    return rewound ~= nil or failed ~= nil
  end)
  assert(not failed, failed and failed.msg)
  local question = t.last_ui("confirm")
  check("rewind asked to confirm one turn", question and question.prompt:find("Rewind 1 turn:", 1, true), question)
  check("rewound event names the second turn", rewound.turnId == turn2
    and vim.deep_equal(rewound.turnIds, { turn2 }), rewound)
  wait("rewind reported", function()
    return vim.iter(verdict.notifications):any(function(n)
      return n.msg:find("rewound 1 turn", 1, true) ~= nil
    end)
  end)
  text = helper.buf_text(c.buf)
  verdict.chat_after = text
  check("the chat marks the second turn rewound", select(2, text:gsub("rewound: its changes were undone", "")) == 1
    and text:find("⟲ Rewound 1 turn", 1, true), text)
  check("the pending change is the first turn's again", agent_text(client, s.id, vim.uri_from_bufnr(buf)) == FIRST,
    agent_text(client, s.id, vim.uri_from_bufnr(buf)))

  -- The user writes a docstring of their own where the agent's goes (unsaved): the next turn catches up with
  -- it, and the agent's hunk becomes a conflict.
  vim.api.nvim_buf_set_lines(buf, 1, 1, false, { USER_DOC })
  local _, third_end = run_turn("@say third turn done")
  check("third turn completed", third_end.status == "completed", third_end)
  local synced = vim.iter(t.events):find(function(ev)
    return ev.kind == "synced"
  end)
  check("synced event after the user's edit", synced and #synced.files == 1 and synced.conflicts == 1, synced)
  text = helper.buf_text(c.buf)
  verdict.chat_synced = text
  check("the chat says it caught up", text:find("↻ caught up with your changes to 1 file · 1 conflict", 1, true), text)
  local review = require("agent_bridge.review")
  local marks
  wait("conflict hunk drawn", function()
    marks = vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, { details = true })
    return #marks > 0 and marks[1][4].sign_hl_group == "AgentBridgeHunkConflictSign"
  end)
  local label = marks[1][4].virt_text and marks[1][4].virt_text[1][1] or ""
  check("the conflict hunk is labelled", label == "  conflict: scripted: you and the agent both changed these lines",
    marks)
  verdict.conflict_label = label
end

t.finish(function()
  check("setup ran", require("agent_bridge").did_setup)
  local client, buf = attach()
  if phase == "first" then
    first(client, buf)
  else
    second(client, buf)
  end
  verdict.ok = true
end)
