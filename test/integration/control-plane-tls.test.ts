// The control plane over TLS, with certificates made by the real openssl: it refuses half a TLS
// setting by name; signs in with Secure cookies; the join command pins its certificate; a real
// agent process started with that command enrols and streams; a man in the middle on loopback
// (another certificate) is refused at enrolment and at a reconnect, naming both fingerprints,
// and is sent not one byte (no token, no credential); the real docker CLI verifies the
// self-signed certificate through the proxy (--tlsverify --tlscacert); credential rotation
// (the old credential refused by a raw socket.io client afterwards, the agent back with the new
// one after a restart, an offline host refused by name, a rotation cut short completed by the
// agent's next handshake); and a slow `docker load` upload through the proxy that outlives the
// idle timeout while its bytes flow, a stalled one cut after it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createTRPCClient, httpLink } from '@trpc/client';
import Database from 'better-sqlite3';
import { io as ioClient } from 'socket.io-client';
import superjson from 'superjson';
import { readCredential, writeCredential } from '../../agent/link/credential';
import { AGENT_NAMESPACE } from '../../protocol/agent-link';
import { hashSecret } from '../../server/auth/tokens';
import { splitShellWords } from '../../protocol/shell-words';
import type { AppRouter } from '../../server/trpc/router';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { fetchWithCa, makeCert, type TestCert } from '../fixtures/tls';
import { removeCgroupParent } from '../fixtures/processes';
import { cgroupParentFor } from '../../agent/engine/index';
import { codeOf, ensureNextBuild, eventually, removeDir, spawnTsx, startControlPlane, type ControlPlane } from './support/control-plane';

const OWNER = { email: 'tls-owner@example.test', name: 'Tls Owner', password: 'owner-pass-1' };
const PATIENCE_MS = 60_000;
const IDLE_S = 2;

