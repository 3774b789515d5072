import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatusModel, progressDetail, statusView } from '../status';

test('starting, then ready', () => {
  const model = new StatusModel();
  assert.match(statusView(model.phase()).text, /loading~spin/);
  model.setBase({ kind: 'ready' });
  assert.equal(statusView(model.phase()).text, '$(eye) Prophecy');
  assert.equal(statusView(model.phase()).label, 'Prophecy: ready');
});

test('progress begin/report/end shows frames while predicting and returns to ready', () => {
  const model = new StatusModel();
  model.setBase({ kind: 'ready' });
  model.progress('t1', { kind: 'begin', title: 'Predicting add…' });
  model.progress('t1', { kind: 'report', message: 'Predicting add… frame 3' });
  assert.equal(statusView(model.phase()).text, '$(loading~spin) Predicting add… frame 3');
  model.progress('t1', { kind: 'report', message: '41 tok/s' });
  assert.equal(statusView(model.phase()).text, '$(loading~spin) Predicting add… 41 tok/s');
  model.progress('t1', { kind: 'end' });
  assert.equal(model.phase().kind, 'ready');
});

test('the newest of two predictions is shown', () => {
  const model = new StatusModel();
  model.setBase({ kind: 'ready' });
  model.progress(1, { kind: 'begin', title: 'Predicting a…' });
  model.progress(2, { kind: 'begin', title: 'Predicting b…', percentage: 40 });
  assert.equal(statusView(model.phase()).text, '$(loading~spin) Predicting b… 40%');
  model.progress(2, { kind: 'end' });
  assert.equal(statusView(model.phase()).text, '$(loading~spin) Predicting a…');
});

test('an error replaces any progress and is marked as an error', () => {
  const model = new StatusModel();
  model.setBase({ kind: 'ready' });
  model.progress(1, { kind: 'begin', title: 'Predicting a…' });
  model.setBase({ kind: 'error', message: 'cwm_lsp is not installed' });
  const view = statusView(model.phase());
  assert.equal(view.isError, true);
  assert.match(view.tooltip, /not installed/);
  model.setBase({ kind: 'ready' });
  assert.equal(model.phase().kind, 'ready', 'old progress is forgotten after an error');
});

test('progressDetail does not repeat the title', () => {
  assert.equal(progressDetail('Predicting f…', 'Predicting f… frame 2'), 'Predicting f… frame 2');
  assert.equal(progressDetail('Predicting f…', 'frame 2'), 'Predicting f… frame 2');
  assert.equal(progressDetail('Predicting f…', undefined), 'Predicting f…');
});

test('ready names what produces the values, with the hint for the demo model', () => {
  const model = new StatusModel();
  model.setBase({ kind: 'ready' });
  model.setModel({
    model: 'cwm-lsp demo model (not CWM)',
    short: 'demo model, not CWM',
    isDemoModel: true,
    observed: false,
    hint: 'For real predictions set cwm.modelPath to a CWM checkpoint, GGUF file or server URL.',
  });
  const view = statusView(model.phase());
  assert.equal(view.text, '$(warning) Prophecy: demo model, not CWM');
  assert.match(view.tooltip, /predicted by cwm-lsp demo model \(not CWM\)\. For real predictions set cwm\.modelPath/);
  model.progress('t', { kind: 'begin', title: 'Predicting f…' });
  assert.equal(statusView(model.phase()).text, '$(loading~spin) Predicting f…');
  model.progress('t', { kind: 'end' });
  model.setModel({ model: 'sandboxed runs (observed values, no model)', short: 'sandboxed run', isDemoModel: false, observed: true });
  assert.equal(statusView(model.phase()).text, '$(eye) Prophecy: sandboxed run');
  assert.match(statusView(model.phase()).tooltip, /observed in sandboxed runs/);
});
