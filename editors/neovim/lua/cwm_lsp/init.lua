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

-- How long a command given before the server is ready waits for it.
M.attach_timeout_ms = 60000

-- Commands given while the server is still starting, per buffer: run when it attaches.
local pending = {}
-- The loop pass each buffer's hints are pinned to ({ iteration = 1-based, of = n }), if any.
local iteration_filters = {}
-- What the server says produces the values (its cwm/status notification), for status() and echoes.
M.model_status = nil

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
  if not compat.has('0.10') then
    -- Before 0.10 hover windows show Markdown tables as raw pipes: ask for plain text.
    caps.textDocument.hover = caps.textDocument.hover or {}
    caps.textDocument.hover.contentFormat = { 'plaintext' }
  end
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

--- The server's cwm/status notification: which model (or sandboxed run) gives the values.
function M.on_model_status(_, result)
  if type(result) == 'table' then
    M.model_status = result
  end
end
local on_model_status = M.on_model_status

local function handlers()
  local table_ = { ['cwm/status'] = on_model_status }
  if not compat.has('0.10') then
    table_['$/progress'] = on_progress
  end
  if not use_native_hints() then
    table_['workspace/inlayHint/refresh'] = hints.on_refresh
  end
  return table_
end

--- "Prophecy: Predicting add… frame 3" while a prediction runs; otherwise what produces the
--- values ("Prophecy: cwm-lsp demo model (not CWM)") and the loop pass the hints are pinned to.
function M.status(bufnr)
  if progress_message then
    return 'Prophecy: ' .. progress_message
  end
  local parts = {}
  if M.model_status and M.model_status.short then
    table.insert(parts, M.model_status.short)
  end
  local filter = M.iteration_filter(bufnr)
  if filter then
    table.insert(parts, ('iteration %d of %d'):format(filter.iteration, filter.of))
  end
  return #parts > 0 and ('Prophecy: ' .. table.concat(parts, ', ')) or ''
end

