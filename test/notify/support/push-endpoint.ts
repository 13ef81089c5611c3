import { createECDH, createPublicKey, createDecipheriv, hkdfSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
const TLS = { key: readFileSync(fixture('notify-push-tls.key')), cert: readFileSync(fixture('notify-push-tls.crt')) };

/** Trusts the push endpoint's self-signed certificate, and nothing else. */
export function pushAgent(): Agent {
  return new Agent({ ca: TLS.cert });
}

/** A browser's side of one push subscription: the keys it registers and the private key to decrypt with. */
export interface TestDevice {
  readonly name: string;
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  readonly privateKey: Buffer;
}

export interface ReceivedPush {
  readonly device: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The decrypted payload (JSON text as the server sent it). */
  readonly payload: string;
  /** The VAPID JWT claims, after its ES256 signature was checked against the `k=` key. */
  readonly vapid: { readonly aud: string; readonly sub: string; readonly exp: number; readonly publicKey: string };
}

/**
 * A real Web Push endpoint over HTTPS on port 0, standing in for FCM or Mozilla's autopush: it takes
 * `POST /push/<device>`, checks the VAPID signature, decrypts the aes128gcm body with the device's
 * keys (RFC 8291: ECDH + HKDF + AES-128-GCM, written here with node:crypto only) and answers 201, or
 * whatever status a test has set for the device (410 for an expired subscription).
 */
export class PushEndpoint {
  readonly received: ReceivedPush[] = [];
  readonly failures: string[] = [];
  private readonly devices = new Map<string, TestDevice>();
  private readonly statuses = new Map<string, number>();
  private server: Server | undefined;
  private base = '';

  async start(): Promise<void> {
    this.server = createServer(TLS, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const name = decodeURIComponent((req.url ?? '').replace(/^\/push\//, ''));
        const status = this.statuses.get(name) ?? 201;
        try {
          const device = this.devices.get(name);
          if (!device) throw new Error(`unknown device ${name}`);
          if (status < 300) {
            const vapid = checkVapid(String(req.headers.authorization ?? ''), this.base);
            if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${String(req.headers['content-encoding'])}`);
            const payload = decryptAes128gcm(Buffer.concat(chunks), device).toString('utf8');
            this.received.push({ device: name, headers: { ...req.headers }, payload, vapid });
          }
          res.writeHead(status).end();
        } catch (err) {
          this.failures.push(err instanceof Error ? err.message : String(err));
          res.writeHead(400).end(String(err));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** A new device: a P-256 key pair and a 16-byte auth secret, as a browser's PushManager makes them. */
  device(name: string): TestDevice {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const device: TestDevice = {
      name,
      endpoint: `${this.base}/push/${encodeURIComponent(name)}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
      privateKey: ecdh.getPrivateKey(),
    };
    this.devices.set(name, device);
    return device;
  }

  /** Makes the endpoint answer `status` for a device from now on (410: the subscription expired). */
  answer(name: string, status: number): void {
    this.statuses.set(name, status);
  }
}

/** RFC 8188 / RFC 8291 decryption of a single-record aes128gcm body. */
export function decryptAes128gcm(body: Buffer, device: TestDevice): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body.readUInt8(20);
  const senderPublicKey = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  if (ciphertext.length > recordSize) throw new Error('more than one record');

  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(device.privateKey);
  const receiverPublicKey = Buffer.from(device.keys.p256dh, 'base64url');
  const sharedSecret = ecdh.computeSecret(senderPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiverPublicKey, senderPublicKey]);
  const ikm = Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.from(device.keys.auth, 'base64url'), keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The plaintext ends with a delimiter (2 for the last record) followed by zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('missing last-record delimiter');
  return padded.subarray(0, end);
}

/** Checks `Authorization: vapid t=<JWT>, k=<public key>`: an ES256 JWT for this origin, signed by k. */
function checkVapid(header: string, origin: string): ReceivedPush['vapid'] {
  const match = /^vapid t=([^,]+),\s*k=(.+)$/.exec(header);
  if (!match) throw new Error(`no VAPID authorization: ${header}`);
  const [, token, publicKey] = match as unknown as [string, string, string];
  const [head, claims, signature] = token.split('.') as [string, string, string];
  const key = vapidKeyObject(publicKey);
  const ok = verify('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!ok) throw new Error('VAPID signature does not verify');
  const parsed = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { aud: string; sub: string; exp: number };
  if (parsed.aud !== origin) throw new Error(`VAPID aud ${parsed.aud} is not ${origin}`);
  if (parsed.exp * 1000 < Date.now()) throw new Error('VAPID token expired');
  return { ...parsed, publicKey };
}

function vapidKeyObject(publicKey: string): KeyObject {
  const raw = Buffer.from(publicKey, 'base64url');
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }, format: 'jwk' });
}
