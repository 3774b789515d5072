-- Drives one :Prophecy session in headless Neovim and writes what was drawn to a JSON file.
-- Loaded by tests/e2e/test_neovim.py with these globals set in the init file:
--   vim.g.cwm_test_output (JSON path), vim.g.cwm_test_steps (list of steps, see below).
local cwm = require('cwm_lsp')
local compat = require('cwm_lsp.compat')

local report = { steps = {}, selections = {}, messages = {} }

-- vim.ui.select would wait for a key press: record the choices and take the one the step names.
local select_index = 1
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for _, item in ipairs(items) do
    table.insert(labels, opts.format_item and opts.format_item(item) or tostring(item))
  end
  table.insert(report.selections, { prompt = opts.prompt, items = labels })
  on_choice(items[select_index], select_index)
end

local original_notify = vim.notify
vim.notify = function(message, level, ...)
  table.insert(report.messages, { message = tostring(message), level = level })
  return original_notify(message, level, ...)
end

local function wait_for_client(bufnr)
  local ok = vim.wait(60000, function()
    if #report.messages > 0 and report.messages[#report.messages].message:find("quit with exit code", 1, true) then
      error(report.messages[#report.messages].message)
    end
    local client = compat.clients('cwm_lsp', bufnr)[1]
    return client ~= nil and client.initialized ~= false and client.server_capabilities ~= nil
  end, 50)
  assert(ok, 'the cwm_lsp client did not attach within 60 s')
end

-- Hints stream in: wait until some are drawn and nothing changed for `quiet_ms`.
local function wait_for_stable_hints(bufnr, must_contain, timeout_ms)
  local last, stable_since = nil, nil
  local ok = vim.wait(timeout_ms, function()
    local now = vim.fn.json_encode(cwm.drawn_hints(bufnr))
    if now ~= last then
      last, stable_since = now, vim.loop.now()
      return false
    end
    return now:find(must_contain, 1, true) ~= nil and vim.loop.now() - stable_since >= 700
  end, 50)
  return ok
end

local function find_line(bufnr, text)
  for index, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if line:find(text, 1, true) then
      return index
    end
  end
  error('no line contains ' .. text)
end

local function run()
  local bufnr = vim.api.nvim_get_current_buf()
  -- cwm_test_before_attach: give the first step's command at once, while the server starts.
  if not vim.g.cwm_test_before_attach then
    wait_for_client(bufnr)
  end
  for _, step in ipairs(vim.g.cwm_test_steps) do
    local entry = { name = step.name }
    if step.action == 'predict' then
      select_index = step.select or 1
      vim.api.nvim_win_set_cursor(0, { find_line(bufnr, step.cursor_at), 4 })
      vim.cmd('Prophecy')
      entry.stable = wait_for_stable_hints(bufnr, step.wait_for, 90000)
    elseif step.action == 'iteration' then
      vim.api.nvim_win_set_cursor(0, { find_line(bufnr, step.cursor_at), 4 })
      local before = vim.fn.json_encode(cwm.drawn_hints(bufnr))
      vim.cmd('ProphecyIteration ' .. (step.pass or ''))
      vim.wait(10000, function()
        return vim.fn.json_encode(cwm.drawn_hints(bufnr)) ~= before
      end, 20)
      entry.stable = wait_for_stable_hints(bufnr, step.wait_for, 10000)
    elseif step.action == 'edit' then
      local line = find_line(bufnr, step.cursor_at)
      vim.api.nvim_buf_set_lines(bufnr, line, line, false, { step.insert })
      vim.wait(1000, function()
        return #cwm.drawn_hints(bufnr) == 0
      end, 20)
    elseif step.action == 'ask' then
      select_index = step.select or 1
      vim.api.nvim_win_set_cursor(0, { find_line(bufnr, step.cursor_at), 4 })
      vim.cmd('Prophecy')
      entry.stable = vim.wait(20000, function()
        return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n'):find(step.wait_for, 1, true) ~= nil
      end, 50)
    elseif step.action == 'runs' then
      vim.api.nvim_win_set_cursor(0, { find_line(bufnr, step.cursor_at), 4 })
      cwm.last_runs_table = nil
      vim.cmd('ProphecyRuns')
      vim.wait(10000, function()
        return cwm.last_runs_table ~= nil
      end, 20)
      entry.runs_table = cwm.last_runs_table or vim.NIL
      if vim.api.nvim_get_current_buf() ~= bufnr then
        vim.cmd('close')
      end
    elseif step.action == 'help' then
      vim.cmd('help ' .. step.topic)
      entry.help_file = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':t')
      entry.help_line = vim.api.nvim_get_current_line()
      vim.cmd('close')
    elseif step.action == 'hover' then
      vim.api.nvim_win_set_cursor(0, { find_line(bufnr, step.cursor_at), 8 })
      local client = compat.clients('cwm_lsp', bufnr)[1]
      local params = vim.lsp.util.make_position_params()
      local answer = client.request_sync('textDocument/hover', params, 10000, bufnr)
      entry.hover = answer and answer.result and answer.result.contents or vim.NIL
    elseif step.action == 'clear' then
      vim.cmd('ProphecyClear')
      vim.wait(3000, function()
        return #cwm.drawn_hints(bufnr) == 0
      end, 20)
      vim.wait(500)
    end
    entry.hints = cwm.drawn_hints(bufnr)
    entry.status = cwm.status(bufnr)
    entry.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
    table.insert(report.steps, entry)
  end
end

local ok, err = xpcall(run, debug.traceback)
report.progress = cwm.progress_events
report.ok = ok
report.error = ok and vim.NIL or tostring(err)
report.nvim = vim.version()
local file = assert(io.open(vim.g.cwm_test_output, 'w'))
file:write(vim.fn.json_encode(report))
file:close()
vim.cmd('qa!')
