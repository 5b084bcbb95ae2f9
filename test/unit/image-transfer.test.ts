// The control plane's archive streams (server/hub/image-transfer) on a real HTTP server and a
// real migrated database, with a scripted agent behind a stand-in hub: a 64 MiB save to a client
// that stops reading makes the agent stop too (it gets only a few pieces ahead), and the client
// then reads every byte as sent; an upload is read from the client no faster than the agent acks
// it; a download the client drops is cancelled at the agent; a save that fails midway is cut,
// not ended; viewers and other sites are refused, and every outcome is an audit row.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encode } from 'next-auth/jwt';
import { createSession } from '../../server/auth/sessions';
import { IMAGE_CHUNK_BYTES, type AgentCommand, type CommandResult, type ImageDataChunk } from '../../protocol/agent-link';
import { authSecret } from '../../server/db/config';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import type { AgentHub } from '../../server/hub/agents';
import { archiveFileName, ImageTransfers } from '../../server/hub/image-transfer';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-transfer-'));
process.env.BERTH_DATA_DIR = dir;
delete process.env.DATABASE_URL;
delete process.env.NEXTAUTH_SECRET;

const ARCHIVE_BYTES = 64 * 1024 * 1024;
/** The archive's bytes are a function of their offset, so the client can check every one. */
const byteAt = (i: number) => (i * 7 + (i >>> 13)) & 0xff;
function piece(from: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = byteAt(from + i);
  return b;
}

/** A scripted agent: answers commands the way agent/link/commands does and sends save pieces one acked at a time. */
class FakeHub {
  imageDataSink: AgentHub['imageDataSink'];
  readonly offlineListeners = new Set<(hostId: string) => void>();
  readonly commands: AgentCommand[] = [];
  /** Save pieces the sink has taken (acked). */
  acked = 0;
  failSaveAfter: number | null = null;
  /** Load: bytes received, and a gate the test closes to hold the acks back. */
  loaded = createHash('sha256');
  loadedBytes = 0;
  hold: Promise<void> | null = null;
  private cancelled = new Set<string>();

  async command(hostId: string, cmd: AgentCommand): Promise<CommandResult> {
    this.commands.push(cmd);
    switch (cmd.op) {
      case 'images.save':
        if (cmd.refs.includes('missing:1')) return { ok: false, status: 404, error: 'reference does not exist: missing:1' };
        void this.pump(hostId, cmd.streamId);
        return { ok: true };
      case 'images.save.cancel':
        this.cancelled.add(cmd.streamId);
        return { ok: true };
      case 'images.load':
        this.loaded = createHash('sha256');
        this.loadedBytes = 0;
        return { ok: true };
      case 'images.load.chunk':
        if (cmd.data.length > IMAGE_CHUNK_BYTES) return { ok: false, status: 400, error: 'piece too big' };
        this.loaded.update(cmd.data);
        this.loadedBytes += cmd.data.length;
        await this.hold;
        return { ok: true };
      case 'images.load.end':
        return { ok: true, result: { images: [{ id: 'sha256:abc', tags: ['up/loaded:1'] }] } };
      case 'images.load.cancel':
        return { ok: true };
      default:
        return { ok: false, status: 400, error: `unexpected ${cmd.op}` };
    }
  }

  private async pump(hostId: string, streamId: string): Promise<void> {
    for (let at = 0, n = 0; at < ARCHIVE_BYTES; at += IMAGE_CHUNK_BYTES, n++) {
      if (this.cancelled.has(streamId)) return;
      if (this.failSaveAfter !== null && n === this.failSaveAfter) return void (await this.send(hostId, { streamId, error: 'layer blob vanished' }));
      await this.send(hostId, { streamId, data: piece(at, Math.min(IMAGE_CHUNK_BYTES, ARCHIVE_BYTES - at)) });
      this.acked++;
    }
    await this.send(hostId, { streamId, done: true });
  }

  private send(hostId: string, chunk: ImageDataChunk): Promise<void> {
    return this.imageDataSink!(hostId, chunk);
  }
}

