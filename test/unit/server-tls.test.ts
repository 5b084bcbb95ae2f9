// TLS on both ends of the link, with certificates made by the real openssl: the control plane's
// BERTH_TLS_CERT/KEY checks and its fingerprint (as openssl prints it), the agent's pin (the
// right certificate is taken, self-signed too; another is refused before a byte of the request
// leaves, enrolment included), its --server-fingerprint/--ca flags, and the server's request
// timeouts: a long upload lives while bytes flow or while the server holds it back, a stalled
// one is cut after the idle timeout.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { parseFlags } from '../../agent/flags';
import { EnrollError, enroll } from '../../agent/link/enroll';
import { PinMismatchError, parseFingerprint, serverAgent } from '../../agent/link/server-tls';
import { createControlPlaneServer, guardBodyIdle, loadTls, timeoutsFromEnv, type HttpTimeouts } from '../../server/http/tls';
import { makeCert, type TestCert } from '../fixtures/tls';

let dir: string;
let a: TestCert;
let b: TestCert;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-tls-unit-'));
  a = makeCert(dir, 'a');
  b = makeCert(dir, 'b');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the control plane reads BERTH_TLS_CERT / BERTH_TLS_KEY', () => {
  it('is plain http with neither, and takes a matching pair, with the fingerprint openssl prints', () => {
    assert.equal(loadTls({}), null);
    const t = loadTls({ BERTH_TLS_CERT: a.certFile, BERTH_TLS_KEY: a.keyFile })!;
    assert.equal(t.fingerprint, a.fingerprint);
    assert.match(t.fingerprint, /^sha256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('refuses one without the other, an unreadable file, a file that is no PEM, and a key that is not the certificate’s', () => {
    assert.throws(() => loadTls({ BERTH_TLS_CERT: a.certFile }), /BERTH_TLS_CERT is set but BERTH_TLS_KEY is not/);
    assert.throws(() => loadTls({ BERTH_TLS_KEY: a.keyFile }), /BERTH_TLS_KEY is set but BERTH_TLS_CERT is not/);
    const missing = path.join(dir, 'nope.pem');
    assert.throws(() => loadTls({ BERTH_TLS_CERT: missing, BERTH_TLS_KEY: a.keyFile }), new RegExp(`BERTH_TLS_CERT: cannot read ${missing}: ENOENT`));
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    assert.throws(() => loadTls({ BERTH_TLS_CERT: junk, BERTH_TLS_KEY: a.keyFile }), new RegExp(`BERTH_TLS_CERT: ${junk} is not a PEM certificate`));
    assert.throws(() => loadTls({ BERTH_TLS_CERT: a.certFile, BERTH_TLS_KEY: junk }), new RegExp(`BERTH_TLS_KEY: ${junk} is not a PEM private key`));
    assert.throws(() => loadTls({ BERTH_TLS_CERT: a.certFile, BERTH_TLS_KEY: b.keyFile }), new RegExp(`BERTH_TLS_KEY: ${b.keyFile} is not the private key of the certificate in ${a.certFile}`));
  });
});

describe('the agent pins the server certificate', () => {
  /** A TLS server that records every byte of application data it is sent, and answers HTTP 200 to whatever comes. */
  const recordingServer = async (cert: TestCert) => {
    const received: Buffer[] = [];
    const server = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => {
      s.on('data', (d: Buffer) => {
        received.push(d);
        if (Buffer.concat(received).includes('\r\n\r\n')) s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 38\r\nconnection: close\r\n\r\n{"hostId":"h1","credential":"c-secret"}'.slice(0, 999));
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
  };
  const get = (url: string, agent: https.Agent | undefined) =>
    new Promise<number>((resolve, reject) => {
      const req = https.request(url, { method: 'POST', agent, headers: { authorization: 'Bearer credential-secret' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{"token":"join-secret"}');
    });

  it('takes the pinned self-signed certificate, under any name (127.0.0.1 here)', async () => {
    const srv = await recordingServer(a);
    try {
      assert.equal(await get(srv.url, serverAgent(srv.url, { pin: a.fingerprint })), 200);
      assert.match(Buffer.concat(srv.received).toString(), /join-secret/);
    } finally {
      await srv.close();
    }
  });

  it('refuses another certificate naming both fingerprints, and the impostor gets not one byte of the request', async () => {
    const srv = await recordingServer(b);
    const refused: PinMismatchError[] = [];
    try {
      await assert.rejects(get(srv.url, serverAgent(srv.url, { pin: a.fingerprint, onRefused: (e) => refused.push(e) })), (e: unknown) => e instanceof PinMismatchError);
      assert.equal(refused.length, 1);
      assert.ok(refused[0].message.includes(`presented certificate ${b.fingerprint}`) && refused[0].message.includes(`pinned to ${a.fingerprint}`), refused[0].message);
      // Enrolment: refused for good (not retried), the token never sent.
      await assert.rejects(enroll(srv.url, 'join-secret', 'host', 5_000, { pin: a.fingerprint }), (e: unknown) => e instanceof EnrollError && !e.retryable && e.message.includes(b.fingerprint) && e.message.includes(a.fingerprint));
      // The handshake ran: the impostor was reached, and heard nothing.
      assert.equal(Buffer.concat(srv.received).length, 0);
    } finally {
      await srv.close();
    }
  });

  it('without a pin, verifies against the system CAs (a self-signed one fails), or against --ca', async () => {
    const srv = await recordingServer(a);
    try {
      await assert.rejects(get(srv.url, serverAgent(srv.url, {})), /self-signed certificate/);
      assert.equal(await get(srv.url, serverAgent(srv.url, { ca: a.cert })), 200);
      await assert.rejects(get(srv.url, serverAgent(srv.url, { ca: b.cert })), /self-signed certificate/);
    } finally {
      await srv.close();
    }
  });

  it('takes a fingerprint as openssl prints it, with or without colons, and refuses others by name', () => {
    const hex = a.fingerprint.slice('sha256:'.length);
    for (const s of [a.fingerprint, `sha256:${hex.replace(/:/g, '')}`, `sha256:${hex.toLowerCase()}`, `sha256 Fingerprint=${hex}`]) assert.equal(parseFingerprint(s), a.fingerprint, s);
    for (const s of [hex, 'sha1:' + hex, 'sha256:' + hex.slice(3), 'sha256:' + 'g'.repeat(64), `sha256:${hex.replace(/:/g, '').slice(0, 62)}:ab`]) {
      assert.throws(() => parseFingerprint(s), /--server-fingerprint wants sha256:HEX/, s);
    }
  });

  it('flags: a pin or a CA only with an https server, not both, and a CA file that holds a certificate', () => {
    const f = parseFlags(['--server', 'https://cp.example:3000', '--server-fingerprint', a.fingerprint.toLowerCase()]);
    assert.ok(f !== 'help' && f.serverFingerprint === a.fingerprint);
    assert.throws(() => parseFlags(['--server', 'http://cp:3000', '--server-fingerprint', a.fingerprint]), /--server-fingerprint needs an https:\/\/ --server, got http:\/\/cp:3000/);
    assert.throws(() => parseFlags(['--server-fingerprint', a.fingerprint]), /--server-fingerprint needs an https:\/\/ --server$/);
    assert.throws(() => parseFlags(['--server', 'https://cp', '--server-fingerprint', a.fingerprint, '--ca', a.certFile]), /exclude each other/);
    assert.throws(() => parseFlags(['--server', 'https://cp', '--ca', a.keyFile]), /holds no PEM certificate/);
    assert.throws(() => parseFlags(['--server', 'https://cp', '--ca', path.join(dir, 'none.pem')]), /--ca: cannot read .*none.pem/);
    const c = parseFlags(['--server', 'https://cp', '--ca', a.certFile]);
    assert.ok(c !== 'help' && c.ca?.equals(a.cert));
  });
});

describe('request timeouts of the control plane', () => {
  const SHORT: HttpTimeouts = { headersTimeoutMs: 500, bodyIdleTimeoutMs: 500, checkIntervalMs: 100 };

  it('has no whole-request limit (Node’s 300 s requestTimeout would cut a long upload), and keeps the head’s limit', () => {
    const s = createControlPlaneServer(null);
    assert.equal(s.requestTimeout, 0);
    assert.equal(s.headersTimeout, 60_000);
    const t = createControlPlaneServer(loadTls({ BERTH_TLS_CERT: a.certFile, BERTH_TLS_KEY: a.keyFile }));
    assert.ok(t instanceof https.Server);
    assert.equal(t.requestTimeout, 0);
    assert.deepEqual(timeoutsFromEnv({ BERTH_REQUEST_IDLE_TIMEOUT: '2' }), { bodyIdleTimeoutMs: 2000, headersTimeoutMs: 2000, checkIntervalMs: 500 });
    assert.throws(() => timeoutsFromEnv({ BERTH_REQUEST_IDLE_TIMEOUT: '0' }), /BERTH_REQUEST_IDLE_TIMEOUT must be a positive number of seconds, got "0"/);
  });

  for (const secure of [false, true]) {
    describe(secure ? 'over https' : 'over http', () => {
      let server: http.Server;
      let port: number;
      /** ms the handler waits before it reads the body (it holds the upload back). */
      let holdMs = 0;
      before(async () => {
        server = createControlPlaneServer(secure ? loadTls({ BERTH_TLS_CERT: a.certFile, BERTH_TLS_KEY: a.keyFile }) : null, SHORT);
        server.on('request', (req, res) => {
          setTimeout(() => {
            let n = 0;
            req.on('data', (d: Buffer) => (n += d.length));
            req.on('end', () => res.end(JSON.stringify({ bytes: n })));
          }, holdMs);
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        port = (server.address() as AddressInfo).port;
      });
      after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

      /** Sends `pieces` of `size` bytes, `gapMs` apart (then `stallMs` of nothing before the last); the status, answer and whether the server closed the connection. */
      const upload = (pieces: number, size: number, gapMs: number, stallMs = 0) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = (secure ? https : http).request({ host: '127.0.0.1', port, method: 'POST', path: '/up', rejectUnauthorized: false, headers: { 'content-length': pieces * size } }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          let sent = 0;
          const next = () => {
            if (req.destroyed) return;
            req.write(Buffer.alloc(size, 7));
            if (++sent < pieces) setTimeout(next, sent === pieces - 1 ? gapMs + stallMs : gapMs);
            else req.end();
          };
          next();
        });

      it('an upload that takes many idle periods lives while its bytes flow', async () => {
        holdMs = 0;
        // 20 pieces 150 ms apart: 3 s, six times the idle timeout.
        assert.deepEqual(await upload(20, 1000, 150), { status: 200, body: JSON.stringify({ bytes: 20_000 }) });
      });

      it('an upload the server holds back (the agent is slower) is not the client’s silence', async () => {
        holdMs = 1500;
        // 8 MB cannot all be buffered: the client is stopped by backpressure while the handler waits.
        assert.deepEqual(await upload(8, 1 << 20, 0), { status: 200, body: JSON.stringify({ bytes: 8 << 20 }) });
      });

      it('an upload that stops sending is ended with 408 after the idle timeout', async () => {
        holdMs = 0;
        const r = await upload(3, 1000, 50, 3000).catch((err: Error) => ({ status: -1, body: err.message }));
        assert.equal(r.status, 408, r.body);
        assert.match(r.body, /request body stalled: nothing received for 0.5 s/);
      });
    });
  }
});
