#!/usr/bin/env node
'use strict';
// Takes the README screenshots (not run by CI): docs/workflow.png, the "Nightly backup" example on
// the n8n canvas, docs/backup-node.png, the Backup node's parameter panel, and docs/backup-output.png,
// a backup of `npm start`'s sample folder run in the editor (the output's Table view).
// Uses the n8n of `npm start` on $PORT (default 5678) and starts one when nothing answers there.
// Needs Chromium (Debian: apt-get install -y chromium); installs playwright-core with --no-save.
// On a fresh n8n it creates the owner account N8N_OWNER_EMAIL / N8N_OWNER_PASSWORD (defaults below;
// use them to log in yourself); if an owner exists already, set those two to its login.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PORT = Number(process.env.PORT || process.env.N8N_PORT || 5678);
const BASE_URL = `http://localhost:${PORT}`;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OWNER = {
  email: process.env.N8N_OWNER_EMAIL || 'owner@example.com',
  firstName: 'Backup',
  lastName: 'Demo',
  password: process.env.N8N_OWNER_PASSWORD || 'Backup-demo-1', // n8n wants 8+ characters, a digit, a capital
};
// The pictures show examples/nightly-backup.json as it is, with the paths of n8n's Docker image, so
// a temporary copy is created (and removed after) instead of opening the one `npm start` imported,
// whose paths point into this machine's .n8n-local.
const EXAMPLE = path.join(ROOT, 'examples', 'nightly-backup.json');
const WORKFLOW_ID = 'exScreenshotTemp01';
const OUTPUT_WORKFLOW_ID = 'exScreenshotTemp02';
// The folder `npm start` allows and fills with a sample (scripts/start-n8n.js).
const LOCAL_FILES = path.join(ROOT, '.n8n-local', 'files');
const OUT = path.join(ROOT, 'docs');
let started; // the n8n this script started, if any

async function main() {
  if (!fs.existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  const { chromium } = loadPlaywright();
  if ((await status(`${BASE_URL}/healthz/readiness`)) !== 200) started = await startN8n();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    const api = context.request;
    await logIn(api);
    await createWorkflow(api);
    const page = await context.newPage();
    await page.goto(`${BASE_URL}/workflow/${WORKFLOW_ID}`);
    const backupNode = page.locator('[data-test-id="canvas-node"][data-node-name="Backup"]');
    await backupNode.waitFor({ timeout: 60_000 });
    await page.waitForTimeout(1500); // the canvas fits the view with an animation
    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'workflow.png') });
    await backupNode.dblclick();
    await page.locator('[data-test-id="ndv"]').first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(OUT, 'backup-node.png') });
    console.log(`Saved ${path.join('docs', 'workflow.png')} and ${path.join('docs', 'backup-node.png')}.`);
    await page.close();
    await removeWorkflow(api);
    await outputShot(context, api);
  } finally {
    await browser.close();
    if (started) await stop(started);
  }
}

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    // --no-save: a tool for this script only, not a dependency of the package.
    console.log('Installing playwright-core (npm i --no-save playwright-core)...');
    execFileSync('npm', ['i', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', 'playwright-core'], { cwd: ROOT, stdio: 'inherit' });
    return require('playwright-core');
  }
}

/** Owner setup on a fresh n8n (the REST call behind the first-visit form), then log in; the session cookie stays in the browser context. */
async function logIn(api) {
  const settings = await (await api.get(`${BASE_URL}/rest/settings`)).json();
  if (settings.data.userManagement.showSetupOnFirstLoad) {
    const r = await api.post(`${BASE_URL}/rest/owner/setup`, { data: OWNER });
    if (!r.ok()) fail(`owner setup failed: ${r.status()} ${await r.text()}`);
    console.log(`Created the n8n owner account: ${OWNER.email} / ${OWNER.password}`);
  }
  const r = await api.post(`${BASE_URL}/rest/login`, { data: { emailOrLdapLoginId: OWNER.email, password: OWNER.password } });
  if (!r.ok()) fail(`login as ${OWNER.email} failed (${r.status()}): set N8N_OWNER_EMAIL and N8N_OWNER_PASSWORD to the owner account of this n8n.`);
}

async function createWorkflow(api) {
  await removeWorkflow(api); // one an interrupted run left
  const { name, nodes, connections, settings } = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'));
  const r = await api.post(`${BASE_URL}/rest/workflows`, { data: { id: WORKFLOW_ID, name, nodes, connections, settings } });
  if (!r.ok()) fail(`could not create the workflow: ${r.status()} ${await r.text()}`);
}

