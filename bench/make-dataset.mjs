#!/usr/bin/env node
// Vendored copy of ../shared/bench/make-dataset.mjs (the shared benchmark data generator; CI has no /work/shared): keep in sync.
// Deterministic benchmark dataset generator for backup-tool benchmarks.
//
//   node make-dataset.mjs small  DIR [--seed S] [--files N] [--dirs-per-level A,B,C]
//   node make-dataset.mjs large  DIR [--seed S] [--count N] [--size-mib M]
//   node make-dataset.mjs mutate-small DIR [--seed S]   # 1% modified, 0.5% added, 0.5% deleted
//   node make-dataset.mjs mutate-large DIR [--seed S]   # 1 MiB rewritten in two of the files
//   node make-dataset.mjs manifest DIR                   # sha256 over (path, size, mtime, content)
//
// Same arguments => byte-identical files, same names, same mtimes (ctime/inode differ, unavoidable).
// Random bytes come from AES-256-CTR keyed by sha256(seed,...); choices from a seeded sfc32 PRNG.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const BASE_MTIME = 1704067200;          // 2024-01-01T00:00:00Z, original files
const MUT_MTIME = 1735689600;           // 2025-01-01T00:00:00Z, mutated / added files
const KiB = 1024, MiB = 1024 * 1024;

// ---------- PRNG ----------
function sfc32(a, b, c, d) {
  return function () {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}
function rng(...parts) {
  const h = crypto.createHash('sha256').update(parts.join('\u0000')).digest();
  const r = sfc32(h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12));
  for (let i = 0; i < 16; i++) r();
  return r;
}
const randInt = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1)); // inclusive

// ---------- content ----------
function randomBytes(size, ...parts) {
  const key = crypto.createHash('sha256').update('key\u0000' + parts.join('\u0000')).digest();
  const iv = crypto.createHash('md5').update('iv\u0000' + parts.join('\u0000')).digest();
  const c = crypto.createCipheriv('aes-256-ctr', key, iv);
  return c.update(Buffer.alloc(size));
}

// A fixed pseudo-vocabulary (from the seed) used for "compressible text".
let VOCAB = null;
function vocab(seed) {
  if (VOCAB && VOCAB.seed === seed) return VOCAB.words;
  const r = rng('vocab', seed);
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const words = [];
  for (let i = 0; i < 4096; i++) {
    const len = randInt(r, 2, 10);
    let w = '';
    for (let j = 0; j < len; j++) w += letters[Math.floor(Math.pow(r(), 1.6) * 26)];
    words.push(Buffer.from(w));
  }
  VOCAB = { seed, words };
  return words;
}
// Fill buf with word soup: skewed word choice, spaces, punctuation, ~70-char lines.
function fillText(buf, seed, ...parts) {
  const words = vocab(seed);
  const r = rng('text', seed, ...parts);
  let off = 0, line = 0;
  const n = buf.length;
  while (off < n) {
    const x = r();
    const w = words[Math.floor(x * x * x * words.length)];
    const len = Math.min(w.length, n - off);
    w.copy(buf, off, 0, len); off += len; line += len;
    if (off >= n) break;
    const p = r();
    let sep;
    if (line > 70) { sep = 10; line = 0; }       // '\n'
    else if (p < 0.06) sep = 44;                   // ','
    else if (p < 0.09) sep = 46;                   // '.'
    else sep = 32;                                 // ' '
    buf[off++] = sep;
    if (sep === 46 && off < n) { buf[off++] = 32; }
  }
  return buf;
}
function textBytes(size, seed, ...parts) { return fillText(Buffer.allocUnsafe(size), seed, ...parts); }

