-- Small shims over the Neovim APIs that changed between 0.7 and 0.11.
local M = {}

function M.has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

--- Clients named `name` attached to `bufnr` (any buffer when bufnr is nil).
function M.clients(name, bufnr)
  local found = {}
  local all
  if vim.lsp.get_clients then
    all = vim.lsp.get_clients({ bufnr = bufnr })
  elseif bufnr then
    all = vim.tbl_values(vim.lsp.buf_get_clients(bufnr))
  else
    all = vim.lsp.get_active_clients()
  end
  for _, client in ipairs(all) do
    if client.name == name then
      table.insert(found, client)
    end
  end
  return found
end

function M.client_by_id(id)
  return vim.lsp.get_client_by_id(id)
end

--- client.request on 0.7-0.10, client:request on 0.11+ (the dot form is deprecated there).
function M.request(client, method, params, handler, bufnr)
  if M.has('0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has('0.11') then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Directory of the nearest marker above `path`, else the file's directory.
function M.root_dir(path, markers)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local current = dir
  while true do
    for _, marker in ipairs(markers) do
      local candidate = current .. '/' .. marker
      if vim.fn.filereadable(candidate) == 1 or vim.fn.isdirectory(candidate) == 1 then
        return current
      end
    end
    local parent = vim.fn.fnamemodify(current, ':h')
    if parent == current then
      return dir
    end
    current = parent
  end
end

return M
