import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLIENT_SETTINGS, SERVER_SETTINGS, toServerSettings } from '../settings';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
const properties: Record<string, { type: string; default: unknown; enum?: string[]; markdownDescription?: string }> =
  manifest.contributes.configuration.properties;

test('package.json contributes every cwm setting with the same type, default and choices', () => {
  for (const spec of [...SERVER_SETTINGS, ...CLIENT_SETTINGS]) {
    const property = properties[`cwm.${spec.key}`];
    assert.ok(property, `cwm.${spec.key} is not contributed`);
    assert.equal(property.type, spec.kind);
    assert.deepEqual(property.default, spec.default);
    assert.deepEqual(property.enum, spec.choices);
    assert.ok((property.markdownDescription ?? '').length > 20, `cwm.${spec.key} needs a description`);
  }
});

test('the server settings named in the design are all there, allowExecution off by default', () => {
  const keys = SERVER_SETTINGS.map((s) => s.key).sort();
  for (const key of ['allowExecution', 'backend', 'device', 'maxFrames', 'modelPath', 'predictOn', 'quantize', 'stepInto', 'temperature']) {
    assert.ok(keys.includes(key), key);
  }
  assert.equal(toServerSettings(() => undefined).settings.allowExecution, false);
});

test('user values pass through to the server section', () => {
  const user: Record<string, unknown> = { backend: 'run', allowExecution: true, maxFrames: 50, temperature: 0.5, modelPath: ' /m/cwm ' };
  const { settings, problems } = toServerSettings((key) => user[key]);
  assert.deepEqual(problems, []);
  assert.equal(settings.backend, 'run');
  assert.equal(settings.allowExecution, true);
  assert.equal(settings.maxFrames, 50);
  assert.equal(settings.temperature, 0.5);
  assert.equal(settings.modelPath, '/m/cwm');
  assert.equal(settings.predictOn, 'demand');
  assert.ok(!('serverPython' in settings), 'client-only settings stay in the client');
});

test('bad values fall back to the default with a message naming the setting', () => {
  const user: Record<string, unknown> = { backend: 'gpt', maxFrames: 2.5, temperature: -1, allowExecution: 'yes' };
  const { settings, problems } = toServerSettings((key) => user[key]);
  assert.equal(settings.backend, 'auto');
  assert.equal(settings.maxFrames, 10000);
  assert.equal(settings.temperature, 0);
  assert.equal(settings.allowExecution, false);
  assert.equal(problems.length, 4);
  assert.match(problems.join('\n'), /cwm.backend: "gpt" is not one of auto, native, llama-cpp, openai, run/);
  assert.match(problems.join('\n'), /cwm.allowExecution: expected true or false/);
});

test('hint width is checked against its range', () => {
  assert.equal(toServerSettings((key) => (key === 'hintWidth' ? 30 : undefined)).settings.hintWidth, 30);
  assert.equal(toServerSettings((key) => (key === 'hintWidth' ? 2 : undefined)).settings.hintWidth, 60);
});
