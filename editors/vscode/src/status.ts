// What the status bar item says, derived from the client's state and the server's work-done
// progress notifications (e.g. "Predicting add… frame 12", "… 35 tok/s").

/** The server's `cwm/status` notification: what produces the values. */
export interface ModelStatus {
  /** For sentences: "cwm-lsp demo model (not CWM)", "sandboxed runs (observed values, no model)". */
  readonly model: string;
  /** For the status bar: "demo model, not CWM", "sandboxed run", a checkpoint's name. */
  readonly short: string;
  readonly isDemoModel: boolean;
  readonly observed: boolean;
  /** How to get real predictions, when the values come from the demo model. */
  readonly hint?: string | null;
}

export type Phase =
  | { readonly kind: 'starting' }
  | { readonly kind: 'ready'; readonly model?: ModelStatus }
  | { readonly kind: 'predicting'; readonly title: string; readonly message?: string; readonly percentage?: number }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'stopped' };

export interface ProgressValue {
  readonly kind: 'begin' | 'report' | 'end';
  readonly title?: string;
  readonly message?: string;
  readonly percentage?: number;
}

interface ActiveProgress {
  title: string;
  message?: string;
  percentage?: number;
}

/** Tracks the server's progress tokens; the newest active one is what the status bar shows. */
export class StatusModel {
  private base: Phase = { kind: 'starting' };
  private model: ModelStatus | undefined;
  private readonly active = new Map<string, ActiveProgress>();

  setModel(model: ModelStatus | undefined): void {
    this.model = model;
  }

  setBase(phase: Phase): void {
    this.base = phase;
    if (phase.kind !== 'ready') {
      this.active.clear();
    }
  }

  progress(token: string | number, value: ProgressValue): void {
    const key = String(token);
    if (value.kind === 'end') {
      this.active.delete(key);
      return;
    }
    const current = this.active.get(key);
    if (value.kind === 'begin' || current === undefined) {
      this.active.delete(key);
      this.active.set(key, { title: value.title ?? current?.title ?? 'Predicting', message: value.message, percentage: value.percentage });
      return;
    }
    if (value.message !== undefined) {
      current.message = value.message;
    }
    if (value.percentage !== undefined) {
      current.percentage = value.percentage;
    }
  }

  phase(): Phase {
    if (this.base.kind === 'ready' && this.active.size === 0) {
      return this.model ? { kind: 'ready', model: this.model } : this.base;
    }
    if (this.base.kind !== 'ready') {
      return this.base;
    }
    const newest = [...this.active.values()].pop() as ActiveProgress;
    return { kind: 'predicting', ...newest };
  }
}

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  readonly isError: boolean;
  /** What screen readers say (and what the editor test looks for). */
  readonly label: string;
}

export function statusView(phase: Phase): StatusView {
  switch (phase.kind) {
    case 'starting':
      return { text: '$(loading~spin) Prophecy', tooltip: 'Prophecy: starting the cwm-lsp server…', isError: false, label: 'Prophecy: starting' };
    case 'ready': {
      const model = phase.model;
      if (!model) {
        return { text: '$(eye) Prophecy', tooltip: 'Prophecy: ready. Run "Prophecy: Predict" in a Python function.', isError: false, label: 'Prophecy: ready' };
      }
      const source = model.observed ? `Values are observed in ${model.model}.` : `Values are predicted by ${model.model}.`;
      return {
        text: `$(${model.isDemoModel ? 'warning' : 'eye'}) Prophecy: ${model.short}`,
        tooltip: ['Prophecy: ready.', source, model.hint ?? ''].filter(Boolean).join(' '),
        isError: false,
        label: `Prophecy: ready, ${model.short}`,
      };
    }
    case 'predicting': {
      const detail = progressDetail(phase.title, phase.message, phase.percentage);
      return {
        text: `$(loading~spin) ${detail}`,
        tooltip: `Prophecy: ${[phase.title, phase.message].filter(Boolean).join(' — ')}`,
        isError: false,
        label: `Prophecy: ${detail}`,
      };
    }
    case 'error':
      return { text: '$(error) Prophecy', tooltip: `Prophecy: ${phase.message} (click to show the log)`, isError: true, label: `Prophecy: error: ${phase.message}` };
    case 'stopped':
      return { text: '$(circle-slash) Prophecy', tooltip: 'Prophecy: the server is stopped (click to show the log)', isError: false, label: 'Prophecy: stopped' };
  }
}

/** "Predicting add… frame 12" stays as it is; a bare "frame 12" gets the title in front. */
export function progressDetail(title: string, message?: string, percentage?: number): string {
  const parts: string[] = [];
  const text = message?.trim();
  if (text && title && !text.startsWith(title)) {
    parts.push(title, text);
  } else {
    parts.push(text || title);
  }
  if (percentage !== undefined) {
    parts.push(`${Math.round(percentage)}%`);
  }
  return parts.filter(Boolean).join(' ');
}