/** Manual Trigger -> Backup (Full) of the sample folder, run in the editor; the output panel in Table view. */
async function outputShot(context, api) {
  await removeWorkflow(api, OUTPUT_WORKFLOW_ID);
  const nodes = [
    { id: 'o1', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
    {
      id: 'o2', name: 'Backup', type: 'n8n-nodes-backup.backup', typeVersion: 1, position: [240, 0],
      parameters: { resource: 'backup', operation: 'full', sourcePaths: path.join(LOCAL_FILES, 'documents'), destinationPath: path.join(LOCAL_FILES, 'screenshot-backups') },
    },
  ];
  const connections = { Run: { main: [[{ node: 'Backup', type: 'main', index: 0 }]] } };
  const r = await api.post(`${BASE_URL}/rest/workflows`, { data: { id: OUTPUT_WORKFLOW_ID, name: 'Backup output (screenshot)', nodes, connections, settings: { executionOrder: 'v1' } } });
  if (!r.ok()) fail(`could not create the output workflow: ${r.status()} ${await r.text()}`);
  const page = await context.newPage();
  try {
    await page.goto(`${BASE_URL}/workflow/${OUTPUT_WORKFLOW_ID}`);
    const backupNode = page.locator('[data-test-id="canvas-node"][data-node-name="Backup"]');
    await backupNode.waitFor({ timeout: 60_000 });
    await page.waitForTimeout(1500); // the canvas fits the view with an animation
    const execute = page.locator('[data-test-id="execute-workflow-button"]');
    await ((await execute.count()) > 0 ? execute.first() : page.getByRole('button', { name: /Execute workflow/i }).first()).click({ force: true });
    await page.waitForTimeout(8000);
    await backupNode.dblclick();
    await page.locator('[data-test-id="ndv"]').first().waitFor({ timeout: 30_000 });
    const table = page.locator('[data-test-id="ndv-output-panel"] [data-test-id="radio-button-table"]');
    if ((await table.count()) > 0) await table.first().click();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(OUT, 'backup-output.png') });
    console.log(`Saved ${path.join('docs', 'backup-output.png')}.`);
  } finally {
    await page.close();
    await removeWorkflow(api, OUTPUT_WORKFLOW_ID);
    fs.rmSync(path.join(LOCAL_FILES, 'screenshot-backups'), { recursive: true, force: true });
  }
}

async function removeWorkflow(api, id = WORKFLOW_ID) {
  const url = `${BASE_URL}/rest/workflows/${id}`;
  const found = await (await api.get(`${url}/exists`)).json();
  if (!found.data?.exists) return;
  await api.post(`${url}/archive`, { data: {} }); // n8n 2.x deletes only archived workflows
  const r = await api.delete(url);
  if (!r.ok()) console.warn(`Could not remove the temporary workflow ${id} (${r.status()}): delete it in n8n.`);
}

/** Runs scripts/start-n8n.js in its own process group (so that stop() reaches n8n too) and waits until n8n is ready. */
async function startN8n() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'nodes', 'Backup', 'Backup.node.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const log = path.join(ROOT, '.n8n-local', 'screenshot-n8n.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const fd = fs.openSync(log, 'w');
  console.log(`Starting n8n for the screenshots (log: ${path.relative(ROOT, log)})...`);
  const child = spawn(process.execPath, [path.join(__dirname, 'start-n8n.js')], { cwd: ROOT, detached: true, stdio: ['ignore', fd, fd] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 900; i++) {
    if ((await status(`${BASE_URL}/healthz/readiness`)) === 200) return { child, exited };
    if (child.exitCode !== null) fail(`n8n stopped (exit ${child.exitCode}); see ${log}.`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  started = { child, exited };
  fail(`n8n was not ready after 15 minutes; see ${log}.`);
}

async function stop({ child, exited }) {
  process.kill(-child.pid, 'SIGTERM'); // start-n8n.js and n8n both shut down on it
  await exited;
}

/** HTTP status of a GET, or undefined when nothing answers. */
function status(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function fail(message) {
  console.error(`screenshot: ${message}`);
  if (started && started.child.exitCode === null) process.kill(-started.child.pid, 'SIGTERM'); // n8n shuts down on its own
  process.exit(1);
}

main().catch((error) => fail(error.stack || String(error)));
