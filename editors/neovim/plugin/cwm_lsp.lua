-- Nothing starts until require('cwm_lsp').setup() (or vim.lsp.enable('cwm_lsp') on 0.11+).
if vim.g.loaded_cwm_lsp then
  return
end
vim.g.loaded_cwm_lsp = true
