/**
 * A TCP proxy on loopback that forwards to a server and can cut or stall the traffic after a
 * number of bytes: the network faults the destination tests need, on real connections.
 */
import * as net from 'node:net';

export interface Fault {
  kind: 'cut' | 'stall';
  /** Bytes let through (in `direction`) before the fault hits. */
  afterBytes: number;
  /** client -> server (an upload) or server -> client (a download). */
  direction: 'up' | 'down';
  /** `once`: the next connection to reach the count, then the proxy heals; `every`: each connection. */
  scope: 'once' | 'every';
  /** Runs when the fault hits (a test changes the store between a cut and the retry). */
  onHit?: () => void;
}

export class FaultProxy {
  /** Bytes forwarded so far, each way. */
  up = 0;
  down = 0;
  faultsHit = 0;
  private fault: Fault | undefined;
  private onceLeft = 0;
  /** Bumped by arm(): connections opened before it start counting afresh (kept-alive sockets too). */
  private generation = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = net.createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** Arms a fault; `once` counts from now across connections. */
  arm(fault: Fault): void {
    this.fault = fault;
    this.onceLeft = fault.afterBytes;
    this.generation++;
  }

  heal(): void {
    this.fault = undefined;
  }

  private accept(client: net.Socket, targetPort: number): void {
    const server = net.connect(targetPort, '127.0.0.1');
    // Small requests must not wait for Nagle's delayed ACK (40 ms a round trip over SFTP).
    client.setNoDelay(true);
    server.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(server);
    let perConnection = { generation: -1, up: 0, down: 0 };
    // Set when the fault hits: nothing more is forwarded on this connection, either way. (A cut used
    // to go on forwarding until its socket was destroyed a tick later: chunks already read from the
    // server went through after the cut point while the rest of the cut chunk was dropped, so the
    // client got a stream with a hole in it, which TCP never gives. The S3 resumed-read test then
    // saw the right length and wrong bytes from the cut point on.)
    let halted = false;
    const kill = (): void => {
      client.resetAndDestroy();
      server.resetAndDestroy();
    };
    const forward = (from: net.Socket, to: net.Socket, direction: 'up' | 'down'): void => {
      from.on('data', (chunk: Buffer) => {
        if (halted) return;
        const fault = this.fault;
        let allowed = chunk.length;
        if (fault !== undefined && fault.direction === direction) {
          if (perConnection.generation !== this.generation) perConnection = { generation: this.generation, up: fault.afterBytes, down: fault.afterBytes };
          const left = fault.scope === 'once' ? this.onceLeft : perConnection[direction];
          allowed = Math.min(chunk.length, Math.max(0, left));
          if (fault.scope === 'once') this.onceLeft -= allowed;
          else perConnection = { ...perConnection, [direction]: left - allowed };
          if (allowed < chunk.length || left - allowed <= 0) {
            if (allowed > 0) to.write(chunk.subarray(0, allowed));
            this[direction] += allowed;
            this.faultsHit++;
            halted = true;
            fault.onHit?.();
            if (fault.scope === 'once') this.fault = undefined;
            if (fault.kind === 'cut') setImmediate(kill);
            return;
          }
        }
        this[direction] += chunk.length;
        to.write(chunk);
      });
    };
    forward(client, server, 'up');
    forward(server, client, 'down');
    const drop = (): void => {
      this.sockets.delete(client);
      this.sockets.delete(server);
      kill();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
  }

  /** Cuts every connection now (a network drop). */
  cutAll(): void {
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
