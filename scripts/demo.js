#!/usr/bin/env node
'use strict';
// `npm start`: a round trip on an embedded sample folder, with the CLI as a user would run it:
// full backup, a change, incremental backup, list, restore, and a check that the restore matches.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '.demo');
const source = path.join(root, 'source');
const dest = path.join(root, 'backups');
const restored = path.join(root, 'restored');
const cli = path.join(__dirname, '..', 'bin', 'n8n-backup.js');
const run = (...args) => execFileSync(process.execPath, [cli, ...args], { stdio: 'inherit' });

fs.rmSync(root, { recursive: true, force: true });
for (let i = 0; i < 200; i++) {
  const file = path.join(source, `folder-${i % 10}`, `note-${i}.txt`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `note ${i}\n`.repeat(1 + (i % 50)));
}
fs.mkdirSync(path.join(source, 'empty folder'));
fs.symlinkSync('folder-0/note-0.txt', path.join(source, 'latest-note'));

console.log(`\n$ n8n-backup backup ${source} --dest ${dest} --type full`);
run('backup', source, '--dest', dest, '--type', 'full');
fs.appendFileSync(path.join(source, 'folder-1', 'note-1.txt'), 'an edit\n');
fs.rmSync(path.join(source, 'folder-2', 'note-2.txt'));
fs.writeFileSync(path.join(source, 'new file.txt'), 'added after the full backup\n');
console.log(`\n$ n8n-backup backup ${source} --dest ${dest}   (incremental by default)`);
run('backup', source, '--dest', dest);
console.log(`\n$ n8n-backup list --dest ${dest}`);
run('list', '--dest', dest);
const set = fs.readdirSync(dest)[0];
console.log(`\n$ n8n-backup restore --dest ${dest} --set ${set} --target ${restored}`);
run('restore', '--dest', dest, '--set', set, '--target', restored);
execFileSync('diff', ['-r', '--no-dereference', source, restored], { stdio: 'inherit' });
console.log(`\nThe restored folder matches the source. Everything is under ${root}.`);
