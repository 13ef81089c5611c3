/**
 * Socket.IO clients of the load generator: the same socket.io-client code for Parley and the bare relay
 * (websocket transport, no reconnection); only the handshake's `auth` differs. Connections are opened
 * with bounded concurrency and spread over source addresses 127.0.0.1 … 127.0.0.N (N = `sourceAddresses`),
 * so tens of thousands of sockets do not run out of ephemeral ports.
 */
import { io as connect, type Socket } from 'socket.io-client';

export type Client = Socket;

export interface ConnectOptions {
  /** Parallel handshakes (default 100). */
  readonly concurrency?: number;
  /** How many 127.0.0.x source addresses to rotate through (default 1: the kernel's choice). */
  readonly sourceAddresses?: number;
  readonly timeoutMs?: number;
}

export function connectOne(url: string, auth: Record<string, unknown>, localAddress?: string, timeoutMs = 30_000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect(url, {
      auth,
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      ...(localAddress ? { localAddress } : {}),
    } as Parameters<typeof connect>[1]);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Connects one socket per `auths` entry; resolves in the same order. */
export async function connectMany(url: string, auths: readonly Record<string, unknown>[], options: ConnectOptions = {}): Promise<Client[]> {
  const out: Client[] = new Array(auths.length);
  const concurrency = options.concurrency ?? 100;
  const sources = options.sourceAddresses ?? 1;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= auths.length) return;
      const source = sources > 1 ? `127.0.0.${(i % sources) + 1}` : undefined;
      out[i] = await connectOne(url, auths[i]!, source, options.timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, auths.length) }, worker));
  return out;
}

export function closeAll(clients: readonly (Client | undefined)[]): void {
  for (const c of clients) c?.close();
}

/** JSON over HTTP to Parley's REST API. */
export async function api<T = any>(url: string, method: string, path: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** 100 bytes of message text. */
export const TEXT_100 = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789abcd';
