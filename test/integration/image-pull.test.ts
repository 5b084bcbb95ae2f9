// Pulls through a real registry (Debian's docker-registry on 127.0.0.1) into the image
// store, and checks what a user of `docker pull/images/rmi` would check.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineError } from '../../agent/engine/errors';
import { openImageStore } from '../../agent/engine/images';
import type { DiskImageStore } from '../../agent/engine/images/store';
import type { PullProgress } from '../../agent/engine/types';
import { MEDIA, RegistryClient, hostPlatform } from '../../agent/engine/images/registry';
import { tarBuffer } from '../fixtures/tar';
import { gzipSync } from 'node:zlib';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startAuthProxy, startRegistry } from '../fixtures/registry';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const notUsed = { inUse: () => false };

let registry: Awaited<ReturnType<typeof startRegistry>>;
let pushed: Awaited<ReturnType<typeof pushBusyboxImage>>;
let dir: string;
let store: DiskImageStore;

before(async () => {
  registry = await startRegistry();
  pushed = await pushBusyboxImage(registry.url);
  dir = mkdtempSync(join(tmpdir(), 'berth-images-'));
  store = await openImageStore(dir);
});

after(async () => {
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Layer dirs on disk, ignoring the .json markers. */
const layerDirsOnDisk = () => readdirSync(join(dir, 'layers')).filter((n) => !n.endsWith('.json')).sort();
const leftovers = () => readdirSync(join(dir, 'tmp')).filter((n) => !n.startsWith('gc-'));

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 1));
    });
  });
}

/** The registry's own file for a blob (filesystem driver layout). */
const registryBlob = (digest: string) => join(registry.dir, 'data/docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');

