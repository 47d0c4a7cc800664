/**
 * A set on a remote destination (set/remoteSetStore.ts) on every store (a folder through the
 * destination interface, S3 on moto, SFTP on sshd): a backup exists only once its backup.json does,
 * leftovers of a dead run are swept by the next writer, a delete unlists first.
 */
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import { formatBackupId, summaryText } from '../../nodes/Backup/engine/set/catalog';
import type { SetLock } from '../../nodes/Backup/engine/set/lock';
import { RemoteSetStore } from '../../nodes/Backup/engine/set/remoteSetStore';
import type { BackupSummary } from '../../nodes/Backup/engine/types';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';

/** The lock is another file's business (set/destinationLeaseStore.ts); these cases hold it by construction. */
const held: SetLock = { release: async () => undefined, lost: new AbortController().signal, confirm: async () => undefined, setDeleting: async () => undefined };
const locking = { lock: async (): Promise<SetLock> => held, liveReaders: async () => [], whileReading: <T>(_purpose: string, read: () => Promise<T>): Promise<T> => read() };

function summary(id: string): BackupSummary {
  const zero = { scanned: 1, added: 1, changed: 0, deleted: 0, unchanged: 0, stored: 1 };
  return {
    backupId: id, set: 'docs', source: '/src', type: 'full', base: null, parent: null, storage: 'tar.gz', startedAt: new Date(0).toISOString(),
    finishedAt: new Date(1).toISOString(), files: zero, bytes: { scanned: 1, stored: 1, written: 1 }, errorCount: 0, complete: true, references: [],
  };
}

async function names(dest: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of dest.list(prefix) as AsyncIterable<ListEntry>) out.push(e.name);
  return out.sort();
}

const id = (n: number): string => formatBackupId(new Date(Date.UTC(2026, 0, 1, 0, 0, n)), 'full');

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('remote set store: %s', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let dest: Destination;
  let store: RemoteSetStore;

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 120_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    dest = await subject.open();
    store = new RemoteSetStore(dest, 'docs', locking);
  });
  afterEach(async () => {
    if (subject.unavailable === undefined) await dest.close();
  });

  maybe(title('a backup is listed only once its backup.json is written; discard leaves nothing'), async () => {
    const out = await store.beginBackup(id(1));
    expect(out.localDir).toBeUndefined();
    expect(out.remote?.backupPrefix).toBe(`docs/${id(1)}`);
    await dest.write(`${out.remote?.backupPrefix}/manifest.jsonl.gz`, 'manifest');
    await dest.write(`${out.remote?.backupPrefix}/data.tar.gz`, 'archive');
    expect(await store.listBackups()).toEqual([]);
    let confirmed = 0;
    await out.commit(summaryText(summary(id(1))), async () => {
      confirmed++;
    });
    expect(confirmed).toBe(1);
    expect((await store.listBackups()).map((b) => b.backupId)).toEqual([id(1)]);

    const second = await store.beginBackup(id(2));
    await dest.write(`${second.remote?.backupPrefix}/data.tar.gz`, 'half');
    await second.discard();
    expect(await names(dest, `docs/${id(2)}/`)).toEqual([]);
    expect((await store.listBackups()).map((b) => b.backupId)).toEqual([id(1)]);
  });

  maybe(title('a lost lock before the commit keeps the backup unlisted'), async () => {
    const out = await store.beginBackup(id(1));
    await dest.write(`${out.remote?.backupPrefix}/data.tar.gz`, 'archive');
    const lost = Object.assign(new Error('lost'), { code: 'LOCK_LOST' });
    await expect(out.commit(summaryText(summary(id(1))), () => Promise.reject(lost))).rejects.toBe(lost);
    expect(await store.listBackups()).toEqual([]);
  });

  maybe(title('leftovers of a dead run (no backup.json) are swept; committed backups and other sets are not'), async () => {
    const done = await store.beginBackup(id(1));
    await dest.write(`${done.remote?.backupPrefix}/data.tar.gz`, 'archive');
    await done.commit(summaryText(summary(id(1))));
    await dest.write(`docs/${id(2)}/data.tar.gz`, 'a run killed before its commit');
    await dest.write(`other/${id(3)}/data.tar.gz`, 'another set, being written');
    expect(await store.removeLeftovers()).toEqual([id(2)]);
    expect(await names(dest, `docs/${id(2)}/`)).toEqual([]);
    expect(await names(dest, `docs/${id(1)}/`)).toEqual([`docs/${id(1)}/backup.json`, `docs/${id(1)}/data.tar.gz`]);
    expect(await names(dest, 'other/')).toEqual([`other/${id(3)}/data.tar.gz`]);
  });

  maybe(title('a damaged backup.json lists the backup as incomplete; a delete unlists it first, then removes all of it'), async () => {
    await dest.write(`docs/${id(1)}/backup.json`, '{"backupId": "not this one"');
    await dest.write(`docs/${id(1)}/data.tar.gz`, 'archive');
    const [listed] = await store.listBackups();
    expect(listed).toMatchObject({ backupId: id(1), complete: false });
    await store.removeBackup(id(1));
    expect(await names(dest, 'docs/')).toEqual([]);
    expect(await store.listBackups()).toEqual([]);
  });

  maybe(title('key files: the set copy and a backup copy, absent ones undefined'), async () => {
    expect(await store.readKeyText()).toBeUndefined();
    await store.writeKeyText('{"key": 1}\n');
    expect(await store.readKeyText()).toBe('{"key": 1}\n');
    const out = await store.beginBackup(id(1));
    await out.writeKeyText('{"key": 2}\n');
    expect(await store.readKeyText(id(1))).toBe('{"key": 2}\n');
    expect(await store.readKeyText(id(2))).toBeUndefined();
    expect(store.where).toMatch(label === 'local' ? /\/docs$/ : label === 's3' ? /^s3:\/\/.*\/docs$/ : /^sftp:\/\/.*\/docs$/);
  });
});
