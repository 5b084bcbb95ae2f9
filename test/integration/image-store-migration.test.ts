// A store written by the previous version (layout 1: no compressed layer blobs, no short
// links, no mapping; test/fixtures/store-v1.ts is that version's code) opened by this one:
// one log line says what changed, images keep their ids and names and run, and push and
// save fetch again from the source registry the layer blobs layout 1 did not keep.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDockerApi, type DockerApiServer } from '../../agent/dockerapi/server';
import { openImageStore, type DiskImageStore } from '../../agent/engine/images/store';
import { checkImageStore } from '../../agent/engine/images/integrity';
import { cgroupParentFor, openEngine, type BerthEngine } from '../../agent/engine/index';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { tarBuffer } from '../fixtures/tar';
import { openImageStore as openV1Store } from '../fixtures/store-v1';

const isRoot = process.getuid?.() === 0;
const haveSkopeo = existsSync('/usr/bin/skopeo');

describe('a layout-1 image store, opened by this version', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  let tmp: string;
  let root: string;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let other: Awaited<ReturnType<typeof startRegistry>>;
  let pushed: Awaited<ReturnType<typeof pushBusyboxImage>>;
  let store: DiskImageStore;
  let engine: BerthEngine;
  let api: DockerApiServer;
  const lines: string[] = [];
  let importedId = '';
  // Not spawnSync: the API server runs in this process and must keep answering.
  const docker = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${path.join(tmp, 'docker.sock')}`, ...args], { env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'cli') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-migrate-'));
    root = path.join(tmp, 'root');
    registry = await startRegistry();
    other = await startRegistry();
    pushed = await pushBusyboxImage(registry.url, 'busybox', 'v1', { extraLayers: [[{ path: 'etc/motd', type: 'file', data: 'layout one\n', mode: 0o644 }]] });
    // The previous version pulls one image and imports another.
    const v1 = await openV1Store(path.join(root, 'images'));
    await v1.pull(pushed.ref);
    const layer = await v1.importLayer((async function* () {
      yield tarBuffer([{ path: 'hello', type: 'file', data: 'imported\n', mode: 0o644 }]);
    })());
    importedId = v1.createImage({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } }, { tags: ['imported:v1'] }).id;
  });

  after(async () => {
    await api?.close();
    await engine?.close();
    removeCgroupParent(cgroupParentFor(root));
    rmSync(tmp, { recursive: true, force: true });
    await registry?.stop();
    await other?.stop();
  });

  it('opens with one log line, keeps every image and name, and gives layers short links', async () => {
    assert.equal(existsSync(path.join(root, 'images/store.json')), false, 'layout 1 has no version file');
    store = await openImageStore(path.join(root, 'images'), { log: (l) => lines.push(l) });
    const migration = lines.filter((l) => /migrated the image store/.test(l));
    assert.equal(migration.length, 1, lines.join('\n'));
    assert.match(migration[0], /from layout 1 to 2: 2 image\(s\) kept, 3 layer\(s\) given short mount links; 2 image\(s\) have no compressed layer blobs/);
    assert.deepEqual(store.list().map((i) => i.repoTags).flat().sort(), ['imported:v1', pushed.ref].sort());
    assert.equal(store.get(pushed.ref)!.id, pushed.configDigest);
    for (const p of store.layerDirs(store.get(pushed.ref)!)) assert.ok(lstatSync(p).isSymbolicLink() && p.includes('/l/'), p);
    const report = await checkImageStore(path.join(root, 'images'));
    assert.deepEqual(report.problems, []);
    // A second open says nothing more.
    lines.length = 0;
    store = await openImageStore(path.join(root, 'images'), { log: (l) => lines.push(l) });
    assert.deepEqual(lines, []);
    engine = await openEngine({ root, images: store });
    api = await startDockerApi({ engine, socketPath: path.join(tmp, 'docker.sock') });
  });

  it('the migrated image runs', async () => {
    const r = await docker(['run', '--rm', pushed.ref, 'cat', '/etc/motd']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'layout one\n');
  });

  it('push fetches the blobs layout 1 did not keep from the source registry, and the digest is the original one', async () => {
    const target = `${other.url}/moved/busybox:v1`;
    assert.equal((await docker(['tag', pushed.ref, target])).status, 0);
    const r = await docker(['push', target]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`v1: digest: ${pushed.manifestDigest}`));
    for (const d of pushed.layerDigests) assert.ok(existsSync(path.join(root, 'images/blobs/sha256', d.slice(7))), 'the fetched blob is kept');
  });

  it('save of a migrated image writes a docker-archive skopeo reads', { skip: !haveSkopeo && 'skopeo is not installed' }, async () => {
    const archive = path.join(tmp, 'migrated.tar');
    const r = await docker(['save', '-o', archive, pushed.ref]);
    assert.equal(r.status, 0, r.stderr);
    const sk = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.deepEqual(sk.Layers, pushed.diffIds);
  });

  it('an image layout 1 made here (import) is kept, and push says why it cannot send it', async () => {
    assert.equal((await docker(['tag', 'imported:v1', `${other.url}/imported:v1`])).status, 0);
    const p = await docker(['push', `${other.url}/imported:v1`]);
    assert.notEqual(p.status, 0);
    assert.match(p.stderr + p.stdout, /has no blob in the store to push: pull or load the image again/);
    assert.ok(store.get(importedId), 'the image stays');
  });
});
