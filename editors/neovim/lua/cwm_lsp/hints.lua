-- Inlay hints for Neovim before 0.10: ask the server for textDocument/inlayHint and draw the
-- labels as end-of-line virtual text in our own namespace. On 0.10+ the native
-- vim.lsp.inlay_hint is used instead (see init.lua).
local compat = require('cwm_lsp.compat')

local M = {}

M.namespace = vim.api.nvim_create_namespace('cwm_lsp_hints')

-- Highlight group users can override; a linked default keeps the colorscheme's look.
vim.cmd('highlight default link CwmLspHint Comment')

--- The text of a hint label (a string or a list of InlayHintLabelPart).
function M.label_text(label)
  if type(label) == 'string' then
    return label
  end
  local parts = {}
  for _, part in ipairs(label or {}) do
    table.insert(parts, part.value or '')
  end
  return table.concat(parts)
end

--- Groups hints by line, in column order, into the virtual text chunks of each line.
function M.chunks_by_line(hints)
  local by_line = {}
  table.sort(hints, function(a, b)
    if a.position.line ~= b.position.line then
      return a.position.line < b.position.line
    end
    return a.position.character < b.position.character
  end)
  for _, hint in ipairs(hints) do
    local line = hint.position.line
    local chunks = by_line[line] or {}
    local text = M.label_text(hint.label)
    if #chunks > 0 or hint.paddingLeft then
      text = ' ' .. text
    end
    table.insert(chunks, { text, 'CwmLspHint' })
    by_line[line] = chunks
  end
  return by_line
end

function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  end
end

local watched = {}

--- Values shown for an older text would be wrong: drop them at the first change.
function M.clear_on_change(bufnr)
  if watched[bufnr] then
    return
  end
  watched[bufnr] = true
  vim.api.nvim_buf_attach(bufnr, false, {
    on_lines = function()
      vim.schedule(function()
        M.clear(bufnr)
      end)
    end,
    on_detach = function()
      watched[bufnr] = nil
    end,
  })
end

function M.draw(bufnr, hints)
  M.clear(bufnr)
  local line_count = vim.api.nvim_buf_line_count(bufnr)
  for line, chunks in pairs(M.chunks_by_line(hints or {})) do
    if line < line_count then
      table.insert(chunks, 1, { '  ', 'CwmLspHint' })
      vim.api.nvim_buf_set_extmark(bufnr, M.namespace, line, 0, {
        virt_text = chunks,
        virt_text_pos = 'eol',
        hl_mode = 'combine',
      })
    end
  end
end

-- The buffer's version when we asked, so that an answer for an older text is dropped.
local requested_tick = {}

--- Asks `client` for the hints of the whole buffer and draws them.
function M.refresh(client, bufnr)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  requested_tick[bufnr] = tick
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = {
      start = { line = 0, character = 0 },
      ['end'] = { line = vim.api.nvim_buf_line_count(bufnr), character = 0 },
    },
  }
  compat.request(client, 'textDocument/inlayHint', params, function(err, result)
    if err then
      vim.notify('Prophecy: inlay hints failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
      return
    end
    if requested_tick[bufnr] ~= tick or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    M.draw(bufnr, result or {})
  end, bufnr)
end

--- Handler for the server's workspace/inlayHint/refresh request.
function M.on_refresh(_, _, ctx)
  local client = compat.client_by_id(ctx.client_id)
  if client then
    for bufnr in pairs(client.attached_buffers or {}) do
      M.refresh(client, bufnr)
    end
  end
  return vim.NIL
end

--- What is drawn now, for tests and :checkhealth-style inspection: { {line=, text=}, ... }.
function M.dump(bufnr)
  local out = {}
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, M.namespace, 0, -1, { details = true })
  for _, mark in ipairs(marks) do
    local texts = {}
    for _, chunk in ipairs(mark[4].virt_text or {}) do
      table.insert(texts, chunk[1])
    end
    table.insert(out, { line = mark[2], text = vim.trim(table.concat(texts)) })
  end
  return out
end

return M
