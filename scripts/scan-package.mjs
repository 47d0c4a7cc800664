#!/usr/bin/env node
// n8n's community-package scanner (@n8n/scan-community-package), run on THIS checkout, offline.
//
// The scanner's CLI only scans a package published on npm: it needs the registry's provenance
// attestation and downloads the attested source from GitHub, so it cannot scan a local tarball.
// Its two lint legs are exported, though, and are the whole of what it checks once provenance
// passed: the source (package.json, nodes/ and credentials/ *.ts) with the full rule set, and
// the packed tarball's compiled *.js and package.json. This script runs both legs on `npm pack`'s
// tarball and this checkout, with the scanner's own config, and fails on any finding that is
// not listed in ACCEPTED below (each one explained in README, "n8n's package scanner").
//
// Usage: npm run build && node scripts/scan-package.mjs   (installs the scanner once, into
// node_modules/.cache/n8n-scan, from the npm registry with --ignore-scripts)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const SCANNER_VERSION = '0.32.0';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const scannerHome = process.env.N8N_SCAN_HOME ?? path.join(root, 'node_modules', '.cache', 'n8n-scan');

/**
 * Findings this package keeps on purpose: `rule` + `file`
 * (a regex on the path, tarball files prefixed pkg/), optionally a regex on the message. README's "n8n's package scanner" says why for each.
 */