describe('pulling busybox from a local registry', () => {
  it('pulls, verifies and unpacks the image, reporting docker-like progress', async () => {
    const progress: PullProgress[] = [];
    const img = await store.pull(pushed.ref, { onProgress: (p) => progress.push(p) });

    assert.equal(img.id, pushed.configDigest);
    assert.deepEqual(img.repoTags, [pushed.ref]);
    assert.deepEqual(img.repoDigests, [`${registry.url}/busybox@${pushed.manifestDigest}`]);
    assert.deepEqual(img.diffIds, pushed.diffIds);
    assert.deepEqual(img.chainIds, pushed.diffIds, 'a single layer is its own chain');
    assert.deepEqual(img.config.Cmd, ['sh']);
    assert.ok(img.config.Env?.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
    assert.equal(img.os, 'linux');
    assert.equal(img.architecture, process.arch === 'x64' ? 'amd64' : img.architecture);
    assert.ok(img.size >= lstatSync('/bin/busybox').size);

    const statuses = progress.map((p) => p.status);
    const short = pushed.layerDigests[0].slice(7, 19);
    assert.equal(statuses[0], 'Pulling from busybox');
    assert.equal(progress[0].id, 'latest');
    assert.ok(progress.some((p) => p.status === 'Pulling fs layer' && p.id === short));
    const dl = progress.filter((p) => p.status === 'Downloading');
    assert.ok(dl.length > 0 && dl[dl.length - 1].current === dl[dl.length - 1].total, 'download progress reaches the total');
    assert.ok(statuses.indexOf('Download complete') < statuses.indexOf('Pull complete'));
    assert.ok(statuses.includes(`Digest: ${pushed.manifestDigest}`));
    assert.equal(statuses[statuses.length - 1], `Status: Downloaded newer image for ${pushed.ref}`);

    // The unpacked layer is a usable root file system.
    const [layer] = store.layerDirs(img);
    assert.equal(sha256(readFileSync(join(layer, 'bin/busybox'))), sha256(readFileSync('/bin/busybox')));
    assert.equal(lstatSync(join(layer, 'bin/busybox')).mode & 0o777, 0o755);
    assert.equal(readlinkSync(join(layer, 'bin/sh')), 'busybox');
    assert.equal(lstatSync(join(layer, 'tmp')).mode & 0o7777, 0o1777);
    assert.match(readFileSync(join(layer, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
    assert.equal(execFileSync(join(layer, 'bin/busybox'), ['echo', 'from the layer'], { encoding: 'utf8' }), 'from the layer\n');
    assert.equal(statSync(layer).mode & 0o777, 0o755, 'a layer root is a normal root dir');

    // Content-addressed metadata is what it claims to be.
    const configBlob = readFileSync(join(dir, 'blobs/sha256', img.id.slice(7)));
    assert.equal(sha256(configBlob), img.id);
    assert.equal(sha256(readFileSync(join(dir, 'blobs/sha256', pushed.manifestDigest.slice(7)))), pushed.manifestDigest);
    assert.deepEqual(leftovers(), []);
  });

  it('says the image is up to date on a second pull', async () => {
    const progress: PullProgress[] = [];
    await store.pull(pushed.ref, { onProgress: (p) => progress.push(p) });
    assert.equal(progress[progress.length - 1].status, `Status: Image is up to date for ${pushed.ref}`);
    assert.ok(!progress.some((p) => p.status === 'Downloading'));
    assert.equal(store.list().length, 1);
  });

  it('finds the image by reference, digest, id and id prefix', () => {
    const id = pushed.configDigest;
    for (const q of [pushed.ref, `${registry.url}/busybox`, `${registry.url}/busybox@${pushed.manifestDigest}`, id, id.slice(7), id.slice(7, 19), `sha256:${id.slice(7, 15)}`]) {
      assert.equal(store.get(q)?.id, id, q);
    }
    assert.equal(store.get(`${registry.url}/busybox:other`), undefined);
    assert.equal(store.get('busybox'), undefined);
    assert.equal(store.get('ffffffffffff'), undefined);
  });

  it('tags and untags, deleting only when the last name goes', () => {
    assert.equal(store.tag(pushed.ref, 'mine:v1'), 'mine:v1');
    assert.deepEqual(store.get('mine:v1')?.repoTags.slice().sort(), [pushed.ref, 'mine:v1'].sort());
    assert.throws(() => store.remove(pushed.configDigest, notUsed), (e: unknown) => e instanceof EngineError && e.status === 409 && /referenced in multiple repositories/.test(e.message));
    assert.deepEqual(store.remove('mine:v1', notUsed), [{ Untagged: 'mine:v1' }]);
    assert.equal(store.get('mine:v1'), undefined);
    assert.equal(store.get(pushed.ref)?.id, pushed.configDigest);
  });

  it('shares layers between images and collects them when the last user goes', async () => {
    const layered = await pushBusyboxImage(registry.url, 'layered', '2', {
      extraLayers: [[{ path: 'etc/.wh.group', type: 'file' }, { path: 'srv/hello.txt', type: 'file', data: 'hello\n', mode: 0o640, uid: 1000, gid: 1000 }]],
      config: { Cmd: ['cat', '/srv/hello.txt'] },
    });
    const progress: PullProgress[] = [];
    const img = await store.pull(layered.ref, { onProgress: (p) => progress.push(p) });
    assert.ok(progress.some((p) => p.status === 'Already exists' && p.id === pushed.layerDigests[0].slice(7, 19)), 'base layer reused');
    assert.equal(img.chainIds.length, 2);
    assert.equal(img.chainIds[0], pushed.diffIds[0]);
    assert.equal(img.chainIds[1], sha256(Buffer.from(`${img.chainIds[0]} ${img.diffIds[1]}`)));
    const busybox = store.get(pushed.ref)!;
    const [base, top] = store.layerDirs(img);
    assert.equal(base, store.layerDirs(busybox)[0]);
    assert.ok(lstatSync(join(top, 'etc/group')).isCharacterDevice(), 'whiteout in overlay format');
    assert.equal(lstatSync(join(top, 'srv/hello.txt')).uid, 1000);
    assert.equal(layerDirsOnDisk().length, 2);

    // Busybox in use by a container: refused without force.
    assert.throws(() => store.remove(pushed.ref, { inUse: () => true }), (e: unknown) => e instanceof EngineError && e.status === 409 && /container is using its referenced image/.test(e.message));

    const removed = store.remove(pushed.ref, notUsed);
    assert.deepEqual(removed, [{ Untagged: pushed.ref }, { Untagged: `${registry.url}/busybox@${pushed.manifestDigest}` }, { Deleted: pushed.configDigest }]);
    assert.equal(store.get(pushed.configDigest), undefined);
    assert.ok(existsSync(base), 'base layer still used by the layered image');
    assert.equal(existsSync(join(dir, 'blobs/sha256', pushed.configDigest.slice(7))), false);

    assert.deepEqual(store.remove(img.id, notUsed).at(-1), { Deleted: img.id });
    assert.deepEqual(store.list(), []);
    assert.deepEqual(layerDirsOnDisk(), []);
    assert.throws(() => store.remove(img.id, notUsed), (e: unknown) => e instanceof EngineError && e.status === 404);
  });

  it('pulls by digest, recording only the digest', async () => {
    const img = await store.pull(`${registry.url}/busybox@${pushed.manifestDigest}`);
    assert.deepEqual(img.repoTags, []);
    assert.deepEqual(img.repoDigests, [`${registry.url}/busybox@${pushed.manifestDigest}`]);
  });

  it('keeps its images across a reopen', async () => {
    const again = await openImageStore(dir);
    assert.deepEqual(again.list(), store.list());
  });
});

describe('manifest lists, OCI and concurrency', () => {
  it("picks the host's platform from a manifest list / OCI index", async () => {
    const host = await pushBusyboxImage(registry.url, 'multi', 'host-only', { oci: true, config: { Labels: { platform: 'host' } } });
    const other = await pushBusyboxImage(registry.url, 'multi', 'other-only', { architecture: 's390x', config: { Labels: { platform: 'other' } } });
    const client = new RegistryClient(registry.url);
    const size = async (d: string) => (await client.getManifest('multi', d)).bytes.length;
    const hp = hostPlatform();
    for (const mediaType of [MEDIA.ociIndex, MEDIA.dockerList]) {
      const list = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: [
          { mediaType: MEDIA.dockerManifest, digest: other.manifestDigest, size: await size(other.manifestDigest), platform: { os: 'linux', architecture: 's390x' } },
          { mediaType: MEDIA.ociManifest, digest: host.manifestDigest, size: await size(host.manifestDigest), platform: { os: hp.os, architecture: hp.architecture, ...(hp.variant ? { variant: hp.variant } : {}) } },
        ],
      }));
      const tag = mediaType === MEDIA.ociIndex ? 'oci-index' : 'docker-list';
      const listDigest = await client.putManifest('multi', tag, list, mediaType);
      const progress: PullProgress[] = [];
      const img = await store.pull(`${registry.url}/multi:${tag}`, { onProgress: (p) => progress.push(p) });
      assert.equal(img.id, host.configDigest, tag);
      assert.equal(img.config.Labels?.platform, 'host');
      assert.ok(img.repoDigests.includes(`${registry.url}/multi@${listDigest}`), 'the list digest is what docker records');
      assert.ok(progress.some((p) => p.status === `Digest: ${listDigest}`));
    }
    const onlyOther = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [{ mediaType: MEDIA.dockerManifest, digest: other.manifestDigest, size: await size(other.manifestDigest), platform: { os: 'linux', architecture: 's390x' } }],
    }));
    await client.putManifest('multi', 'foreign', onlyOther, MEDIA.ociIndex);
    await assert.rejects(store.pull(`${registry.url}/multi:foreign`), (e: unknown) => e instanceof EngineError && e.status === 404 && /no matching manifest for linux\/\w+ .*has: linux\/s390x/.test(e.message));
    assert.equal(store.get(`${registry.url}/multi:foreign`), undefined);
    for (const tag of ['oci-index', 'docker-list']) store.remove(`${registry.url}/multi:${tag}`, notUsed);
  });

  it('unpacks a layer once when the same image is pulled twice at the same time', async () => {
    const t = await pushBusyboxImage(registry.url, 'racing', 'latest', { extraLayers: [[{ path: 'race', type: 'file', data: 'r'.repeat(200000) }]] });
    const [a, b] = await Promise.all([store.pull(t.ref), store.pull(t.ref)]);
    assert.equal(a.id, b.id);
    assert.equal(store.list().filter((i) => i.id === a.id).length, 1);
    assert.equal(readFileSync(join(store.layerDirs(a)[1], 'race'), 'utf8').length, 200000);
    assert.deepEqual(leftovers(), []);
    store.remove(t.ref, notUsed);
    assert.equal(existsSync(store.layerDirs(a)[1]), false);
  });
});

