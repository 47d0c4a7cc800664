/**
 * The fault proxy itself: a cut must let through exactly the bytes it was armed with and nothing
 * after them, as a real connection reset does (TCP delivers a prefix of the stream or nothing).
 * It once went on forwarding the chunks it had already read from the server until the socket was
 * destroyed a tick later, while the rest of the cut chunk was dropped: a client that read them in
 * time saw a hole in the stream. That was the S3 resumed-read mismatch under load (right length,
 * wrong bytes from the cut point on): the client resumed correctly after bytes that were not the
 * object's.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { FaultProxy } from '../helpers/faultProxy';

/** Blocks the event loop: the server's bytes queue up, then the proxy reads many chunks in one go. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('a cut forwards exactly the armed bytes, also when many chunks were read at once; the client gets a prefix', async () => {
  const bytes = randomBytes(8 * 1024 * 1024);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = await FaultProxy.start((server.address() as net.AddressInfo).port);
  try {
    for (let round = 0; round < 5; round++) {
      const afterBytes = 1024 * 1024 + round * 777;
      const before = proxy.down;
      proxy.arm({ kind: 'cut', afterBytes, direction: 'down', scope: 'once' });
      const got = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const client = net.connect(proxy.port, '127.0.0.1');
        client.once('connect', () => busy(50));
        client.on('data', (chunk: Buffer) => chunks.push(chunk));
        client.on('error', () => undefined);
        client.on('close', () => resolve(Buffer.concat(chunks)));
      });
      expect(proxy.down - before).toBe(afterBytes);
      expect(got.length).toBeLessThanOrEqual(afterBytes);
      expect(got.equals(bytes.subarray(0, got.length))).toBe(true);
    }
    expect(proxy.faultsHit).toBe(5);
  } finally {
    await proxy.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