const ACCEPTED = [
  // A self-hosted backup node reads and writes files, walks folders on worker threads, hashes, gzips, encrypts.
  { rule: '@n8n/community-nodes/no-restricted-imports', file: /^(pkg\/)?(dist\/)?(nodes|cli)\// },
  // process (environment, platform, pid for locks, signals), timers for lock leases and retries.
  { rule: '@n8n/community-nodes/no-restricted-globals', file: /^(pkg\/)?(dist\/)?(nodes|cli)\// },
  // The engine is shared with the CLI and knows no n8n type; the node turns its errors into NodeOperationError at the boundary.
  { rule: '@n8n/community-nodes/require-node-api-error', file: /^(pkg\/dist\/)?nodes\/Backup\/engine\// },
  // `sync -f <folder this run made>`: syncfs(2) has no Node.js binding; fixed program, no shell, no workflow input.
  { rule: '@n8n/community-nodes/no-dangerous-functions', file: /^(pkg\/dist\/)?nodes\/Backup\/engine\/destination\/durable\.(ts|js)$/ },
  // No real address to give, and none is invented (issue 16).
  { rule: '@n8n/community-nodes/valid-author', file: /^(pkg\/)?package\.json$/ },
  // The S3 client, ssh2, picomatch and the xattr binding are real runtime needs (self-hosted only).
  { rule: '@n8n/community-nodes/no-runtime-dependencies', file: /^(pkg\/)?package\.json$/ },
  // The credential TYPE name is a contract (saved credentials and workflows): backupEncryption stays.
  { rule: 'n8n-nodes-base/node-class-description-credentials-name-unsuffixed', file: /^nodes\/Backup\/Backup\.node\.ts$/ },
  { rule: 'n8n-nodes-base/cred-class-field-name-unsuffixed', file: /^credentials\/BackupEncryptionApi\.credentials\.ts$/ },
  // It holds a passphrase, not an API's key: "Backup Encryption API" would mislead.
  { rule: 'n8n-nodes-base/cred-class-field-display-name-missing-api', file: /^credentials\/BackupEncryptionApi\.credentials\.ts$/ },
  // n8n's own s3, aws and sftp credential types for the S3 / SFTP Destination Type: users' existing credentials work (README, "Remote destinations in the node").
  { rule: '@n8n/community-nodes/no-credential-reuse', file: /^(pkg\/dist\/)?nodes\/Backup\/Backup\.node\.(ts|js)$/, message: /"(s3|aws|sftp)"/ },
  { rule: '@n8n/community-nodes/valid-credential-references', file: /^(pkg\/dist\/)?nodes\/Backup\/Backup\.node\.(ts|js)$/, message: /"(s3|aws|sftp)"/ },
  // "Allow n8n's Own Folder": n8n is written in lower case; the rule wants "N8n".
  { rule: 'n8n-nodes-base/node-param-display-name-miscased', file: /^nodes\/Backup\/descriptions\/backup\.description\.ts$/, message: /title case/ },
];

function sh(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

function ensureScanner() {
  const entry = path.join(scannerHome, 'node_modules', '@n8n', 'scan-community-package', 'scanner', 'scanner.mjs');
  const pkg = path.join(scannerHome, 'node_modules', '@n8n', 'scan-community-package', 'package.json');
  if (fs.existsSync(entry) && JSON.parse(fs.readFileSync(pkg, 'utf8')).version === SCANNER_VERSION) return entry;
  fs.mkdirSync(scannerHome, { recursive: true });
  fs.writeFileSync(path.join(scannerHome, 'package.json'), '{"private":true}\n');
  console.log(`installing @n8n/scan-community-package@${SCANNER_VERSION} into ${scannerHome}`);
  sh('npm', ['install', `@n8n/scan-community-package@${SCANNER_VERSION}`, '--ignore-scripts', '--no-audit', '--no-fund', '--no-save'], { cwd: scannerHome, stdio: ['ignore', 'inherit', 'inherit'] });
  return entry;
}

async function lint(scannerDir, dir, patterns, prefix) {
  const { ESLint } = await import(pathToFileURL(path.join(scannerHome, 'node_modules', 'eslint', 'lib', 'api.js')).href);
  const { default: glob } = await import(pathToFileURL(path.join(scannerHome, 'node_modules', 'fast-glob', 'out', 'index.js')).href);
  const { buildScanConfig } = await import(pathToFileURL(scannerDir).href);
  const eslint = new ESLint({ cwd: dir, allowInlineConfig: false, overrideConfigFile: true, overrideConfig: await buildScanConfig() });
  const files = glob.sync(patterns, { cwd: dir, absolute: true, ignore: ['node_modules/**', '**/package-lock.json'] });
  const results = await eslint.lintFiles(files);
  return results.flatMap((r) =>
    r.messages.filter((m) => m.severity === 2).map((m) => ({ file: prefix + path.relative(dir, r.filePath), line: m.line, rule: m.ruleId ?? '(parse)', message: m.message })),
  );
}

const scanner = ensureScanner();
const { SOURCE_FILE_PATTERNS } = await import(pathToFileURL(scanner).href);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-scan-'));
try {
  const tarball = sh('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root }).trim().split('\n').pop();
  const pkgDir = path.join(work, 'package');
  fs.mkdirSync(pkgDir);
  sh('tar', ['-xzf', path.join(work, tarball), '-C', pkgDir, '--strip-components=1']);
  // The same two legs as analyzePackageByName: the source with every rule, the tarball's JS and package.json.
  const findings = [
    ...(await lint(scanner, root, SOURCE_FILE_PATTERNS, '')),
    ...(await lint(scanner, pkgDir, ['**/*.js', 'package.json'], 'pkg/')),
  ];
  const accepted = findings.filter((f) => ACCEPTED.some((a) => a.rule === f.rule && a.file.test(f.file) && (a.message === undefined || a.message.test(f.message))));
  const fresh = findings.filter((f) => !accepted.includes(f));
  const byRule = new Map();
  for (const f of accepted) byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1);
  for (const [rule, n] of byRule) console.log(`accepted (README explains): ${rule} x${n}`);
  for (const f of fresh) console.log(`NEW: ${f.file}:${f.line} ${f.rule}: ${f.message}`);
  console.log(`${findings.length} finding(s): ${accepted.length} accepted, ${fresh.length} new`);
  process.exitCode = fresh.length === 0 ? 0 : 1;
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