// ---------- helpers ----------
function parseArgs(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) { o[a.slice(2)] = argv[++i]; } else o._.push(a);
  }
  return o;
}
function walk(dir, rel = '', out = { files: [], dirs: [] }) {
  const ents = fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of ents) {
    const p = rel ? rel + '/' + e.name : e.name;
    if (e.isDirectory()) { out.dirs.push(p); walk(dir, p, out); }
    else if (e.isFile()) out.files.push(p);
  }
  return out;
}
function setDirTimes(root, dirs, t) {
  // deepest first so parents are set last
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) fs.utimesSync(path.join(root, d), t, t);
  fs.utimesSync(root, t, t);
}
function smallFile(seed, key, r) {
  // size 1..16 KiB (inclusive), half text, half random
  const size = randInt(r, 1 * KiB, 16 * KiB);
  const isText = r() < 0.5;
  return { size, isText, data: isText ? textBytes(size, seed, key) : randomBytes(size, seed, key) };
}

// ---------- generators ----------
function genSmall(root, seed, nFiles, levels) {
  fs.mkdirSync(root, { recursive: true });
  if (fs.readdirSync(root).length) throw new Error(`${root} is not empty`);
  // nested tree: L1 x L2 x L3 directories; files go in every non-root directory
  const dirs = [];
  const [a, b, c] = levels;
  for (let i = 0; i < a; i++) {
    const d1 = `d${String(i).padStart(2, '0')}`; dirs.push(d1);
    for (let j = 0; j < b; j++) {
      const d2 = `${d1}/s${String(j).padStart(2, '0')}`; dirs.push(d2);
      for (let k = 0; k < c; k++) dirs.push(`${d2}/t${String(k).padStart(2, '0')}`);
    }
  }
  for (const d of dirs) fs.mkdirSync(path.join(root, d), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < nFiles; i++) {
    const r = rng('small', seed, i);
    const dir = dirs[Math.floor(r() * dirs.length)];
    const f = smallFile(seed, `small-${i}`, r);
    const p = path.join(root, dir, `f${String(i).padStart(5, '0')}.${f.isText ? 'txt' : 'bin'}`);
    fs.writeFileSync(p, f.data);
    const t = BASE_MTIME + i * 60;
    fs.utimesSync(p, t, t);
    bytes += f.size;
  }
  setDirTimes(root, dirs, BASE_MTIME);
  console.error(`small: ${nFiles} files, ${dirs.length} dirs, ${bytes} bytes in ${root}`);
}

function genLarge(root, seed, count, sizeMiB) {
  fs.mkdirSync(root, { recursive: true });
  if (fs.readdirSync(root).length) throw new Error(`${root} is not empty`);
  const CH = 4 * MiB;
  for (let i = 0; i < count; i++) {
    const isText = i >= count / 2;               // first half random, second half compressible
    const name = `L${i}.${isText ? 'txt' : 'bin'}`;
    const p = path.join(root, name);
    const fd = fs.openSync(p, 'w');
    const buf = Buffer.allocUnsafe(CH);
    const key = crypto.createHash('sha256').update(`large-key\u0000${seed}\u0000${i}`).digest();
    const iv = crypto.createHash('md5').update(`large-iv\u0000${seed}\u0000${i}`).digest();
    const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
    const zero = Buffer.alloc(CH);
    for (let off = 0; off < sizeMiB * MiB; off += CH) {
      const out = isText ? fillText(buf, seed, 'large', i, off) : cipher.update(zero);
      fs.writeSync(fd, out, 0, CH);
    }
    fs.closeSync(fd);
    const t = BASE_MTIME + i * 3600;
    fs.utimesSync(p, t, t);
  }
  fs.utimesSync(root, BASE_MTIME, BASE_MTIME);
  console.error(`large: ${count} files x ${sizeMiB} MiB in ${root}`);
}