describe('archive streams through the control plane', () => {
  let prisma: PrismaClient;
  let server: Server;
  let base: string;
  const hub = new FakeHub();
  let hostId: string;
  let operatorCookie: string;
  let viewerCookie: string;

  // A signed-in browser: a session row, and the cookie naming it (server/auth/sessions.ts).
  const cookieFor = async (sub: string) => `next-auth.session-token=${await encode({ token: { sub, sid: await createSession(sub, '127.0.0.1', 'test', prisma) }, secret: authSecret() })}`;
  const audit = () => prisma.auditLog.findMany({ orderBy: { createdAt: 'asc' } });

  function get(urlPath: string, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(`${base}${urlPath}`, { headers }, resolve);
      req.on('error', reject);
      req.end();
    });
  }
  async function body(res: IncomingMessage): Promise<string> {
    let s = '';
    for await (const c of res) s += c;
    return s;
  }

  before(async () => {
    prisma = await openDatabase();
    const team = await prisma.team.create({ data: { name: 'T' } });
    const op = await prisma.user.create({ data: { email: 'op@example.test', name: 'Op', passwordHash: 'x', memberships: { create: { teamId: team.id, role: 'operator' } } } });
    const viewer = await prisma.user.create({ data: { email: 'v@example.test', name: 'V', passwordHash: 'x', memberships: { create: { teamId: team.id, role: 'viewer' } } } });
    hostId = (await prisma.host.create({ data: { teamId: team.id, name: 'h1', hostname: 'h1', credentialHash: 'x' } })).id;
    operatorCookie = await cookieFor(op.id);
    viewerCookie = await cookieFor(viewer.id);
    const transfers = new ImageTransfers(hub as unknown as AgentHub);
    server = createServer((req, res) => {
      if (!transfers.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => server?.close(() => r()));
    await closeDatabase();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a save to a client that stops reading stops the agent a few pieces ahead; every byte arrives once it reads again', async () => {
    const res = await get(`/api/images/save?hostId=${hostId}&ref=team/app:1`, { cookie: operatorCookie });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-tar');
    assert.equal(res.headers['content-disposition'], 'attachment; filename="team_app_1.tar"');
    res.pause();
    // The agent goes on only while the server can hand pieces on: wait until it is stuck.
    let last = -1;
    while (hub.acked !== last) {
      last = hub.acked;
      await new Promise((r) => setTimeout(r, 300));
    }
    const aheadMiB = (hub.acked * IMAGE_CHUNK_BYTES) / 2 ** 20;
    console.log(`agent stopped ${aheadMiB} MiB into a ${ARCHIVE_BYTES / 2 ** 20} MiB archive while the client read nothing`);
    assert.ok(hub.acked * IMAGE_CHUNK_BYTES < ARCHIVE_BYTES / 4, `the agent ran ${aheadMiB} MiB ahead`);

    let at = 0;
    let wrong = -1;
    for await (const c of res as AsyncIterable<Buffer>) {
      for (let i = 0; i < c.length && wrong < 0; i++) if (c[i] !== byteAt(at + i)) wrong = at + i;
      at += c.length;
    }
    assert.equal(wrong, -1, `byte ${wrong} differs`);
    assert.equal(at, ARCHIVE_BYTES);
    const row = (await audit()).at(-1)!;
    assert.deepEqual([row.action, row.target, row.result, row.hostId], ['images.save', 'team/app:1', 'ok', hostId]);
  });

  test('a dropped download is cancelled at the agent; a save that fails midway is cut, not ended; an unknown image is the agent\'s 404', async () => {
    hub.commands.length = 0;
    const res = await get(`/api/images/save?hostId=${hostId}&ref=a:1`, { cookie: operatorCookie });
    assert.equal(res.statusCode, 200);
    await new Promise((r) => res.once('data', r));
    res.destroy();
    while (!hub.commands.some((c) => c.op === 'images.save.cancel')) await new Promise((r) => setTimeout(r, 20));
    while ((await audit()).at(-1)?.target !== 'a:1') await new Promise((r) => setTimeout(r, 20));
    assert.equal((await audit()).at(-1)!.result, 'error: the download was cancelled before its end');

    hub.failSaveAfter = 3;
    const cut = await get(`/api/images/save?hostId=${hostId}&ref=b:1`, { cookie: operatorCookie });
    assert.equal(cut.statusCode, 200);
    let got = 0;
    const ended = await new Promise<string>((resolve) => {
      cut.on('data', (c: Buffer) => (got += c.length));
      cut.on('end', () => resolve('end'));
      cut.on('aborted', () => resolve('aborted'));
      cut.on('error', () => resolve('error'));
    });
    hub.failSaveAfter = null;
    assert.notEqual(ended, 'end', `a short archive must not look complete (${got} bytes)`);
    assert.ok(got <= 3 * IMAGE_CHUNK_BYTES);
    while ((await audit()).at(-1)?.target !== 'b:1') await new Promise((r) => setTimeout(r, 20));
    assert.equal((await audit()).at(-1)!.result, 'error: layer blob vanished');

    const missing = await get(`/api/images/save?hostId=${hostId}&ref=missing:1`, { cookie: operatorCookie });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(JSON.parse(await body(missing)), { error: 'reference does not exist: missing:1' });
  });

  test('an upload is read no faster than the agent acks it, and arrives whole', async () => {
    let release: () => void = () => {};
    hub.hold = new Promise((r) => (release = r));
    const sent = createHash('sha256');
    let written = 0;
    const req = request(`${base}/api/images/load?hostId=${hostId}`, { method: 'POST', headers: { cookie: operatorCookie, origin: base, 'content-type': 'application/x-tar' } });
    const answer = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
    // Write whenever the socket takes more, as a browser uploading a file does.
    const pump = () => {
      while (written < ARCHIVE_BYTES) {
        const p = piece(written, 256 * 1024);
        sent.update(p);
        written += p.length;
        if (!req.write(p)) return;
      }
      req.end();
    };
    req.on('drain', pump);
    pump();
    // Held at the agent: the server stops reading, so the client is pushed back for good.
    while (hub.loadedBytes === 0) await new Promise((r) => setTimeout(r, 20));
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(`upload held: the agent has ${hub.loadedBytes} bytes, the client could write ${written / 2 ** 20} MiB of ${ARCHIVE_BYTES / 2 ** 20} before being pushed back`);
    assert.ok(written < ARCHIVE_BYTES / 4, `the client could write ${written / 2 ** 20} MiB while the agent took none`);
    assert.ok(hub.loadedBytes <= IMAGE_CHUNK_BYTES, `the agent has one piece, not ${hub.loadedBytes} bytes`);
    hub.hold = null;
    release();
    const res = await answer;
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(await body(res)), { images: [{ id: 'sha256:abc', tags: ['up/loaded:1'] }] });
    assert.equal(hub.loadedBytes, ARCHIVE_BYTES);
    assert.equal(hub.loaded.digest('hex'), sent.digest('hex'));
    const row = (await audit()).at(-1)!;
    assert.deepEqual([row.action, row.target, row.result], ['images.load', 'archive upload: up/loaded:1', 'ok']);
  });

  test('a viewer, another site and nobody are refused; the refusals are audited', async () => {
    const viewer = await get(`/api/images/save?hostId=${hostId}&ref=a:1`, { cookie: viewerCookie });
    assert.equal(viewer.statusCode, 403);
    assert.match(JSON.parse(await body(viewer)).error, /viewer role cannot do this; operator or above is needed/);
    const row = (await audit()).at(-1)!;
    assert.deepEqual([row.action, row.hostId], ['images.save', hostId]);
    assert.match(row.result, /^error: FORBIDDEN/);

    const load = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/api/images/load?hostId=${hostId}`, { method: 'POST', headers: { cookie: viewerCookie, origin: base } }, resolve);
      req.on('error', reject);
      req.end(Buffer.alloc(1024));
    });
    assert.equal(load.statusCode, 403);
    await body(load);
    assert.match((await audit()).at(-1)!.result, /^error: FORBIDDEN/);

    const foreign = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/api/images/load?hostId=${hostId}`, { method: 'POST', headers: { cookie: operatorCookie, origin: 'https://evil.example' } }, resolve);
      req.on('error', reject);
      req.end(Buffer.alloc(16));
    });
    assert.equal(foreign.statusCode, 403);
    assert.match(JSON.parse(await body(foreign)).error, /another site/);
    const crossSite = await get(`/api/images/save?hostId=${hostId}&ref=a:1`, { cookie: operatorCookie, 'sec-fetch-site': 'cross-site' });
    assert.equal(crossSite.statusCode, 403);
    await body(crossSite);
    const anonymous = await get(`/api/images/save?hostId=${hostId}&ref=a:1`, {});
    assert.equal(anonymous.statusCode, 401);
    await body(anonymous);
    const wrongMethod = await get(`/api/images/load?hostId=${hostId}`, { cookie: operatorCookie });
    assert.equal(wrongMethod.statusCode, 405);
    await body(wrongMethod);
  });

  test('a build option the endpoint does not know is refused by its name, before the agent is asked', async () => {
    hub.commands.length = 0;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/api/images/build?hostId=${hostId}&tag=x:1&squash=1`, { method: 'POST', headers: { cookie: operatorCookie, origin: base } }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.statusCode, 400);
    assert.match(await body(res), /does not take \\"squash\\"/);
    assert.deepEqual(hub.commands, []);
    assert.equal((await audit()).at(-1)!.result, 'error: BAD_REQUEST: unknown build options squash');
  });

  test('download names keep to safe characters', () => {
    assert.equal(archiveFileName(['127.0.0.1:5000/team/app:1.2']), '127.0.0.1_5000_team_app_1.2.tar');
    assert.equal(archiveFileName(['../"evil"\r\n', 'b']), 'evil_-and-1-more.tar');
    assert.equal(archiveFileName(['sha256:0123']), 'sha256_0123.tar');
  });
});
