import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePython, describeChoice, missingServerMessage, pipInstallCommand } from '../interpreter';

test('the cwm.serverPython setting wins over the Python extension', () => {
  const choice = choosePython('/opt/venv/bin/python', ['/usr/bin/python3.12']);
  assert.deepEqual(choice, { command: '/opt/venv/bin/python', prefixArgs: [], source: 'setting' });
});

test('a blank setting falls through to the Python extension, keeping its extra arguments', () => {
  const choice = choosePython('   ', ['conda', 'run', '-n', 'ml', 'python']);
  assert.equal(choice.command, 'conda');
  assert.deepEqual(choice.prefixArgs, ['run', '-n', 'ml', 'python']);
  assert.equal(choice.source, 'python-extension');
});

test('without setting or Python extension the default is python3', () => {
  assert.deepEqual(choosePython(undefined, undefined), { command: 'python3', prefixArgs: [], source: 'default' });
  assert.deepEqual(choosePython('', []), { command: 'python3', prefixArgs: [], source: 'default' });
});

test('~ in the setting means the home directory', () => {
  const home = process.env.HOME;
  process.env.HOME = '/home/ada';
  try {
    assert.equal(choosePython('~/venv/bin/python', undefined).command, '/home/ada/venv/bin/python');
  } finally {
    process.env.HOME = home;
  }
});

test('the missing-server message names the interpreter and gives a pip command that can be pasted', () => {
  const choice = choosePython('/path with space/python', undefined);
  assert.equal(pipInstallCommand(choice), "'/path with space/python' -m pip install cwm-lsp");
  const message = missingServerMessage(choice, "Traceback...\nModuleNotFoundError: No module named 'cwm_lsp'\n");
  assert.match(message, /not installed in \/path with space\/python \(from the cwm.serverPython setting\)/);
  assert.match(message, /pip install cwm-lsp/);
  assert.match(message, /No module named 'cwm_lsp'\)$/);
  assert.match(describeChoice(choosePython('', undefined)), /default; set cwm.serverPython/);
});
