import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/cli';
import { tempDirs } from '../helpers/fixtures';

// The AWS SDK and ssh2 load only for S3 and SFTP destinations (about 250 ms of every start otherwise).
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

test('a backup to a local folder, run by the built engine, never loads the AWS SDK or ssh2', async () => {
  const root = await dirs.make();
  await fsp.mkdir(path.join(root, 'src'));
  await fsp.writeFile(path.join(root, 'src', 'a.txt'), 'a');
  const script = `
    const engine = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'nodes', 'Backup', 'engine'))});
    engine.runBackup({ sources: [process.argv[1]], destination: process.argv[2], type: 'full', setName: 'set' }).then(([outcome]) => {
      if (!outcome.ok) throw outcome.error;
      const loaded = Object.keys(require.cache).filter((file) => /[\\\\/]node_modules[\\\\/](@aws-sdk|@smithy|ssh2)[\\\\/]/.test(file));
      console.log(JSON.stringify(loaded));
    });`;
  const out = execFileSync(process.execPath, ['-e', script, path.join(root, 'src'), path.join(root, 'dest')], { encoding: 'utf8' });
  expect(JSON.parse(out.trim().split('\n').pop() as string)).toEqual([]);
});
