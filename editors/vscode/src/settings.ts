// The `cwm` settings the language server reads (design.md, "LSP settings section cwm", plus the
// server's hintWidth and timeout), and the setting only this extension uses (serverPython). package.json's contributes.configuration must agree with
// SERVER_SETTINGS; a unit test checks that.

export type SettingKind = 'string' | 'boolean' | 'integer' | 'number';

export interface SettingSpec {
  readonly key: string;
  readonly kind: SettingKind;
  readonly default: string | number | boolean | null;
  readonly choices?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
}

export const SERVER_SETTINGS: readonly SettingSpec[] = [
  { key: 'backend', kind: 'string', default: 'auto', choices: ['auto', 'native', 'llama-cpp', 'openai', 'run'] },
  { key: 'modelPath', kind: 'string', default: '' },
  { key: 'quantize', kind: 'string', default: 'none', choices: ['none', 'int8', 'int4'] },
  { key: 'device', kind: 'string', default: 'cpu' },
  { key: 'allowExecution', kind: 'boolean', default: false },
  { key: 'maxFrames', kind: 'integer', default: 10000, minimum: 1, maximum: 1000000 },
  { key: 'predictionTimeout', kind: 'number', default: 30, minimum: 0, maximum: 3600 },
  { key: 'temperature', kind: 'number', default: 0, minimum: 0, maximum: 2 },
  { key: 'predictOn', kind: 'string', default: 'demand', choices: ['demand', 'save'] },
  { key: 'stepInto', kind: 'boolean', default: true },
  { key: 'hintWidth', kind: 'integer', default: 60, minimum: 8, maximum: 1000 },
  { key: 'timeout', kind: 'number', default: 10, minimum: 0.1, maximum: 3600 },
  { key: 'followControlFlow', kind: 'boolean', default: true },
];

export const CLIENT_SETTINGS: readonly SettingSpec[] = [
  { key: 'serverPython', kind: 'string', default: '' },
];

export type ServerSettings = Record<string, string | number | boolean>;

export interface NormalizedSettings {
  readonly settings: ServerSettings;
  /** One sentence per value that was replaced by its default, for the output channel. */
  readonly problems: string[];
}

function normalizeOne(spec: SettingSpec, raw: unknown): { value: string | number | boolean; problem?: string } {
  const fallback = spec.default ?? '';
  if (raw === undefined || raw === null) {
    return { value: fallback };
  }
  const reject = (why: string) => ({ value: fallback, problem: `cwm.${spec.key}: ${why}; using ${JSON.stringify(fallback)}` });
  switch (spec.kind) {
    case 'boolean':
      return typeof raw === 'boolean' ? { value: raw } : reject(`expected true or false, got ${JSON.stringify(raw)}`);
    case 'string': {
      if (typeof raw !== 'string') {
        return reject(`expected text, got ${JSON.stringify(raw)}`);
      }
      const text = raw.trim();
      if (spec.choices && !spec.choices.includes(text)) {
        return reject(`"${text}" is not one of ${spec.choices.join(', ')}`);
      }
      return { value: text };
    }
    case 'integer':
    case 'number': {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        return reject(`expected a number, got ${JSON.stringify(raw)}`);
      }
      if (spec.kind === 'integer' && !Number.isInteger(raw)) {
        return reject(`expected a whole number, got ${raw}`);
      }
      if (spec.minimum !== undefined && raw < spec.minimum) {
        return reject(`${raw} is below the minimum ${spec.minimum}`);
      }
      if (spec.maximum !== undefined && raw > spec.maximum) {
        return reject(`${raw} is above the maximum ${spec.maximum}`);
      }
      return { value: raw };
    }
  }
}

/** Maps the user's `cwm.*` values to the object sent for the server's `cwm` section. */
export function toServerSettings(read: (key: string) => unknown, specs: readonly SettingSpec[] = SERVER_SETTINGS): NormalizedSettings {
  const settings: ServerSettings = {};
  const problems: string[] = [];
  for (const spec of specs) {
    const { value, problem } = normalizeOne(spec, read(spec.key));
    settings[spec.key] = value;
    if (problem) {
      problems.push(problem);
    }
  }
  return { settings, problems };
}
