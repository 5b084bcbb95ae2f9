import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { credentialPath, readCredential, writeCredential } from '../../agent/link/credential';
import { EnrollError, enroll, ensureCredential } from '../../agent/link/enroll';

describe('stored host credential', () => {
  it('reads back what was written, and calls a damaged file damaged, naming it', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'berth-cred-'));
    try {
      assert.equal(readCredential(root), undefined);
      writeCredential(root, { server: 'http://cp:3000', hostId: 'h1', credential: 'c1' });
      assert.deepEqual(readCredential(root), { server: 'http://cp:3000', hostId: 'h1', credential: 'c1' });
      for (const text of ['{"hostId": "h1", "cred', 'null', '{"hostId": "h1"}']) {
        writeFileSync(credentialPath(root), text);
        assert.throws(() => readCredential(root), new RegExp(`${credentialPath(root)} is damaged.*--token`), text);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('enrolment', () => {
  it('gives up on a server that takes the connection and never answers, as a retryable error, and hangs up', { timeout: 30_000 }, async () => {
    let asked: () => void = () => {};
    const requested = new Promise<void>((r) => (asked = r));
    let hungUp: () => void = () => {};
    const closed = new Promise<void>((r) => (hungUp = r));
    const sockets = new Set<Socket>();
    const server = http.createServer(() => asked() /* and never answers */);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => hungUp());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // The message is only given when the deadline fired, not for any other failure.
      await assert.rejects(
        enroll(url, 'token', 'host', 300),
        (e: unknown) => e instanceof EnrollError && e.retryable && /no answer within 0.3 s/.test(e.message),
      );
      await requested;
      // Giving up closes the connection instead of leaving it open to a server that may never answer.
      await closed;
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the pinned server certificate kept with the credential', () => {
  const PIN_A = 'sha256:' + Array.from({ length: 32 }, () => 'AB').join(':');
  const PIN_B = 'sha256:' + Array.from({ length: 32 }, () => 'CD').join(':');
  it('holds across restarts without the flag, is replaced by a new --server-fingerprint, and refuses a plain http server', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'berth-pin-'));
    try {
      writeCredential(root, { server: 'https://cp:3000', hostId: 'h1', credential: 'c1', serverFingerprint: PIN_A });
      // A restart with no pin on the command line keeps the stored one.
      assert.equal((await ensureCredential({ root, server: 'https://cp:3000' })).serverFingerprint, PIN_A);
      await assert.rejects(ensureCredential({ root, server: 'http://cp:3000' }), (e: unknown) => e instanceof EnrollError && e.message.includes(`pins the server's certificate (${PIN_A}), but --server http://cp:3000 is not https://`));
      const logged: string[] = [];
      assert.equal((await ensureCredential({ root, server: 'https://cp:3000', pin: PIN_B, log: (m) => logged.push(m) })).serverFingerprint, PIN_B);
      assert.deepEqual(logged, [`server certificate pin changed from ${PIN_A} to ${PIN_B} (--server-fingerprint)`]);
      assert.deepEqual(readCredential(root), { server: 'https://cp:3000', hostId: 'h1', credential: 'c1', serverFingerprint: PIN_B });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
