// The server's work-done progress: a cancellable notification (or a status-bar spinner when the
// server does not offer cancelling), and each value passed on (the status item follows it).

import * as vscode from 'vscode';
import { LanguageClient, WorkDoneProgress, WorkDoneProgressCancelNotification } from 'vscode-languageclient/node';
import { ProgressValue } from './status';

export function showProgress(
  languageClient: LanguageClient,
  token: string | number,
  onValue: (value: ProgressValue) => void,
  log: (message: string) => void,
): void {
  let reporter: vscode.Progress<{ message?: string }> | undefined;
  let finish: (() => void) | undefined;
  let ended = false;
  let subscription: vscode.Disposable | undefined;
  try {
    subscription = languageClient.onProgress(WorkDoneProgress.type, token, (value) => {
      onValue(value);
      if (value.kind === 'begin') {
        void vscode.window.withProgress(
          {
            location: value.cancellable ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window,
            title: value.title,
            cancellable: value.cancellable,
          },
          (progress, cancellation) => {
            reporter = progress;
            cancellation.onCancellationRequested(() => {
              void languageClient.sendNotification(WorkDoneProgressCancelNotification.type, { token });
            });
            if (value.message) {
              progress.report({ message: value.message });
            }
            return ended ? Promise.resolve() : new Promise<void>((resolve) => (finish = resolve));
          },
        );
      } else if (value.kind === 'report') {
        reporter?.report({ message: value.message });
      } else {
        ended = true;
        finish?.();
        subscription?.dispose();
      }
    });
  } catch (error) {
    log(`progress token ${String(token)}: ${String(error)}`);
  }
}
