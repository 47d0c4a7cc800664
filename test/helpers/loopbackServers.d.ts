/** Types of loopbackServers.js (plain CommonJS, shared with the benchmark). */
export const SSHD: string;

export function freePort(): Promise<number>;

export interface Moto {
  endpoint: string;
  port: number;
  pid: number;
  /** Wipes every bucket (moto keeps all in memory). */
  reset(): Promise<void>;
  stop(): Promise<void>;
  /** SIGTERM by PID without waiting, for a process 'exit' handler. */
  killNow(): void;
}

export interface Sshd {
  port: number;
  pid: number;
  /** Holds the keys and the config (removed by stop()). */
  dir: string;
  /** `ssh-ed25519 AAAA...`: the server's public key. */
  hostKey: string;
  /** A known_hosts file naming this server (`[127.0.0.1]:port ssh-ed25519 ...`). */
  knownHosts: string;
  clientKey: string;
  user: string;
  stop(): Promise<void>;
  /** SIGTERM by PID without waiting and removes the folder, for a process 'exit' handler. */
  killNow(): void;
}

export function startMoto(): Promise<Moto>;
/** sshd on loopback with a throwaway host key and one authorized client key, as the user running it. */
export function startSshd(): Promise<Sshd>;
/** Makes a throwaway ed25519 key pair in `dir`; its private key file (encrypted with `passphrase` when given). */
export function makeKey(dir: string, name: string, passphrase?: string): string;
