import * as path from 'node:path';
import type { DestinationOptions } from '../destination';
import { openDestination, parseDestinationUrl } from '../destination';
import type { Destination } from '../destination/types';
import { assertSetName } from '../paths';
import { LocalSetStore } from './localSetStore';
import { remoteLocking } from './remoteLocking';
import { RemoteSetStore } from './remoteSetStore';
import type { SetStore } from './setStore';

/** A destination as the operations see it: a local folder, or an opened remote store. */
export type OpenedDestination = { kind: 'local'; path: string } | { kind: 'remote'; dest: Destination };

/** Opens what `destination` names (a folder, s3://, sftp://); remote ones are checked to be there. */
export async function openDestinationFor(destination: string, options: DestinationOptions = {}): Promise<OpenedDestination> {
  const url = parseDestinationUrl(destination);
  if (url.kind === 'local') return { kind: 'local', path: path.resolve(destination) };
  return { kind: 'remote', dest: await openDestination(destination, options) };
}

/** The set `set` in an opened destination. */
export function setStoreIn(opened: OpenedDestination, set: string): SetStore {
  assertSetName(set);
  if (opened.kind === 'local') return new LocalSetStore(opened.path, set);
  return new RemoteSetStore(opened.dest, set, remoteLocking(opened.dest, set));
}

/** Closes a remote destination's connections; nothing to do for a folder. */
export async function closeDestination(opened: OpenedDestination): Promise<void> {
  if (opened.kind === 'remote') await opened.dest.close();
}
