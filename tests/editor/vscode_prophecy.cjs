// Drives the real VS Code (code-server) in headless Chromium: opens the example, runs
// "Prophecy: Predict" from the command palette, waits for the inlay hints in the editor DOM and
// writes what it saw to OUTPUT_DIR/report.json (+ screenshots). Assertions are in
// test_vscode.py. Usage: node vscode_prophecy.cjs URL OUTPUT_DIR [WORKSPACE BARE_PYTHON], with
// CWM_TEST_SINGLE_CALL_LINE and CWM_TEST_CHOICE_LINE set (see lineFromEnv).
// With WORKSPACE and BARE_PYTHON (a Python without cwm_lsp) it finally points cwm.serverPython
// there and records what the extension tells the user.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, outputDir, workspace, barePython] = process.argv.slice(2);
// 1-based cursor lines in loops.py, computed by test_vscode.py from tests/fixtures/loops_example.py.
function lineFromEnv(name) {
  const line = Number.parseInt(process.env[name] ?? '', 10);
  if (!Number.isInteger(line) || line < 1) {
    throw new Error(`${name} must be a 1-based line number (test_vscode.py sets it)`);
  }
  return line;
}
const singleCallLine = lineFromEnv('CWM_TEST_SINGLE_CALL_LINE');
const choiceLine = lineFromEnv('CWM_TEST_CHOICE_LINE');
// collatz_steps(27)'s `steps += 1` ran 111 times: its hover is capped with a summary row.
const longLine = lineFromEnv('CWM_TEST_LONG_LINE');
// A model directory taught to invent double(21) (CWM_TEST_INVENTING_MODEL) and the file with
// double (CWM_TEST_INVENTING_FILE, in the workspace).
const inventingModel = process.env.CWM_TEST_INVENTING_MODEL;
const inventingFile = process.env.CWM_TEST_INVENTING_FILE;
const report = { steps: [], ok: false };

function step(name, data) {
  report.steps.push({ name, ...data });
  console.log(`step ${name}: ${JSON.stringify(data).slice(0, 300)}`);
}

async function palette(page, text) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 20000 });
  await input.fill(text);
  await page.waitForTimeout(400);
}