/** A TLS server that says nothing and records every byte of application data sent to it: the man in the middle. */
async function impostor(cert: TestCert, port = 0) {
  const received: Buffer[] = [];
  let handshakes = 0;
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => {
    handshakes++;
    s.on('data', (d: Buffer) => received.push(d));
    s.on('error', () => {});
  });
  // A client that refuses the certificate ends the handshake with an alert: not an error of ours.
  server.on('tlsClientError', () => handshakes++);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    bytes: () => Buffer.concat(received).length,
    attempts: () => handshakes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('the control plane over TLS', { timeout: 600_000 }, () => {
  let tmp: string;
  let cert: TestCert;
  let other: TestCert;
  let cp: ControlPlane;
  let url: string;
  let fetchCa: typeof fetch;
  let api: ReturnType<typeof trpcOver>;
  let agent: AgentProcess;
  let hostId: string;
  let teamId: string;
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  let image: string;
  const env = () => ({ BERTH_TLS_CERT: cert.certFile, BERTH_TLS_KEY: cert.keyFile, BERTH_REQUEST_IDLE_TIMEOUT: String(IDLE_S) });

  function trpcOver(cookie?: string) {
    return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, fetch: fetchCa, headers: () => (cookie ? { cookie } : {}) })] });
  }
  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const hostRow = () => sql((db) => db.prepare('SELECT credentialHash, pendingCredentialHash FROM "Host" WHERE id = ?').get(hostId)) as { credentialHash: string; pendingCredentialHash: string | null };
  const online = (want = true) => eventually(`host ${want ? 'online' : 'offline'}`, async () => (await api.hosts.get.query({ hostId })).online === want, PATIENCE_MS);
  /** The join command's agent flags (--server, --server-fingerprint, --token), as a user pastes them. */
  const joinFlags = (command: string) => {
    const words = splitShellWords(command);
    return words.slice(words.indexOf('--server'));
  };
  /** A raw socket.io handshake as an agent makes it; 'connected' or the server's refusal. */
  const handshake = (credential: string) =>
    new Promise<string>((resolve) => {
      const s = ioClient(url + AGENT_NAMESPACE, { transports: ['websocket'], ca: cert.cert.toString(), reconnection: false, auth: { hostId, credential } });
      s.on('connect', () => {
        s.disconnect();
        resolve('connected');
      });
      s.on('connect_error', (err) => {
        s.disconnect();
        resolve(err.message);
      });
    });

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-tls-'));
    cert = makeCert(tmp, 'server');
    other = makeCert(tmp, 'impostor');
    fetchCa = fetchWithCa(cert.cert);
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'tls/busybox', 'v1')).ref;
    cp = await startControlPlane(undefined, { env: env() });
    url = `https://localhost:${cp.port}`;
    api = trpcOver();
  });

  after(async () => {
    try {
      for (const a of [agent]) {
        if (!a) continue;
        for (const id of a.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) a.docker(['rm', '-f', id]);
        await a.stop();
      }
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('refuses to start with half a TLS setting, an unreadable file, or a key that is not the certificate’s, saying which', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ BERTH_TLS_CERT: cert.certFile }, /cannot start: BERTH_TLS_CERT is set but BERTH_TLS_KEY is not/],
      [{ BERTH_TLS_CERT: cert.certFile, BERTH_TLS_KEY: path.join(tmp, 'missing.pem') }, /cannot start: BERTH_TLS_KEY: cannot read .*missing\.pem: ENOENT/],
      [{ BERTH_TLS_CERT: cert.certFile, BERTH_TLS_KEY: other.keyFile }, /cannot start: BERTH_TLS_KEY: .*impostor-key\.pem is not the private key of the certificate in .*server\.pem/],
      [{ BERTH_TLS_CERT: cert.certFile, BERTH_TLS_KEY: cert.keyFile, NEXTAUTH_URL: 'http://cp.example:3000' }, /NEXTAUTH_URL is http:\/\/cp\.example:3000 but BERTH_TLS_CERT makes this server https/],
    ];
    for (const [tlsEnv, message] of cases) {
      const dir = mkdtempSync(path.join(tmp, 'refused-'));
      const child = spawnTsx(['server/main.ts'], { PORT: '0', BERTH_DATA_DIR: dir, NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '', BERTH_TLS_CERT: '', BERTH_TLS_KEY: '', ...tlsEnv }, 'refused');
      assert.equal(await child.exited, 1, child.lines.join('\n'));
      assert.ok(child.lines.some((l) => message.test(l)), `${message} in:\n${child.lines.join('\n')}`);
      assert.ok(!child.lines.some((l) => /control plane on/.test(l)));
    }
  });

  test('serves sign-in over https with Secure cookies; the join command pins the certificate as openssl prints it', async () => {
    assert.ok(cp.child.lines.some((l) => l.includes(`control plane on https://localhost:${cp.port}`) && l.includes(cert.fingerprint)), cp.child.lines.join('\n'));
    await api.auth.setup.mutate(OWNER);
    const csrf = await fetchCa(`${url}/api/auth/csrf`);
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const res = await fetchCa(`${url}/api/auth/callback/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrf.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') },
      body: new URLSearchParams({ csrfToken, email: OWNER.email, password: OWNER.password, json: 'true' }),
    });
    const session = res.headers.getSetCookie().find((c) => c.startsWith('__Secure-next-auth.session-token='));
    assert.ok(session, `a __Secure- session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
    assert.match(session, /;\s*Secure/i);
    api = trpcOver(session.split(';')[0]);
    teamId = (await api.account.me.query()).teams[0].id;

    const made = await api.hosts.createJoinToken.mutate({ name: 'tls-edge' });
    assert.equal(made.server, url);
    assert.equal(made.fingerprint, cert.fingerprint);
    assert.match(made.command, new RegExp(`--server ${url} --server-fingerprint ${cert.fingerprint} --token bjt_`));

    // The agent, started with exactly those flags: enrols, keeps the pin with its credential, and streams its state.
    agent = await startAgentProcess('tls-agent', { flags: joinFlags(made.command) });
    const host = await eventually('the host online with its facts', async () => (await api.hosts.list.query()).find((h) => h.name === 'tls-edge' && h.online && h.info), PATIENCE_MS);
    hostId = host.id;
    assert.equal(readCredential(agent.root)?.serverFingerprint, cert.fingerprint);
    // A change on the host reaches the dashboard over the pinned link.
    agent.ok(['pull', image]);
    await eventually('the pulled image on the host page', async () => (await api.hosts.get.query({ hostId })).images.some((i) => i.repoTags.includes(image)), PATIENCE_MS);
  });

  test('a man in the middle with another certificate gets nothing: the enrolment is refused before the token leaves', async () => {
    const mitm = await impostor(other);
    try {
      const { command } = await api.hosts.createJoinToken.mutate({ name: 'never-enrolled' });
      const flags = joinFlags(command);
      flags[flags.indexOf('--server') + 1] = mitm.url;
      // Spawned here, not with the fixture: it refuses and exits within moments of starting.
      const root = path.join(tmp, 'victim-root');
      const victim = spawnTsx(['agent/main.ts', '--root', root, '--docker-socket', path.join(tmp, 'victim.sock'), ...flags], {}, 'victim');
      const code = await victim.exited;
      removeCgroupParent(cgroupParentFor(root));
      assert.equal(code, 1, victim.lines.join('\n'));
      const line = victim.lines.find((l) => l.includes('refusing'));
      assert.ok(line, victim.lines.join('\n'));
      assert.ok(line.includes(`refusing ${mitm.url}: it presented certificate ${other.fingerprint}, but this agent is pinned to ${cert.fingerprint}`), line);
      assert.ok(mitm.attempts() >= 1, 'the agent did reach the impostor');
      assert.equal(mitm.bytes(), 0, 'the impostor was sent no request (no join token)');
      assert.equal(readCredential(root), undefined);
    } finally {
      await mitm.close();
    }
  });

  test('… and at every reconnect of an enrolled agent: its credential never reaches the impostor, and the real server has it back', async () => {
    await cp.stop();
    const mitm = await impostor(other, cp.port);
    try {
      const before = agent.log().length;
      await eventually('a refused reconnect', async () => agent.log().slice(before).includes(`presented certificate ${other.fingerprint}, but this agent is pinned to ${cert.fingerprint}`), 60_000);
      // Let it knock a few times more.
      await eventually('three refused reconnects', async () => mitm.attempts() >= 3, 60_000);
      assert.equal(mitm.bytes(), 0, 'the impostor was sent no handshake (no credential)');
    } finally {
      await mitm.close();
    }
    cp = await startControlPlane(cp.dataDir, { port: cp.port, env: env() });
    await online();
  });

  test('the real docker CLI verifies the self-signed certificate through the proxy (--tlsverify --tlscacert)', async () => {
    const { token } = await api.tokens.create.mutate({ teamId, name: 'laptop', role: 'viewer', expiresInDays: 1 });
    const config = mkdtempSync(path.join(tmp, 'docker-config-'));
    writeFileSync(path.join(config, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }));
    const docker = (args: string[], more: Record<string, string> = {}) =>
      spawnSync('timeout', ['-k', '5', '60', 'docker', '--host', `tcp://127.0.0.1:${cp.port}/docker/tls-edge`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: 'false', DOCKER_HOST: '', DOCKER_CONTEXT: '', DOCKER_CERT_PATH: '', DOCKER_TLS_VERIFY: '', ...more } });
    const ok = docker(['--tlsverify', '--tlscacert', cert.certFile, 'images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(ok.stdout.split('\n').includes(image), ok.stdout);
    // DOCKER_CERT_PATH style: ca.pem in a directory, DOCKER_TLS_VERIFY=1.
    const certDir = mkdtempSync(path.join(tmp, 'docker-certs-'));
    writeFileSync(path.join(certDir, 'ca.pem'), cert.cert);
    const byEnv = docker(['ps', '--format', '{{.Names}}'], { DOCKER_CERT_PATH: certDir, DOCKER_TLS_VERIFY: '1' });
    assert.equal(byEnv.status, 0, byEnv.stderr);
    // A context with the CA, as the README shows.
    const made = spawnSync('timeout', ['-k', '5', '30', 'docker', 'context', 'create', 'berth-tls', '--docker', `host=tcp://127.0.0.1:${cp.port}/docker/tls-edge,ca=${cert.certFile}`], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: '', DOCKER_CONTEXT: '' } });
    assert.equal(made.status, 0, made.stderr);
    const byContext = spawnSync('timeout', ['-k', '5', '60', 'docker', '--context', 'berth-tls', 'images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: '', DOCKER_CONTEXT: '', DOCKER_CERT_PATH: '', DOCKER_TLS_VERIFY: '' } });
    assert.equal(byContext.status, 0, byContext.stderr);
    assert.ok(byContext.stdout.split('\n').includes(image), byContext.stdout);
    // Verification is real: with the impostor's certificate as the CA the CLI refuses the server's.
    const wrong = docker(['--tlsverify', '--tlscacert', other.certFile, 'ps']);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /x509: certificate signed by unknown authority|certificate/i);
    // And plain http to the TLS port gets no Docker API.
    const plain = spawnSync('timeout', ['-k', '5', '30', 'docker', '--host', `tcp://127.0.0.1:${cp.port}/docker/tls-edge`, 'ps'], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: '', DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '' } });
    assert.notEqual(plain.status, 0);
  });

  test('a slow `docker load` through the proxy outlives the idle timeout while its bytes flow; a stalled one is cut after it', async () => {
    const { token } = await api.tokens.create.mutate({ teamId, name: 'loader', role: 'operator', expiresInDays: 1 });
    const archive = Buffer.from(spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${agent.sock}`, 'save', image], { maxBuffer: 64 << 20, env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config') } }).stdout);
    assert.ok(archive.length > 100_000, `an archive (${archive.length} bytes)`);
    const load = (pieces: number, gapMs: number, stallMs: number) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(`${url}/docker/tls-edge/v1.41/images/load?quiet=1`, { method: 'POST', ca: cert.cert, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar', 'content-length': archive.length } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', (err) => resolve({ status: -1, body: err.message }));
        const size = Math.ceil(archive.length / pieces);
        let i = 0;
        const next = () => {
          if (req.destroyed) return;
          req.write(archive.subarray(i * size, (i + 1) * size));
          i++;
          if (i < pieces) setTimeout(next, i === Math.floor(pieces / 2) ? gapMs + stallMs : gapMs);
          else req.end();
        };
        next();
      });
    // 12 pieces 600 ms apart: ~7 s, over three idle timeouts, and every gap shorter than one.
    const slow = await load(12, 600, 0);
    assert.equal(slow.status, 200, slow.body);
    assert.match(slow.body, new RegExp(`Loaded image: ${image.replace(/[.]/g, '\\.')}`));
    const stalled = await load(12, 50, (IDLE_S + 2) * 1000);
    assert.ok(stalled.status === 408 || stalled.status === -1, `cut: ${JSON.stringify(stalled)}`);
    if (stalled.status === 408) assert.match(stalled.body, /request body stalled/);
    assert.ok(cp.child.lines.some((l) => /images\/load: no body bytes for 2 s; ending it/.test(l)), cp.child.lines.slice(-20).join('\n'));
  });

  test('rotating the credential: the agent stores the new one, the old one is refused, and the agent is back with the new one after a restart; audited', async () => {
    const old = readCredential(agent.root)!.credential;
    assert.equal(await handshake(old), 'connected');
    await online();
    await api.hosts.rotateCredential.mutate({ hostId });
    const now = readCredential(agent.root)!;
    assert.notEqual(now.credential, old);
    assert.equal(now.serverFingerprint, cert.fingerprint, 'the pin is kept');
    assert.deepEqual(hostRow(), { credentialHash: hashSecret(now.credential), pendingCredentialHash: null });
    assert.equal(await handshake(old), 'unauthorized');
    const audit = sql((db) => db.prepare('SELECT result FROM "AuditLog" WHERE action = ? AND hostId = ?').all('hosts.rotateCredential', hostId)) as Array<{ result: string }>;
    assert.deepEqual(audit, [{ result: 'ok' }]);
    // The agent's live link carries on; after a restart it connects with the stored new credential.
    await agent.restart();
    await online();
    assert.ok(agent.log().includes('connected to'), agent.log());
  });

  test('an offline host cannot be rotated (said so); a rotation cut short between the steps is completed by the agent’s next handshake', async () => {
    await agent.kill('SIGTERM');
    await online(false);
    await assert.rejects(api.hosts.rotateCredential.mutate({ hostId }), (e: unknown) => codeOf(e) === 'PRECONDITION_FAILED' && /host tls-edge is offline: a credential is rotated over its live link/.test((e as Error).message));
    const audit = sql((db) => db.prepare('SELECT result FROM "AuditLog" WHERE action = ? AND hostId = ? ORDER BY createdAt DESC LIMIT 1').get('hosts.rotateCredential', hostId)) as { result: string };
    assert.match(audit.result, /^error: .*offline/);

    // As if the agent had stored a rotation's credential and the server died before its ack: both stay valid.
    const before = readCredential(agent.root)!;
    const next = 'bhc_' + 'n'.repeat(43);
    sql((db) => db.prepare('UPDATE "Host" SET pendingCredentialHash = ?, pendingCredentialAt = ? WHERE id = ?').run(hashSecret(next), Date.now(), hostId));
    assert.equal(await handshake(before.credential), 'connected', 'the old one still works while the rotation is unconfirmed');
    await agent.restart(() => writeCredential(agent.root, { ...before, credential: next }));
    await online();
    assert.deepEqual(hostRow(), { credentialHash: hashSecret(next), pendingCredentialHash: null });
    assert.equal(await handshake(before.credential), 'unauthorized');
    assert.ok(cp.child.lines.some((l) => l.includes(`host ${hostId}: connected with its rotated credential`)));
    await online();
  });
});
