/**
 * The set lock kept in an object of a destination (DestinationLeaseStore, `<set>/lock.json`) with
 * the lease rules of lock.ts, on every store: a local folder, S3 on moto, SFTP on sshd.
 */
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { Destination } from '../../nodes/Backup/engine/destination/types';
import type { LeaseTiming } from '../../nodes/Backup/engine/set/lease';
import { DestinationLeaseStore, LEASE_OBJECT, lockSetOn } from '../../nodes/Backup/engine/set/destinationLeaseStore';
import { READERS_FOLDER, remoteLocking } from '../../nodes/Backup/engine/set/remoteLocking';
import { readAll } from '../../nodes/Backup/engine/destination/streams';
import type { SetLock } from '../../nodes/Backup/engine/set/lock';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';

// Short, but with room for a loaded machine: a holder whose renewal is late by more than lease +
// margin is rightly taken over, which would fail the tests that expect it to keep the set.
const TIMING: LeaseTiming = { leaseMs: 4000, renewMs: 400, marginMs: 2000 };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('set lock on a destination: %s', (_label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  const opened: Destination[] = [];
  const held: SetLock[] = [];
  const open = async (): Promise<Destination> => {
    const d = withRetries(await subject.open(), { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 });
    opened.push(d);
    return d;
  };
  const lock = async (d: Destination, timeoutMs: number, timing = TIMING): Promise<SetLock> => {
    const got = await lockSetOn(d, 'myset', 'backup', timeoutMs, { timing });
    held.push(got);
    return got;
  };

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 60_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });
  beforeEach(async () => {
    if (subject.unavailable === undefined) await subject.fresh();
  });
  afterEach(async () => {
    for (const l of held.splice(0)) await l.release().catch(() => undefined);
    for (const d of opened.splice(0)) await d.close();
  });

  maybe(title('two acquirers at once (two clients): exactly one holds; the other fails with LOCKED naming it'), async () => {
    const [a, b] = [await open(), await open()];
    const results = await Promise.allSettled([lock(a, 800), lock(b, 800)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: 'LOCKED' });
    expect((refused.reason as Error).message).toMatch(/^Set myset is locked by backup \(pid \d+/);
    expect((refused.reason as { path?: string }).path).toBe(`${a.describe()}/myset/${LEASE_OBJECT}`);
  });

  maybe(title('renewals keep it past its lease: a waiter gets LOCKED, confirm() passes'), async () => {
    const holder = await lock(await open(), 1000);
    const waiting = await lock(await open(), TIMING.leaseMs + TIMING.marginMs + 1000).catch((error: unknown) => error);
    expect(waiting).toMatchObject({ code: 'LOCKED' });
    await holder.confirm();
    expect(holder.lost.aborted).toBe(false);
  }, 30_000);

  maybe(title('a holder that stops renewing is broken only after expiry + margin and taken over; its confirm() then throws LOCK_LOST'), async () => {
    const d = await open();
    // Renews far later than its lease: a stalled run.
    const stalled = await lock(d, 1000, { leaseMs: 1000, renewMs: 600_000, marginMs: TIMING.marginMs });
    const note = (await new DestinationLeaseStore(d, 'myset').read())?.note;
    const expires = Date.parse(note?.expiresAt ?? '');
    expect(Number.isNaN(expires)).toBe(false);
    const taker = await lock(await open(), 15_000);
    const tookAt = Date.now();
    expect(tookAt).toBeGreaterThan(expires + TIMING.marginMs);
    expect(stalled.lost.aborted).toBe(false); // it does not know yet
    await expect(stalled.confirm()).rejects.toMatchObject({ code: 'LOCK_LOST' });
    expect(stalled.lost.aborted).toBe(true);
    // The taker's lease is intact: the loser's failed renewal did not touch it.
    await taker.confirm();
    expect((await new DestinationLeaseStore(d, 'myset').read())?.note?.token).not.toBe(note?.token);
  }, 30_000);

  maybe(title('release gives the set back at once; the next run takes it without waiting'), async () => {
    const d = await open();
    const first = await lock(d, 1000);
    await first.release();
    expect(await new DestinationLeaseStore(d, 'myset').read()).toBeUndefined();
    const started = Date.now();
    const second = await lock(await open(), 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    await second.setDeleting(true);
    expect((await new DestinationLeaseStore(d, 'myset').read())?.note?.deleting).toBe(true);
    await second.release();
    expect(await new DestinationLeaseStore(d, 'myset').read()).toBeUndefined();
    await sleep(10);
  }, 20_000);

  maybe(title('a reader marker is renewed while its read outlasts one lease, and removed when the read ends'), async () => {
    const d = await open();
    const locking = remoteLocking(d, 'myset', { leaseMs: 1000, renewMs: 200, marginMs: 500 });
    const markers = async (): Promise<string[]> => {
      const names: string[] = [];
      for await (const entry of d.list(`myset/${READERS_FOLDER}/`)) if (entry.kind === 'object') names.push(entry.name);
      return names;
    };
    const expiry = async (name: string): Promise<number> => Date.parse((JSON.parse((await readAll(await d.read(name))).toString('utf8')) as { expiresAt: string }).expiresAt);
    const seen = await locking.whileReading('restore', async () => {
      const [marker] = await markers();
      const first = await expiry(marker);
      await sleep(2500);
      return { marker, first, later: await expiry(marker) };
    });
    // Renewed: valid well past where the first note expired (a deleting writer would still wait for it).
    expect(seen.later).toBeGreaterThan(seen.first + 1000);
    expect(await markers()).toEqual([]);
  }, 30_000);

  maybe(title('many acquirers racing for a released lease: exactly one wins each round'), async () => {
    const clients = [await open(), await open(), await open()];
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(clients.map((c) => lock(c, 300)));
      const winners = results.filter((r): r is PromiseFulfilledResult<SetLock> => r.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      await winners[0].value.release();
    }
  }, 30_000);
});
