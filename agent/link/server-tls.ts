// How the agent trusts an https control plane. With a pin (--server-fingerprint, from the join
// command) it accepts exactly that certificate, self-signed ones too, whatever name it carries,
// as ssh's known_hosts does; without one, the system's CAs (or --ca FILE) and the host name, as
// any https client. Enrolment and the socket.io link use the same Agent, so every connection,
// every reconnect included, is checked before a byte of the request (token, credential) leaves.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

/** "sha256:AB:CD:…" (upper case, colons), as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprintOf(der: Buffer): string {
  return 'sha256:' + createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/**
 * A fingerprint as a person pastes it: "sha256:HEX", with or without colons, any case; also
 * openssl's own line ("sha256 Fingerprint=AB:CD:…"). Only SHA-256 is taken.
 */
export function parseFingerprint(s: string, what = '--server-fingerprint'): string {
  const m = /^sha256(?::| fingerprint=)((?:[0-9a-f]{2}:){31}[0-9a-f]{2}|[0-9a-f]{64})$/i.exec(s.trim());
  if (!m) throw new Error(`${what} wants sha256:HEX (the SHA-256 of the server's certificate: 64 hex digits, colons allowed), got ${JSON.stringify(s)}`);
  const hex = m[1].replace(/:/g, '');
  return 'sha256:' + hex.toUpperCase().match(/../g)!.join(':');
}

export class PinMismatchError extends Error {
  constructor(
    readonly server: string,
    readonly expected: string,
    readonly presented: string,
  ) {
    super(
      `refusing ${server}: it presented certificate ${presented}, but this agent is pinned to ${expected} ` +
        '(a man in the middle, or the server has a new certificate: then start the agent with the new --server-fingerprint from the dashboard)',
    );
    this.name = 'PinMismatchError';
  }
}

export interface ServerTrust {
  /** The pinned certificate's fingerprint (parseFingerprint's form). */
  pin?: string;
  /** PEM CA bundle to verify the server with instead of the system's (no pin). */
  ca?: Buffer;
  /** Told of each refused certificate, before the connection is closed. */
  onRefused?: (err: PinMismatchError) => void;
}

/**
 * Pins in createConnection: Node checks a certificate only when it chains to a CA, so with a
 * pin the chain check is off and the fingerprint is compared in 'secureConnect', which Node
 * emits synchronously at the end of the handshake, before it sends the queued request, the
 * same moment its own verification would refuse. A mismatch destroys the socket there.
 */
class PinnedAgent extends https.Agent {
  constructor(
    private readonly pin: string,
    private readonly server: string,
    private readonly onRefused?: (err: PinMismatchError) => void,
  ) {
    // No session cache: every connection shows its certificate afresh.
    super({ keepAlive: false, maxCachedSessions: 0 });
  }

  override createConnection(options: tls.ConnectionOptions): Duplex {
    const socket = tls.connect({ ...options, rejectUnauthorized: false, checkServerIdentity: () => undefined, session: undefined });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const presented = cert?.raw ? fingerprintOf(cert.raw) : '(no certificate)';
      if (presented === this.pin) return;
      const err = new PinMismatchError(this.server, this.pin, presented);
      this.onRefused?.(err);
      socket.destroy(err);
    });
    return socket;
  }
}

/** The https.Agent for a server URL (undefined for http://, where there is nothing to check). */
export function serverAgent(server: string, trust: ServerTrust): https.Agent | undefined {
  if (!server.startsWith('https:')) return undefined;
  if (trust.pin) return new PinnedAgent(trust.pin, server, trust.onRefused);
  return new https.Agent({ keepAlive: false, ...(trust.ca ? { ca: trust.ca } : {}) });
}
