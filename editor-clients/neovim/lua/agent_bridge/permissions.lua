-- Permission questions (window/showMessageRequest from the bridge: "Allow", "Always allow", "Reject"), asked
-- through vim.ui.select with the whole question in the prompt. Dismissing the question rejects.
local M = {}

local function session_hint(client_id)
  local s = require("agent_bridge.sessions").current(client_id)
  return s and (" [session " .. s.id:sub(1, 8) .. "]") or ""
end

local function title_of(action)
  return (action.title or "?"):gsub("\r?\n", " ")
end

--- Handler for window/showMessageRequest. Runs in the coroutine Neovim gives server requests (0.10+), so the
--- answer can wait for vim.ui.select without blocking the editor.
function M.ask(_, params, ctx)
  params = params or {}
  local actions = params.actions or {}
  local prompt = "Agent permission" .. session_hint(ctx and ctx.client_id) .. ": " .. (params.message or "?")
  local co, is_main = coroutine.running()
  if co and not is_main then
    vim.ui.select(actions, {
      prompt = prompt,
      kind = "agent_bridge.permission",
      format_item = title_of,
    }, function(choice)
      vim.schedule(function()
        coroutine.resume(co, choice or vim.NIL)
      end)
    end)
    return coroutine.yield()
  end
  -- No coroutine (an older Neovim): ask synchronously.
  local lines = { prompt }
  for i, action in ipairs(actions) do
    table.insert(lines, string.format("%d. %s", i, title_of(action)))
  end
  local choice = vim.fn.inputlist(lines)
  return actions[choice] or vim.NIL
end

return M
