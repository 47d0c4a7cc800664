/**
 * Progress of a node run in n8n's log (ctx.logger, so scheduled runs show it too): a line when the
 * run starts moving with the counts per kind, and the summary at the end, each naming the node.
 * The throttling itself is in test/node/helpers.test.ts.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Backup } from '../../nodes/Backup/Backup.node';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { mockContext } from './harness';

const temp = tempDirs('n8n-backup-progress-');
afterAll(temp.cleanup);

test("backup and restore write progress and their summary to n8n's log, with files, folders, symlinks and bytes", async () => {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
  await fsp.symlink('a.txt', path.join(src, 'link'));
  const dest = path.join(await temp.make(), 'backups');

  const backup = mockContext({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest }, executionId: '7' });
  const [[item]] = await new Backup().execute.call(backup.ctx);
  const prefix = '[Backup node "Backup", execution 7] ';
  // The first entry reports at once (the run has started); the next line would come 15 s later.
  const progress = backup.logs.filter((l) => l.message.includes('so far'));
  expect(progress).toHaveLength(1);
  expect(progress[0]).toMatchObject({ level: 'info', metadata: { phase: 'backup', source: src } });
  expect(progress[0].message).toMatch(new RegExp(`^${escape(prefix)}Backup of ${escape(src)}: \\d files?, \\d folders?, \\d symlinks?, .* scanned so far$`));
  expect(backup.logs[backup.logs.length - 1]).toEqual({ level: 'info', message: `${prefix}${String(item.json.summary)}` });

  const target = path.join(await temp.make(), 'restored');
  const restore = mockContext({ params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: String(item.json.set), targetPath: target } });
  await new Backup().execute.call(restore.ctx);
  expect(restore.logs.filter((l) => l.message.includes('so far'))[0].message).toMatch(/^\[Backup node "Backup"\] Restore into .*: \d files?, \d folders?, \d symlinks?, .* restored so far$/);
  expect(restore.logs[restore.logs.length - 1].message).toContain(': 2 files, 1 folder, 1 symlink; 9 B of file content in ');
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
