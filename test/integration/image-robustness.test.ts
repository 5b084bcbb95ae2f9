// What an agent killed with SIGKILL in the middle of a pull, a push and a load leaves
// behind: after it starts again, `npm run integrity` finds the store consistent, no
// partial image is listed, and the same operation succeeds. And decompression bombs,
// refused by the per-layer limit (--max-layer-size) with the store untouched.
// Transfers go through a throttling proxy on loopback, so the kill lands mid-transfer.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const repoRoot = path.resolve(import.meta.dirname, '../..');

/** A loopback proxy to `upstream` that passes bodies both ways at about `bytesPerSec`. */
async function throttlingProxy(upstream: string, bytesPerSec: number): Promise<{ url: string; stop(): Promise<void> }> {
  const slow = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      for (let off = 0; off < c.length; off += 64 * 1024) {
        const piece = c.subarray(off, off + 64 * 1024);
        await new Promise((r) => setTimeout(r, (piece.length / bytesPerSec) * 1000));
        yield piece;
      }
    }
  };
  const [host, port] = upstream.split(':');
  const server: Server = createServer((req, res) => {
    const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      void (async () => {
        try {
          for await (const c of slow(r)) if (!res.write(c)) await new Promise((ok) => res.once('drain', ok));
          res.end();
        } catch {
          res.destroy();
        }
      })();
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    void (async () => {
      try {
        for await (const c of slow(req)) if (!up.write(c)) await new Promise((ok) => up.once('drain', ok));
        up.end();
      } catch {
        up.destroy();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return {
    url: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
    stop: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** The docker CLI started in the background; `output()` is what it printed so far. */
function dockerAsync(agent: AgentProcess, args: string[]): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  let out = '';
  const child = spawn('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${agent.sock}`, ...args], {
    env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, output: () => out, done };
}

/** Like agent.ok, but without blocking this process, which serves the proxy. */
async function dockerOk(agent: AgentProcess, args: string[]): Promise<string> {
  const d = dockerAsync(agent, args);
  d.child.stdin!.end();
  const code = await d.done;
  if (code !== 0) throw new Error(`docker ${args.join(' ')} failed (${code}): ${d.output()}\nagent log:\n${agent.log().slice(-2000)}`);
  return d.output();
}

function integrity(root: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/image-integrity.ts'), '--root', root, '--deep'], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

async function killAgent(agent: AgentProcess): Promise<void> {
  const pid = agent.pid;
  process.kill(pid, 'SIGKILL');
  await eventually('the killed agent to be gone', async () => !existsSync(`/proc/${pid}`) || /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 10_000, 20);
}

describe('an agent killed mid-operation leaves a consistent store', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let proxy: Awaited<ReturnType<typeof throttlingProxy>>;
  let target2: Awaited<ReturnType<typeof startRegistry>>;
  let proxy2: Awaited<ReturnType<typeof throttlingProxy>>;
  let big: Awaited<ReturnType<typeof pushBusyboxImage>>;
  const bigData = randomBytes(24 << 20);

  before(async () => {
    agent = await startAgentProcess('crash');
    registry = await startRegistry();
    // Random data does not compress: 24 MiB to move, at 8 MiB/s through the proxy.
    big = await pushBusyboxImage(registry.url, 'big', 'v1', { extraLayers: [[{ path: 'big.bin', type: 'file', data: bigData, mode: 0o644 }]] });
    proxy = await throttlingProxy(registry.url, 8 << 20);
    // Another registry to push to: nothing there to mount from, so the big layer is uploaded.
    target2 = await startRegistry();
    proxy2 = await throttlingProxy(target2.url, 8 << 20);
  });

  after(async () => {
    for (const id of agent.ok(['ps', '-aq']).split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await proxy?.stop();
    await registry?.stop();
    await proxy2?.stop();
    await target2?.stop();
  });

  const slowRef = () => big.ref.replace(registry.url, proxy.url);
  const listed = () => agent.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean);

  it('pull: killed while a layer downloads', async () => {
    const pull = dockerAsync(agent, ['pull', slowRef()]);
    await eventually('the download to be under way', async () => /Downloading/.test(pull.output()) || existsSync(path.join(agent.root, 'images/ingest')) && readdirSync(path.join(agent.root, 'images/ingest')).length > 0, 30_000, 10);
    await killAgent(agent);
    await pull.done;
    const before = integrity(agent.root);
    assert.equal(before.code, 0, before.out);
    await agent.restart();
    const after = integrity(agent.root);
    assert.equal(after.code, 0, after.out);
    assert.doesNotMatch(after.out, /leftover/, 'the start removed what the kill left');
    assert.deepEqual(listed().filter((n) => n.includes('/big')), [], 'no partial image');
    await dockerOk(agent, ['pull', slowRef()]);
    assert.equal(agent.ok(['run', '--rm', slowRef(), 'sh', '-c', 'wc -c < /big.bin']).trim(), String(bigData.length));
  });

  it('push: killed while a layer uploads', async () => {
    const target = `${proxy2.url}/pushed/big:v1`;
    agent.ok(['tag', slowRef(), target]);
    const push = dockerAsync(agent, ['push', target]);
    // The CLI prints no progress when its output is not a terminal: the registry's upload dir tells.
    const uploads = path.join(target2.dir, 'data/docker/registry/v2/repositories/pushed/big/_uploads');
    const uploading = () => existsSync(uploads) && readdirSync(uploads).some((u) => existsSync(path.join(uploads, u, 'data')) && statSync(path.join(uploads, u, 'data')).size > 1 << 20);
    await eventually('the upload to be under way', uploading, 30_000, 10);
    await killAgent(agent);
    await push.done;
    await agent.restart();
    const after = integrity(agent.root);
    assert.equal(after.code, 0, after.out);
    assert.ok(listed().includes(target), 'the image and its tags are as they were');
    const out = await dockerOk(agent, ['push', target]);
    assert.match(out, new RegExp(`v1: digest: ${big.manifestDigest}`));
  });

  it('load: killed while the archive streams in', async () => {
    const archive = path.join(agent.tmp, 'big.tar');
    agent.ok(['save', '-o', archive, slowRef()]);
    agent.ok(['rmi', '-f', agent.ok(['image', 'inspect', '--format', '{{.Id}}', slowRef()]).trim()]);
    const load = dockerAsync(agent, ['load']);
    const data = readFileSync(archive);
    let sent = 0;
    // Half the archive, then the kill.
    while (sent < data.length / 2) {
      const piece = data.subarray(sent, sent + (1 << 20));
      if (!load.child.stdin!.write(piece)) await new Promise((r) => load.child.stdin!.once('drain', r));
      sent += piece.length;
      await new Promise((r) => setTimeout(r, 5));
    }
    await eventually('the archive to be ingesting', async () => readdirSync(path.join(agent.root, 'images/ingest')).length > 0, 10_000, 10);
    await killAgent(agent);
    load.child.stdin!.destroy();
    await load.done;
    await agent.restart();
    const after = integrity(agent.root);
    assert.equal(after.code, 0, after.out);
    assert.deepEqual(listed().filter((n) => n.includes('/big')), [], 'no partial image');
    assert.match(agent.ok(['load', '-i', archive]), /Loaded image: /);
    assert.equal(agent.ok(['run', '--rm', slowRef(), 'sh', '-c', 'wc -c < /big.bin']).trim(), String(bigData.length));
  });

  it('integrity finds a damaged blob', () => {
    const blobs = path.join(agent.root, 'images/blobs/sha256');
    const victim = readdirSync(blobs).find((n) => statSync(path.join(blobs, n)).size < 4096)!;
    const original = readFileSync(path.join(blobs, victim));
    writeFileSync(path.join(blobs, victim), Buffer.concat([original, Buffer.from(' ')]));
    try {
      const r = integrity(agent.root);
      assert.equal(r.code, 1);
      assert.match(r.out, new RegExp(`PROBLEM: blob sha256:${victim} holds content with digest`));
    } finally {
      writeFileSync(path.join(blobs, victim), original);
    }
  });
});

describe('decompression bombs', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;

  before(async () => {
    agent = await startAgentProcess('bomb', { flags: ['--max-layer-size', '8m'] });
    registry = await startRegistry();
  });

  after(async () => {
    await agent?.stop();
    await registry?.stop();
  });

  it('a layer that unpacks past --max-layer-size is refused with a clear error; the store is untouched', async () => {
    // 64 MiB of zeros: about 64 kB of gzip.
    const bomb = await pushBusyboxImage(registry.url, 'bomb', 'v1', { extraLayers: [[{ path: 'zeros', type: 'file', data: Buffer.alloc(64 << 20), mode: 0o644 }]] });
    const before = agent.ok(['images', '-q']);
    const r = agent.docker(['pull', bomb.ref]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /unpacks to more than 8388608 bytes, this agent's limit per layer \(--max-layer-size\): refused as a possible decompression bomb/);
    assert.equal(agent.ok(['images', '-q']), before);
    const layers = readdirSync(path.join(agent.root, 'images/layers')).filter((n) => !n.endsWith('.json'));
    const metas = readdirSync(path.join(agent.root, 'images/layers')).filter((n) => n.endsWith('.json'));
    assert.equal(layers.length, metas.length, 'no unfinished layer left');
    assert.deepEqual(readdirSync(path.join(agent.root, 'images/ingest')), []);
    const check = integrity(agent.root);
    assert.equal(check.code, 0, check.out);
  });
});
