-- Neovim client for the cwm-lsp language server ("Prophecy": see what a Python function will do
-- before it runs). require('cwm_lsp').setup({ cmd = ..., settings = { cwm = ... } })
local compat = require('cwm_lsp.compat')
local hints = require('cwm_lsp.hints')

local M = {}

M.name = 'cwm_lsp'
M.predict_prefix = 'Prophecy: predict'
M.verify_prefix = 'Prophecy: verify'

local defaults = {
  cmd = { 'python3', '-m', 'cwm_lsp', 'serve' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', '.git' },
  -- Sent as the `cwm` section of workspace/configuration; keys as in the design's settings.
  settings = { cwm = {} },
  -- nil: native inlay hints on 0.10+, our virtual text before. true/false forces a choice.
  native_inlay_hints = nil,
  -- Echo the server's progress ("Predicting add… frame 3") in the command line.
  echo_progress = true,
  on_attach = nil,
  capabilities = nil,
}

M.config = vim.deepcopy(defaults)

-- Latest progress message, for statusline use via require('cwm_lsp').status().
local progress_message = nil
-- The last progress values received ({kind=, title=, message=}), newest last, for inspection.
M.progress_events = {}
local MAX_PROGRESS_EVENTS = 50

local function use_native_hints()
  if M.config.native_inlay_hints ~= nil then
    return M.config.native_inlay_hints and vim.lsp.inlay_hint ~= nil
  end
  return compat.has('0.10') and vim.lsp.inlay_hint ~= nil
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlayHint = caps.textDocument.inlayHint or { dynamicRegistration = false }
  caps.workspace = caps.workspace or {}
  caps.workspace.inlayHint = { refreshSupport = true }
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  if M.config.capabilities then
    caps = vim.tbl_deep_extend('force', caps, M.config.capabilities)
  end
  return caps
end

--- Remembers and echoes one work-done progress value from our server.
local function note_progress(value)
  if type(value) ~= 'table' or not value.kind then
    return
  end
  table.insert(M.progress_events, { kind = value.kind, title = value.title, message = value.message })
  if #M.progress_events > MAX_PROGRESS_EVENTS then
    table.remove(M.progress_events, 1)
  end
  if value.kind == 'begin' then
    progress_message = value.message or value.title
  elseif value.kind == 'report' then
    progress_message = value.message or progress_message
  elseif value.kind == 'end' then
    progress_message = nil
  end
  if M.config.echo_progress then
    local text = value.kind == 'end' and (value.message or 'done') or (progress_message or '')
    vim.api.nvim_echo({ { 'Prophecy: ' .. text, 'MoreMsg' } }, false, {})
  end
end

-- Before 0.10: wrap the $/progress handler (0.10+ has the LspProgress event instead).
local function on_progress(err, result, ctx, config)
  local default = vim.lsp.handlers['$/progress']
  if default then
    default(err, result, ctx, config)
  end
  note_progress(result and result.value)
end

local progress_autocmd = nil

local function watch_progress_events()
  if progress_autocmd or not compat.has('0.10') then
    return
  end
  progress_autocmd = vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('cwm_lsp_progress', { clear = true }),
    callback = function(args)
      local data = args.data or {}
      local client = data.client_id and compat.client_by_id(data.client_id)
      if client and client.name == M.name and data.params then
        note_progress(data.params.value)
      end
    end,
  })
end

local function handlers()
  local table_ = {}
  if not compat.has('0.10') then
    table_['$/progress'] = on_progress
  end
  if not use_native_hints() then
    table_['workspace/inlayHint/refresh'] = hints.on_refresh
  end
  return table_
end

--- "Predicting add… frame 3" while a prediction runs, "" otherwise (for a statusline).
function M.status()
  return progress_message and ('Prophecy: ' .. progress_message) or ''
end