--- The loop pass `bufnr`'s hints are pinned to by :ProphecyIteration ({ iteration = 1-based,
--- of = passes }), or nil when every pass is shown.
function M.iteration_filter(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  return iteration_filters[bufnr]
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
  local queued = pending[bufnr]
  pending[bufnr] = nil
  for _, command in ipairs(queued or {}) do
    command(client)
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

--- True when the server will attach to `bufnr` (a Python buffer) but has not yet.
local function may_still_attach(bufnr)
  return vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
end

--- Calls `run(ctx)` with the buffer, client, URI and cursor line (0-based) now; while the server
--- is still starting, once it has attached (the cursor line as it is now).
local function with_cursor_context(name, run)
  local bufnr = vim.api.nvim_get_current_buf()
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  local function context(client)
    return { bufnr = bufnr, client = client, uri = vim.uri_from_bufnr(bufnr), line = line }
  end
  local client = client_for(bufnr)
  if client then
    run(context(client))
    return
  end
  if not may_still_attach(bufnr) then
    vim.notify('Prophecy: the cwm_lsp server is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  pending[bufnr] = pending[bufnr] or {}
  table.insert(pending[bufnr], function(attached)
    run(context(attached))
  end)
  vim.notify(
    ('Prophecy: the cwm_lsp server is starting; :%s will run as soon as it is ready'):format(name),
    vim.log.levels.INFO
  )
  local queued = pending[bufnr]
  vim.defer_fn(function()
    if pending[bufnr] == queued then
      pending[bufnr] = nil
      vim.notify(
        ('Prophecy: the cwm_lsp server did not start within %d s; :%s was dropped (see :LspLog)'):format(
          M.attach_timeout_ms / 1000,
          name
        ),
        vim.log.levels.WARN
      )
    end
  end, M.attach_timeout_ms)
end

local function execute(ctx, command, arguments, on_result)
  compat.request(ctx.client, 'workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      vim.notify('Prophecy: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if not use_native_hints() then
      hints.refresh(ctx.client, ctx.bufnr)
    end
    if on_result then
      on_result(result)
    end
  end, ctx.bufnr)
end

--- After a prediction: say what made the values, with the hint on getting CWM's own.
local function echo_provenance(result)
  local status = M.model_status
  if type(result) ~= 'table' or (result.status ~= 'done' and result.status ~= 'cached') or not status then
    return
  end
  local text = 'Prophecy: values from ' .. (status.model or '?')
  if status.hint then
    text = text .. '. ' .. status.hint
  end
  vim.notify(text, vim.log.levels.INFO)
end

local function predict_with(ctx, command, arguments)
  iteration_filters[ctx.bufnr] = nil
  execute(ctx, command, arguments, echo_provenance)
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
  with_cursor_context('Prophecy', function(ctx)
    M.predict_at(ctx, call)
  end)
end

function M.predict_at(ctx, call)
  if call and call ~= '' then
    predict_with(ctx, 'cwm.predict', { ctx.uri, ctx.line, call })
    return
  end
  with_code_actions(ctx, function(actions)
    local choices = M.prediction_choices(actions)
    if #choices == 0 or (#choices == 1 and invents_inputs(choices[1])) then
      M.ask_for_inputs(ctx, actions, choices[1])
    elseif #choices == 1 then
      predict_with(ctx, choices[1].command, choices[1].arguments)
    else
      vim.ui.select(choices, {
        prompt = 'Which example call?',
        format_item = function(choice)
          return (choice.title:gsub('^Prophecy:%s*', ''))
        end,
      }, function(choice)
        if choice then
          predict_with(ctx, choice.command, choice.arguments)
        end
      end)
    end
  end)
end

--- The function has no example call: ask before predicting on inputs the model would invent
--- (`invent` is the server's "predict with invented inputs" action, nil when the backend cannot).
function M.ask_for_inputs(ctx, actions, invent)
  local add = nil
  for _, action in ipairs(actions or {}) do
    if action.title == 'Prophecy: add an example call' and action.edit then
      add = action
    end
  end
  local options = {}
  if add then
    table.insert(options, 'Add an example call')
  end
  if invent then
    table.insert(options, 'Invent inputs')
  end
  if #options == 0 then
    predict_with(ctx, 'cwm.predict', { ctx.uri, ctx.line }) -- the server says what is missing
    return
  end
  vim.ui.select(options, { prompt = 'This function has no example call:' }, function(choice)
    if choice == 'Invent inputs' then
      predict_with(ctx, invent.command, invent.arguments)
    elseif choice == 'Add an example call' then
      vim.lsp.util.apply_workspace_edit(add.edit, ctx.client.offset_encoding or 'utf-16')
      local edits = add.edit.changes and add.edit.changes[ctx.uri]
      if edits and edits[1] then
        local row = edits[1].range.start.line + 1
        vim.api.nvim_win_set_cursor(0, { row, #vim.api.nvim_buf_get_lines(ctx.bufnr, row - 1, row, false)[1] })
      end
      vim.notify('Prophecy: fill in the example call, then :Prophecy', vim.log.levels.INFO)
    end
  end)
end

--- :ProphecyRuns — every run of the line under the cursor, in a scratch window (the hover shows
--- the first ones and a summary).
function M.show_all_runs()
  with_cursor_context('ProphecyRuns', function(ctx)
    execute(ctx, 'cwm.showAllRuns', { ctx.uri, ctx.line }, function(result)
      if type(result) ~= 'table' or result.status ~= 'expanded' then
        local message = type(result) == 'table' and result.message or 'no results on this line'
        vim.notify('Prophecy: ' .. message, vim.log.levels.WARN)
        return
      end
      M.last_runs_table = result.table
      vim.cmd('botright new')
      local scratch = vim.api.nvim_get_current_buf()
      vim.bo[scratch].buftype = 'nofile'
      vim.bo[scratch].bufhidden = 'wipe'
      vim.bo[scratch].swapfile = false
      vim.api.nvim_buf_set_lines(scratch, 0, -1, false, vim.split(result.table, '\n', { plain = true }))
      vim.bo[scratch].modifiable = false
    end)
  end)
end

--- :ProphecyVerify — compare with a sandboxed run (the server needs cwm.allowExecution).
function M.verify()
  with_cursor_context('ProphecyVerify', function(ctx)
    with_code_actions(ctx, function(actions)
      local choice = M.actions_with_prefix(actions, M.verify_prefix)[1]
      if choice then
        execute(ctx, choice.command, choice.arguments)
      else
        execute(ctx, 'cwm.verify', { ctx.uri, ctx.line })
      end
    end)
  end)
end

--- :ProphecyClear — remove this buffer's predictions.
function M.clear()
  with_cursor_context('ProphecyClear', function(ctx)
    hints.clear(ctx.bufnr)
    iteration_filters[ctx.bufnr] = nil
    execute(ctx, 'cwm.clear', { ctx.uri })
  end)
end

--- :ProphecyIteration [N] — show the values of the N-th pass (1 = first) of the loop around the
--- cursor's line; without N, all passes again.
function M.show_iteration(n)
  local number = nil
  if n ~= nil and vim.trim(n) ~= '' then
    number = tonumber(n)
    if not number or number < 1 or number % 1 ~= 0 then
      vim.notify('Prophecy: give a pass number, 1 or more (or none for all passes)', vim.log.levels.ERROR)
      return
    end
  end
  with_cursor_context('ProphecyIteration', function(ctx)
    local iteration = number and number - 1 or vim.NIL
    execute(ctx, 'cwm.showIteration', { ctx.uri, ctx.line, iteration }, function(result)
      M.note_iteration_filter(ctx.bufnr, result)
    end)
  end)
end

--- Remembers and says which loop pass the hints show, from cwm.showIteration's result
--- ({ iteration = 0-based or null, of = passes }).
function M.note_iteration_filter(bufnr, result)
  if type(result) ~= 'table' or result.status == 'failed' then
    return
  end
  if type(result.iteration) == 'number' and type(result.of) == 'number' then
    iteration_filters[bufnr] = { iteration = result.iteration + 1, of = result.of }
    vim.notify(
      ('Prophecy: showing iteration %d of %d of the loop (:ProphecyIteration without a number shows all)'):format(
        result.iteration + 1,
        result.of
      ),
      vim.log.levels.INFO
    )
  else
    iteration_filters[bufnr] = nil
    vim.notify('Prophecy: showing every iteration', vim.log.levels.INFO)
  end
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
  vim.api.nvim_create_user_command('ProphecyRuns', M.show_all_runs, { desc = 'Every run of the line under the cursor' })
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