function mutateSmall(root, seed) {
  const { files, dirs } = walk(root);
  const r = rng('mutate-small', seed);
  const nMod = Math.round(files.length * 0.01);
  const nDel = Math.round(files.length * 0.005);
  const nAdd = Math.round(files.length * 0.005);
  // partial Fisher-Yates over the sorted file list
  const idx = files.map((_, i) => i);
  for (let i = 0; i < nMod + nDel; i++) {
    const j = i + Math.floor(r() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const touchedDirs = new Set();
  for (let k = 0; k < nMod; k++) {
    const rel = files[idx[k]];
    const fr = rng('mut-content', seed, rel);
    const isText = rel.endsWith('.txt');
    const size = randInt(fr, 1 * KiB, 16 * KiB);
    const data = isText ? textBytes(size, seed, 'mut', rel) : randomBytes(size, seed, 'mut', rel);
    const p = path.join(root, rel);
    fs.writeFileSync(p, data);
    fs.utimesSync(p, MUT_MTIME + k, MUT_MTIME + k);
  }
  for (let k = nMod; k < nMod + nDel; k++) {
    const rel = files[idx[k]];
    fs.unlinkSync(path.join(root, rel));
    touchedDirs.add(path.dirname(rel));
  }
  for (let k = 0; k < nAdd; k++) {
    const ar = rng('mut-add', seed, k);
    const dir = dirs[Math.floor(ar() * dirs.length)];
    const f = smallFile(seed, `add-${k}`, ar);
    const rel = `${dir}/n${seed}-${String(k).padStart(4, '0')}.${f.isText ? 'txt' : 'bin'}`;
    const p = path.join(root, rel);
    fs.writeFileSync(p, f.data);
    fs.utimesSync(p, MUT_MTIME + k, MUT_MTIME + k);
    touchedDirs.add(dir);
  }
  for (const d of touchedDirs) fs.utimesSync(path.join(root, d), MUT_MTIME, MUT_MTIME);
  console.error(`mutate-small seed=${seed}: modified ${nMod}, deleted ${nDel}, added ${nAdd} (of ${files.length})`);
}

function mutateLarge(root, seed) {
  const { files } = walk(root);
  const r = rng('mutate-large', seed);
  // rewrite 1 MiB (4 KiB aligned) inside one random-content and one text file
  const pick = [files.find((f) => f.endsWith('.bin') && f !== files[0]) || files[0],
                files.filter((f) => f.endsWith('.txt'))[1] || files[files.length - 1]];
  for (const rel of pick) {
    const p = path.join(root, rel);
    const size = fs.statSync(p).size;
    const off = Math.floor(r() * ((size - MiB) / 4096)) * 4096;
    const data = rel.endsWith('.txt') ? textBytes(MiB, seed, 'mutL', rel) : randomBytes(MiB, seed, 'mutL', rel);
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, data, 0, MiB, off);
    fs.closeSync(fd);
    fs.utimesSync(p, MUT_MTIME, MUT_MTIME);
    console.error(`mutate-large seed=${seed}: ${rel} 1 MiB at offset ${off}`);
  }
}

function manifest(root) {
  const { files, dirs } = walk(root);
  const h = crypto.createHash('sha256');
  let bytes = 0;
  for (const rel of files) {
    const p = path.join(root, rel);
    const st = fs.statSync(p);
    const ch = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    h.update(`${rel}\u0000${st.size}\u0000${Math.floor(st.mtimeMs / 1000)}\u0000${ch}\n`);
    bytes += st.size;
  }
  for (const d of dirs) h.update(`D ${d}\n`);
  console.log(`${h.digest('hex')}  files=${files.length} dirs=${dirs.length} bytes=${bytes}  ${root}`);
}

const a = parseArgs(process.argv.slice(2));
const [cmd, dir] = a._;
const seed = a.seed ?? '1';
if (!cmd || !dir) {
  console.error('usage: make-dataset.mjs small|large|mutate-small|mutate-large|manifest DIR [--seed S]');
  process.exit(2);
}
const root = path.resolve(dir);
switch (cmd) {
  case 'small': genSmall(root, seed, Number(a.files ?? 50000), (a['dirs-per-level'] ?? '10,14,14').split(',').map(Number)); break;
  case 'large': genLarge(root, seed, Number(a.count ?? 8), Number(a['size-mib'] ?? 128)); break;
  case 'mutate-small': mutateSmall(root, seed); break;
  case 'mutate-large': mutateLarge(root, seed); break;
  case 'manifest': manifest(root); break;
  default: console.error(`unknown command ${cmd}`); process.exit(2);
}
