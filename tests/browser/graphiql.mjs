#!/usr/bin/env node
// Drives CareGraph's GraphiQL page in headless Chromium the way an analyst does.
//
// usage: node tests/browser/graphiql.mjs <page url> <access token> <expected user id>
//
// Opens the page, fails on any request to another host (the page must work on a closed
// network), types `{ me { id } }` into the query editor and the bearer token into the Headers
// editor, clicks run and waits for the user id in the result pane. Prints one JSON line and
// exits 0 on success; prints "graphiql.mjs: FAIL: <why>" and exits 1 otherwise. Set
// GRAPHIQL_SCREENSHOT=<path.png> to keep a screenshot (taken on failure too).

import { existsSync } from 'node:fs';
import process from 'node:process';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium hangs on refused connections here.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OVERALL_TIMEOUT_MS = 60_000;
const QUERY = '{ me { id } }';

const SELECTORS = {
  queryEditor: 'section.graphiql-query-editor .CodeMirror',
  headersTab: '.graphiql-editor-tools button[data-name="headers"]',
  headersEditor: 'section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
  runButton: 'button.graphiql-execute-button',
  resultEditor: 'section.result-window .CodeMirror',
  explorer: '.graphiql-plugin .graphiql-explorer-root',
};

class Failure extends Error {}

function parseArgs(argv) {
  if (argv.length !== 3) {
    throw new Failure('usage: node tests/browser/graphiql.mjs <page url> <access token> <expected user id>');
  }
  const [pageUrl, token, expectedId] = argv;
  let url;
  try {
    url = new URL(pageUrl);
  } catch {
    throw new Failure(`not a URL: ${pageUrl}`);
  }
  if (!token || !expectedId) throw new Failure('access token and expected user id must not be empty');
  return { url, token, expectedId };
}

// The CodeMirror 5 instance hangs off its wrapper element; reading it avoids guessing from
// the rendered (virtualised) lines.
async function editorValue(page, selector) {
  return page.$eval(selector, (element) => element.CodeMirror.getValue());
}

// insertText goes through CodeMirror's input handling like a paste, so auto-closed brackets do
// not double up the way they would with key-by-key typing.
async function replaceEditorText(page, selector, text) {
  await page.click(selector);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
  const value = await editorValue(page, selector);
  if (value !== text) throw new Failure(`editor ${selector} holds ${JSON.stringify(value)}, expected ${JSON.stringify(text)}`);
}

async function run({ url, token, expectedId }, state) {
  if (!existsSync(CHROMIUM)) {
    throw new Failure(`${CHROMIUM} is missing: \`make test\` installs it (apt-get install -y chromium)`);
  }
  state.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const context = await state.browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  state.page = page;
  page.setDefaultTimeout(OVERALL_TIMEOUT_MS);

  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.host !== url.host) {
      state.external.push(route.request().url());
      return route.abort('blockedbyclient');
    }
    state.sameOrigin += 1;
    return route.continue();
  });
  page.on('websocket', (socket) => {
    if (new URL(socket.url()).host !== url.host) state.external.push(socket.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') state.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => state.consoleErrors.push(String(error)));

  const response = await page.goto(url.toString(), { waitUntil: 'load' });
  if (!response || !response.ok()) throw new Failure(`GET ${url} answered ${response ? response.status() : 'nothing'}`);
  await page.waitForSelector(SELECTORS.queryEditor, { state: 'visible' });
  await page.waitForSelector(SELECTORS.explorer, { state: 'visible' });

  await replaceEditorText(page, SELECTORS.queryEditor, QUERY);
  await page.click(SELECTORS.headersTab);
  await page.waitForSelector(SELECTORS.headersEditor, { state: 'visible' });
  await replaceEditorText(page, SELECTORS.headersEditor, `{"Authorization": ${JSON.stringify(`Bearer ${token}`)}}`);

  await page.click(SELECTORS.runButton);
  await page.waitForFunction(
    (selector) => {
      const element = document.querySelector(selector);
      return Boolean(element && element.CodeMirror && element.CodeMirror.getValue().trim());
    },
    SELECTORS.resultEditor,
  );
  const resultText = await editorValue(page, SELECTORS.resultEditor);
  let result;
  try {
    result = JSON.parse(resultText);
  } catch {
    throw new Failure(`result pane is not JSON: ${resultText}`);
  }
  const actualId = result?.data?.me?.id;
  if (actualId !== expectedId) {
    throw new Failure(`expected me.id ${JSON.stringify(expectedId)}, result pane shows ${resultText}`);
  }
  if (state.external.length > 0) {
    throw new Failure(`page requested other hosts: ${state.external.join(', ')}`);
  }
  // The page's Content-Security-Policy stops off-origin loads before they reach the network;
  // an attempt still means the page is not fit for a closed network.
  const refused = state.consoleErrors.filter((text) => text.includes('Content Security Policy'));
  if (refused.length > 0) throw new Failure(`page tried to load from other origins: ${refused.join(' | ')}`);
  return result;
}

async function main() {
  const state = { browser: null, page: null, external: [], sameOrigin: 0, consoleErrors: [] };
  const screenshot = process.env.GRAPHIQL_SCREENSHOT;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`no result within ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
  });
  let exitCode = 0;
  try {
    const args = parseArgs(process.argv.slice(2));
    const result = await Promise.race([run(args, state), timeout]);
    if (screenshot) await state.page.screenshot({ path: screenshot });
    process.stdout.write(
      `${JSON.stringify({
        ok: true,
        result,
        page: args.url.toString(),
        sameOriginRequests: state.sameOrigin,
        externalRequests: state.external,
        consoleErrors: state.consoleErrors,
        screenshot: screenshot || null,
      })}\n`,
    );
  } catch (error) {
    exitCode = 1;
    const why = error instanceof Failure ? error.message : error?.stack || String(error);
    process.stderr.write(`graphiql.mjs: FAIL: ${why}\n`);
    if (state.external.length > 0) process.stderr.write(`graphiql.mjs: external requests: ${state.external.join(', ')}\n`);
    if (state.consoleErrors.length > 0) process.stderr.write(`graphiql.mjs: browser console errors:\n  ${state.consoleErrors.join('\n  ')}\n`);
    if (screenshot && state.page) {
      await state.page.screenshot({ path: screenshot }).catch(() => {});
    }
  } finally {
    clearTimeout(timer);
    if (state.browser) await state.browser.close().catch(() => {});
  }
  process.exit(exitCode);
}

await main();