describe('push primitives', () => {
  it('mounts a blob from another repository instead of uploading it', async () => {
    const client = new RegistryClient(registry.url);
    const layer = pushed.layerDigests[0];
    assert.equal(await client.hasBlob('mounted', layer), false);
    assert.equal(await client.mountBlob('mounted', layer, 'busybox'), true);
    assert.equal(await client.hasBlob('mounted', layer), true);
    const unknown = 'sha256:' + '1'.repeat(64);
    assert.equal(await client.mountBlob('mounted', unknown, 'busybox'), false, 'falls back when the source lacks it');
    assert.equal(await client.hasBlob('mounted', unknown), false);
  });
});

describe('failed pulls leave nothing behind', () => {
  it('reports a missing tag clearly', async () => {
    const before = store.list();
    await assert.rejects(store.pull(`${registry.url}/nope:latest`), (e: unknown) => e instanceof EngineError && e.status === 404 && e.message.startsWith(`manifest for ${registry.url}/nope:latest not found`));
    await assert.rejects(store.pull(`${registry.url}/busybox:missing`), (e: unknown) => e instanceof EngineError && e.status === 404 && /manifest for .*busybox:missing not found/.test(e.message));
    assert.deepEqual(store.list(), before);
  });

  it('reports an unreachable registry clearly', async () => {
    const port = await deadPort();
    await assert.rejects(store.pull(`127.0.0.1:${port}/busybox`), (e: unknown) => e instanceof EngineError && e.status === 502 && e.message === `registry 127.0.0.1:${port} unreachable: connect ECONNREFUSED`);
  });

  it('refuses a tampered layer blob and keeps no trace of it', async () => {
    const t = await pushBusyboxImage(registry.url, 'tampered', 'latest', { extraLayers: [[{ path: 'payload', type: 'file', data: 'x'.repeat(10000) }]] });
    const blobFile = registryBlob(t.layerDigests[1]);
    const bytes = readFileSync(blobFile);
    bytes[bytes.length >> 1] ^= 0x55;
    writeFileSync(blobFile, bytes);
    const layersBefore = layerDirsOnDisk();
    const imagesBefore = store.list();
    await assert.rejects(store.pull(t.ref), (e: unknown) => e instanceof EngineError && /digest mismatch/.test(e.message) && e.message.includes(t.layerDigests[1]));
    assert.equal(store.get(t.ref), undefined);
    assert.deepEqual(store.list(), imagesBefore);
    assert.deepEqual(layerDirsOnDisk(), layersBefore, 'no half-unpacked or orphaned layer');
    assert.deepEqual(leftovers(), []);
    assert.equal(existsSync(join(dir, 'images', t.configDigest.slice(7) + '.json')), false);
  });

  it('refuses a tampered image config', async () => {
    const t = await pushBusyboxImage(registry.url, 'badconfig', 'latest', { config: { Labels: { unique: 'badconfig' } } });
    const f = registryBlob(t.configDigest);
    writeFileSync(f, readFileSync(f, 'utf8').replace('"sh"', '"id"'));
    await assert.rejects(store.pull(t.ref), /digest mismatch/);
    assert.equal(store.get(t.ref), undefined);
  });
});