async function runCommand(page, title) {
  await palette(page, `>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ timeout: 20000 });
  await page.keyboard.press('Enter');
}

async function openFile(page, name) {
  await palette(page, name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 20000 });
  await page.keyboard.press('Enter');
  await page.locator('.monaco-editor .view-lines').first().waitFor({ timeout: 20000 });
}

async function goToLine(page, line) {
  await palette(page, `:${line}`);
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
}

// The editor renders spaces (also in inlay hints) as no-break spaces.
async function editorText(page) {
  const text = await page.locator('.monaco-editor .view-lines').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

async function waitForText(page, needle, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const text = await editorText(page);
    if (text.includes(needle)) {
      return text;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`"${needle}" did not appear in the editor within ${timeout} ms:\n${await editorText(page)}`);
}

async function hoverText(page, line, needle) {
  await goToLine(page, line);
  await runCommand(page, 'Show or Focus Hover');
  const hover = page.locator('.monaco-hover', { hasText: needle }).first();
  await hover.waitFor({ state: 'visible', timeout: 20000 });
  return (await hover.innerText()).replace(/\u00a0/g, ' ');
}

function updateSettings(changes) {
  const settingsFile = path.join(workspace, '.vscode', 'settings.json');
  const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  fs.writeFileSync(settingsFile, JSON.stringify({ ...settings, ...changes }));
}

async function waitForStatus(page, pattern, timeout) {
  const deadline = Date.now() + timeout;
  let status = '';
  while (Date.now() < deadline) {
    status = await statusText(page);
    if (pattern.test(status)) {
      return status;
    }
    await page.waitForTimeout(300);
  }
  throw new Error(`the status never matched ${pattern}: ${status}`);
}

async function dismissToasts(page) {
  for (const clear of await page.locator('.notifications-toasts .codicon-notifications-clear').all()) {
    await clear.click().catch(() => undefined);
  }
}

// Issue 20: a capped hover, the model named in the status bar, asking before inventing inputs
// and the invented call on the def line.
async function presentationSteps(page) {
  const hover = await hoverText(page, longLine, 'runs');
  step('capped hover', { text: hover });
  await page.screenshot({ path: path.join(outputDir, 'vscode-capped-hover.png') });
  await page.keyboard.press('Escape');

  updateSettings({ 'cwm.backend': 'auto', 'cwm.allowExecution': false });
  const demoStatus = await waitForStatus(page, /demo model/, 60000);
  await goToLine(page, singleCallLine);
  await runCommand(page, 'Prophecy: Predict the function at the cursor');
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'demo model (not CWM)' }).first();
  await toast.waitFor({ timeout: 120000 });
  await waitForText(page, '≈', 60000);
  await page.waitForTimeout(1000);
  const tooltip = await page.locator('#cwm-lsp\\.cwm-lsp\\.cwm\\.status, .statusbar-item[aria-label*="Prophecy"]').first().getAttribute('aria-label');
  step('demo model', {
    status: demoStatus,
    label: tooltip,
    notification: (await toast.innerText()).replace(/\u00a0/g, ' '),
    text: await editorText(page),
  });
  await page.screenshot({ path: path.join(outputDir, 'vscode-status-demo-model.png') });
  await dismissToasts(page);

  if (inventingModel && inventingFile) {
    updateSettings({ 'cwm.backend': 'native', 'cwm.modelPath': inventingModel });
    const modelStatus = await waitForStatus(page, new RegExp(path.basename(inventingModel)), 60000);
    await openFile(page, path.basename(inventingFile));
    await goToLine(page, 2);
    await runCommand(page, 'Prophecy: Predict the function at the cursor');
    const question = page.locator('.notifications-toasts .notification-toast', { hasText: 'no example call' }).first();
    await question.waitFor({ timeout: 30000 });
    const buttons = await question.locator('.monaco-button').allInnerTexts();
    await question.locator('.monaco-button', { hasText: 'Invent inputs' }).first().click();
    const invented = await waitForText(page, 'invented call: double(21)', 120000);
    await page.waitForTimeout(1000);
    step('invented call', { status: modelStatus, buttons, text: invented });
    await page.screenshot({ path: path.join(outputDir, 'vscode-invented-call.png') });
    await dismissToasts(page);
  }
  updateSettings({ 'cwm.backend': 'run', 'cwm.allowExecution': true, 'cwm.modelPath': '' });
  await waitForStatus(page, /sandboxed run/, 60000);

  // A syntax error: in the Problems panel, and the function above it still predicts.
  if (process.env.CWM_TEST_BROKEN_FILE) {
    await openFile(page, path.basename(process.env.CWM_TEST_BROKEN_FILE));
    const problems = page.locator('#status\\.problems, .statusbar-item[id*="problems"]').first();
    const deadline = Date.now() + 30000;
    let problemsLabel = '';
    while (Date.now() < deadline) {
      problemsLabel = (await problems.getAttribute('aria-label')) ?? (await problems.innerText());
      if (/[1-9]/.test(problemsLabel)) {
        break;
      }
      await page.waitForTimeout(300);
    }
    await problems.click();
    const panel = page.locator('.markers-panel', { hasText: 'syntax error' }).first();
    await panel.waitFor({ timeout: 20000 });
    const panelText = (await panel.innerText()).replace(/\u00a0/g, ' ');
    await goToLine(page, 3);
    await runCommand(page, 'Prophecy: Predict the function at the cursor');
    const predicted = await waitForText(page, '⮐ 8', 90000);
    const said = page.locator('.notifications-toasts .notification-toast', { hasText: 'does not parse' }).first();
    await said.waitFor({ timeout: 20000 });
    step('syntax error', {
      problems: problemsLabel,
      panel: panelText,
      text: predicted,
      notification: (await said.innerText()).replace(/\u00a0/g, ' '),
    });
    await page.screenshot({ path: path.join(outputDir, 'vscode-syntax-error.png') });
    await dismissToasts(page);
  }
}

async function statusText(page) {
  const item = page.locator('#cwm-lsp\\.cwm-lsp\\.cwm\\.status, .statusbar-item[aria-label*="Prophecy"]').first();
  return (await item.count()) ? ((await item.getAttribute('aria-label')) ?? (await item.innerText())) : '';
}

async function main() {
  fs.mkdirSync(outputDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cwm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    await page.locator('.statusbar').waitFor({ timeout: 60000 });
    await openFile(page, 'loops.py');
    step('opened', { text: (await editorText(page)).slice(0, 200) });

    // The server is ready when the status item shows the eye (not the spinner or an error).
    const deadline = Date.now() + 90000;
    let status = '';
    while (Date.now() < deadline) {
      status = await statusText(page);
      if (/ready/i.test(status) || /error|not installed|stopped/i.test(status)) {
        break;
      }
      await page.waitForTimeout(300);
    }
    step('status', { status });

    // Every label the status item shows from now on (a prediction passes quickly).
    await page.evaluate(() => {
      const seen = [];
      window.cwmStatusLabels = seen;
      const record = () => {
        for (const item of document.querySelectorAll('.statusbar-item')) {
          const label = item.getAttribute('aria-label') || '';
          if (label.startsWith('Prophecy') && seen[seen.length - 1] !== label) {
            seen.push(label);
          }
        }
      };
      new MutationObserver(record).observe(document.querySelector('.statusbar'), { subtree: true, attributes: true, childList: true, characterData: true });
      record();
    });

    await goToLine(page, singleCallLine);
    await runCommand(page, 'Prophecy: Predict the function at the cursor');
    const single = await waitForText(page, '⮐', 90000);
    await page.waitForTimeout(1500);
    step('single call', { text: await editorText(page), quickPickShown: false, afterWait: single.length > 0 });
    await page.screenshot({ path: path.join(outputDir, 'vscode-prophecy.png') });

    // A function with two example calls: the extension asks which one.
    await goToLine(page, choiceLine);
    await runCommand(page, 'Prophecy: Predict the function at the cursor');
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await rows.filter({ hasText: 'collatz_steps(27)' }).first().waitFor({ timeout: 30000 });
    const choices = await rows.allInnerTexts();
    await rows.filter({ hasText: 'collatz_steps(27)' }).first().click();
    await waitForText(page, '⮐ 111', 90000);
    await page.waitForTimeout(1000);
    step('chosen call', {
      choices,
      text: await editorText(page),
      status: await statusText(page),
      statusLabels: await page.evaluate(() => window.cwmStatusLabels),
    });
    await page.screenshot({ path: path.join(outputDir, 'vscode-prophecy-choice.png') });

    await presentationSteps(page);

    if (workspace && barePython) {
      updateSettings({ 'cwm.serverPython': barePython });
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'not installed' }).first();
      await toast.waitFor({ timeout: 60000 });
      await page.waitForTimeout(500);
      step('missing server', { message: (await toast.innerText()).replace(/\u00a0/g, ' '), status: await statusText(page) });
      await page.screenshot({ path: path.join(outputDir, 'vscode-missing-server.png') });

      // The server's commands now say why they cannot run.
      await page.locator('.notifications-toasts .notification-toast .codicon-notifications-clear').first().click().catch(() => undefined);
      await runCommand(page, 'Prophecy: Predict the function at the cursor');
      const why = page.locator('.notifications-toasts .notification-toast', { hasText: 'is not running' }).first();
      await why.waitFor({ timeout: 30000 });
      step('command without server', { message: (await why.innerText()).replace(/\u00a0/g, ' ') });
    }
    report.ok = true;
  } catch (error) {
    report.error = String(error && error.stack ? error.stack : error);
    await page.screenshot({ path: path.join(outputDir, 'failure.png') }).catch(() => undefined);
  } finally {
    fs.writeFileSync(path.join(outputDir, 'report.json'), JSON.stringify(report, null, 2));
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