--- Attaches buffer-local behaviour; also used by lsp/cwm_lsp.lua on Neovim 0.11.
function M.on_attach(client, bufnr)
  M.create_commands()
  watch_progress_events()
  if use_native_hints() then
    local ok = pcall(vim.lsp.inlay_hint.enable, true, { bufnr = bufnr })
    if not ok then
      pcall(vim.lsp.inlay_hint.enable, bufnr, true) -- 0.10 nightly signature
    end
  else
    hints.clear_on_change(bufnr)
    hints.refresh(client, bufnr)
  end
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
end

local function lsp_config(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  return {
    name = M.name,
    cmd = M.config.cmd,
    root_dir = compat.root_dir(path ~= '' and path or vim.fn.getcwd() .. '/x', M.config.root_markers),
    settings = M.config.settings,
    -- The server also reads these at initialize, so the first request already sees them.
    init_options = M.config.settings,
    capabilities = capabilities(),
    handlers = handlers(),
    on_attach = M.on_attach,
  }
end

local client_id_07 = nil

--- Starts the server if needed and attaches it to `bufnr`.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.fn.executable(M.config.cmd[1]) ~= 1 then
    vim.notify(
      ('Prophecy: %s not found; set cmd in require("cwm_lsp").setup()'):format(M.config.cmd[1]),
      vim.log.levels.ERROR
    )
    return nil
  end
  if vim.lsp.start then
    return vim.lsp.start(lsp_config(bufnr), { bufnr = bufnr })
  end
  local client = client_id_07 and compat.client_by_id(client_id_07)
  if not client or client.is_stopped() then
    client_id_07 = vim.lsp.start_client(lsp_config(bufnr))
  end
  if client_id_07 then
    vim.lsp.buf_attach_client(bufnr, client_id_07)
  end
  return client_id_07
end

local function client_for(bufnr)
  return compat.clients(M.name, bufnr)[1]
end

local function cursor_context()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    vim.notify('Prophecy: the cwm_lsp server is not attached to this buffer', vim.log.levels.WARN)
    return nil
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  return { bufnr = bufnr, client = client, uri = vim.uri_from_bufnr(bufnr), line = line }
end

local function execute(ctx, command, arguments)
  compat.request(ctx.client, 'workspace/executeCommand', { command = command, arguments = arguments }, function(err)
    if err then
      vim.notify('Prophecy: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif not use_native_hints() then
      hints.refresh(ctx.client, ctx.bufnr)
    end
  end, ctx.bufnr)
end

--- True for the server's "predict with invented inputs" action (arguments[4] == true).
local function invents_inputs(choice)
  return type(choice.arguments) == 'table' and choice.arguments[4] == true
end

--- The choices :Prophecy offers: the example calls; invented inputs only when there is none.
function M.prediction_choices(actions)
  local all = M.actions_with_prefix(actions, M.predict_prefix)
  local examples = vim.tbl_filter(function(choice)
    return not invents_inputs(choice)
  end, all)
  return #examples > 0 and examples or all
end

--- The server's code actions whose title starts with `prefix`, as {title=, command=, arguments=}.
function M.actions_with_prefix(actions, prefix)
  local found = {}
  for _, action in ipairs(actions or {}) do
    if type(action.title) == 'string' and action.title:sub(1, #prefix) == prefix then
      local command = action.command
      if type(command) == 'table' then
        table.insert(found, { title = action.title, command = command.command, arguments = command.arguments })
      elseif type(command) == 'string' then
        table.insert(found, { title = action.title, command = command, arguments = action.arguments })
      end
    end
  end
  return found
end

local function with_code_actions(ctx, callback)
  local params = {
    textDocument = { uri = ctx.uri },
    range = { start = { line = ctx.line, character = 0 }, ['end'] = { line = ctx.line, character = 0 } },
    context = { diagnostics = {} },
  }
  compat.request(ctx.client, 'textDocument/codeAction', params, function(err, result)
    if err then
      vim.notify('Prophecy: code actions failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    callback(result or {})
  end, ctx.bufnr)
end

--- :Prophecy [CALL] — predict the function under the cursor.
function M.predict(call)
  local ctx = cursor_context()
  if not ctx then
    return
  end
  if call and call ~= '' then
    execute(ctx, 'cwm.predict', { ctx.uri, ctx.line, call })
    return
  end
  with_code_actions(ctx, function(actions)
    local choices = M.prediction_choices(actions)
    if #choices == 0 then
      execute(ctx, 'cwm.predict', { ctx.uri, ctx.line })
    elseif #choices == 1 then
      execute(ctx, choices[1].command, choices[1].arguments)
    else
      vim.ui.select(choices, {
        prompt = 'Which example call?',
        format_item = function(choice)
          return (choice.title:gsub('^Prophecy:%s*', ''))
        end,
      }, function(choice)
        if choice then
          execute(ctx, choice.command, choice.arguments)
        end
      end)
    end
  end)
end

--- :ProphecyVerify — compare with a sandboxed run (the server needs cwm.allowExecution).
function M.verify()
  local ctx = cursor_context()
  if not ctx then
    return
  end
  with_code_actions(ctx, function(actions)
    local choice = M.actions_with_prefix(actions, M.verify_prefix)[1]
    if choice then
      execute(ctx, choice.command, choice.arguments)
    else
      execute(ctx, 'cwm.verify', { ctx.uri, ctx.line })
    end
  end)
end

--- :ProphecyClear — remove this buffer's predictions.
function M.clear()
  local ctx = cursor_context()
  if not ctx then
    return
  end
  hints.clear(ctx.bufnr)
  execute(ctx, 'cwm.clear', { ctx.uri })
end

--- :ProphecyIteration [N] — show the values of the N-th pass (1 = first) of the loop around the
--- cursor's line; without N, all passes again.
function M.show_iteration(n)
  local ctx = cursor_context()
  if not ctx then
    return
  end
  if n == nil or vim.trim(n) == '' then
    execute(ctx, 'cwm.showIteration', { ctx.uri, ctx.line, vim.NIL })
    return
  end
  local number = tonumber(n)
  if not number or number < 1 or number % 1 ~= 0 then
    vim.notify('Prophecy: give a pass number, 1 or more (or none for all passes)', vim.log.levels.ERROR)
    return
  end
  execute(ctx, 'cwm.showIteration', { ctx.uri, ctx.line, number - 1 })
end

--- The hints shown now in `bufnr`, for tests and inspection: { {line=, text=}, ... } (0-based
--- lines). Native inlay hints on 0.10+, else the plugin's virtual text.
function M.drawn_hints(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if use_native_hints() and vim.lsp.inlay_hint.get then
    local by_line = {}
    for _, item in ipairs(vim.lsp.inlay_hint.get({ bufnr = bufnr })) do
      local client = compat.client_by_id(item.client_id)
      if client and client.name == M.name then
        table.insert(by_line, item.inlay_hint)
      end
    end
    local out = {}
    for line, chunks in pairs(hints.chunks_by_line(by_line)) do
      local texts = {}
      for _, chunk in ipairs(chunks) do
        table.insert(texts, chunk[1])
      end
      table.insert(out, { line = line, text = vim.trim(table.concat(texts)) })
    end
    table.sort(out, function(a, b)
      return a.line < b.line
    end)
    return out
  end
  return hints.dump(bufnr)
end

local commands_created = false

function M.create_commands()
  if commands_created then
    return
  end
  commands_created = true
  vim.api.nvim_create_user_command('Prophecy', function(opts)
    M.predict(opts.args)
  end, { nargs = '?', desc = 'Predict the function under the cursor (optional: the call, e.g. f(2))' })
  vim.api.nvim_create_user_command('ProphecyVerify', M.verify, { desc = 'Compare with a sandboxed run' })
  vim.api.nvim_create_user_command('ProphecyClear', M.clear, { desc = 'Clear the predictions' })
  vim.api.nvim_create_user_command('ProphecyIteration', function(opts)
    M.show_iteration(opts.args)
  end, { nargs = '?', desc = 'Show one pass of the loop around the cursor (none: all passes)' })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if opts and opts.cmd then
    M.config.cmd = opts.cmd -- lists are replaced, not merged
  end
  M.create_commands()
  local group = vim.api.nvim_create_augroup('cwm_lsp', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