describe('registries that want credentials', () => {
  for (const scheme of ['bearer', 'basic'] as const) {
    it(`pulls with ${scheme} auth and fails clearly without it`, async () => {
      const proxy = await startAuthProxy(registry.url, { scheme, username: 'alice', password: 's3cret' });
      try {
        const ref = `${proxy.url}/busybox:latest`;
        await assert.rejects(store.pull(ref), (e: unknown) => e instanceof EngineError && /unauthorized/.test(e.message));
        await assert.rejects(store.pull(ref, { auth: { username: 'alice', password: 'wrong' } }), (e: unknown) => e instanceof EngineError && /unauthorized/.test(e.message));
        const img = await store.pull(ref, { auth: { username: 'alice', password: 's3cret' } });
        assert.equal(img.id, pushed.configDigest);
        assert.ok(img.repoTags.includes(ref));
        if (scheme === 'bearer') assert.ok(proxy.tokenRequests.some((r) => r.service === 'berth-test' && r.scope === 'repository:busybox:pull'), JSON.stringify(proxy.tokenRequests));
        assert.deepEqual(store.remove(ref, notUsed)[0], { Untagged: ref });
      } finally {
        await proxy.stop();
      }
    });
  }
});

describe('images built locally (commit, build, load)', () => {
  async function* once(b: Buffer) {
    yield b;
  }

  it('imports layers, records an image from its config, and collects it on removal', async () => {
    const baseTar = tarBuffer([{ path: 'etc/os', type: 'file', data: 'built\n' }, { path: 'bin', type: 'directory' }]);
    const topTar = tarBuffer([{ path: 'etc/.wh.os', type: 'file' }, { path: 'app/run', type: 'file', data: '#!/bin/sh\n', mode: 0o755 }]);
    const base = await store.importLayer(once(gzipSync(baseTar)));
    assert.equal(base.diffId, sha256(baseTar), 'diff id is the hash of the uncompressed tar');
    assert.equal(base.chainId, base.diffId);
    const top = await store.importLayer(once(topTar), base.chainId);
    assert.equal(top.chainId, sha256(Buffer.from(`${base.chainId} ${top.diffId}`)));

    const stray = await store.importLayer(once(tarBuffer([{ path: 'unused', type: 'file', data: 'x' }])));
    const strayDir = join(dir, 'layers', stray.chainId.slice(7));
    assert.ok(existsSync(strayDir));
    store.releaseLayer(stray.chainId);
    assert.equal(existsSync(strayDir), false, 'a released, unused layer is collected');

    const config = { architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:05Z', config: { Cmd: ['/app/run'] }, rootfs: { type: 'layers', diff_ids: [base.diffId, top.diffId] } };
    const img = store.createImage(config, { tags: ['local/built:1'] });
    assert.equal(img.id, sha256(Buffer.from(JSON.stringify(config))));
    assert.deepEqual(img.repoTags, ['local/built:1']);
    assert.deepEqual(store.get('docker.io/local/built:1')?.id, img.id);
    assert.equal(readFileSync(join(dir, 'blobs/sha256', img.id.slice(7)), 'utf8'), JSON.stringify(config), 'the config is stored as given: its hash is the id');
    const [l0, l1] = store.layerDirs(img);
    assert.equal(readFileSync(join(l0, 'etc/os'), 'utf8'), 'built\n');
    assert.ok(lstatSync(join(l1, 'etc/os')).isCharacterDevice());
    assert.equal(lstatSync(join(l1, 'app/run')).mode & 0o777, 0o755);

    assert.throws(() => store.createImage({ rootfs: { type: 'layers', diff_ids: ['sha256:' + '0'.repeat(64)] } }), (e: unknown) => e instanceof EngineError && e.status === 400 && /not in the store/.test(e.message));

    const reopened = await openImageStore(dir);
    assert.equal(reopened.get('local/built:1')?.id, img.id);

    assert.deepEqual(store.remove('local/built:1', notUsed).at(-1), { Deleted: img.id });
    assert.equal(existsSync(l0), false);
    assert.equal(existsSync(l1), false);
  });

  it('imports of one layer at the same time all succeed and leave one complete layer', async () => {
    const tar = tarBuffer([{ path: 'data/file', type: 'file', data: 'same\n' }, { path: 'data/more', type: 'file', data: 'x'.repeat(100_000) }]);
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => store.importLayer(once(gzipSync(tar)))));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], JSON.stringify(results.map((r) => r.status === 'rejected' && String(r.reason))));
    const diffId = (results[0] as PromiseFulfilledResult<{ diffId: string }>).value.diffId;
    const img = store.createImage({ os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }, { tags: ['local/same:1'] });
    const [layer] = store.layerDirs(img);
    assert.equal(readFileSync(join(layer, 'data/file'), 'utf8'), 'same\n');
    assert.deepEqual(readdirSync(join(dir, 'tmp')).filter((n) => n.startsWith('import-')), [], 'no import left behind');
    for (let i = 1; i < 4; i++) store.releaseLayer(diffId);
    store.remove('local/same:1', notUsed);
    assert.equal(existsSync(layer), false);
  });
});

describe('a registry with its own htpasswd auth', () => {
  it('pushes and pulls with basic credentials, and refuses without them', async () => {
    const secured = await startRegistry({ auth: { username: 'carol', password: 'pa55' } });
    try {
      const auth = { username: 'carol', password: 'pa55' };
      await assert.rejects(pushBusyboxImage(secured.url, 'private'), /unauthorized/);
      const p = await pushBusyboxImage(secured.url, 'private', 'v1', { auth });
      await assert.rejects(store.pull(p.ref), (e: unknown) => e instanceof EngineError && /unauthorized/.test(e.message));
      const img = await store.pull(p.ref, { auth });
      assert.equal(img.id, p.configDigest);
      store.remove(p.ref, notUsed);
    } finally {
      await secured.stop();
    }
  });
});
