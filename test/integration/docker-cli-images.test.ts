// Moving images with the real docker CLI against the agent, with real registries (one
// open, one with htpasswd auth) and skopeo as the other tool: push (skip, mount, upload,
// the same digest as here, per-layer progress), login, pull of manifest lists with
// --platform and of zstd layers, save and load both ways with skopeo's docker-archive,
// history, inspect, prune, system df, and an image of 120 layers that starts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { MEDIA, RegistryClient, sha256Digest } from '../../agent/engine/images/registry';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxImage, pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { tarBuffer, type TarWriteEntry } from '../fixtures/tar';

const isRoot = process.getuid?.() === 0;
const haveSkopeo = existsSync('/usr/bin/skopeo');

function skopeo(args: string[]): string {
  const r = spawnSync('timeout', ['-k', '5', '120', 'skopeo', ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe('docker push, login, pull, save and load', { skip: (!isRoot && 'needs root') || (!haveSkopeo && 'skopeo is not installed (node scripts/setup.mjs --test)'), timeout: 600_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let authed: Awaited<ReturnType<typeof startRegistry>>;
  let pushed: Awaited<ReturnType<typeof pushBusyboxImage>>;
  const creds = { username: 'alice', password: 'secret-pw' };

  before(async () => {
    agent = await startAgentProcess('images');
    registry = await startRegistry();
    authed = await startRegistry({ auth: creds });
    pushed = await pushBusyboxImage(registry.url, 'busybox', 'latest', { extraLayers: [[{ path: 'etc/motd', type: 'file', data: 'hello from layer 2\n', mode: 0o644 }]] });
  });

  after(async () => {
    for (const id of agent.ok(['ps', '-aq']).split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
    await authed?.stop();
  });

  it('pull shows per-layer progress and the digest; a second image sharing layers fetches only its own', async () => {
    const out = agent.ok(['pull', pushed.ref]);
    for (const d of pushed.layerDigests) assert.match(out, new RegExp(`${d.slice(7, 19)}: Pull complete`));
    assert.match(out, new RegExp(`Digest: ${pushed.manifestDigest}`));
    const other = await pushBusyboxImage(registry.url, 'other', 'v1', { extraLayers: [[{ path: 'etc/other', type: 'file', data: 'other\n', mode: 0o644 }]] });
    const out2 = agent.ok(['pull', other.ref]);
    assert.match(out2, new RegExp(`${other.layerDigests[0].slice(7, 19)}: Already exists`));
    assert.match(out2, new RegExp(`${other.layerDigests[1].slice(7, 19)}: Pull complete`));
  });

  it('push to a new repository mounts shared layers, uploads the rest, and the registry gets the digest shown here', () => {
    const target = `${registry.url}/copies/busybox:v1`;
    agent.ok(['tag', pushed.ref, target]);
    const out = agent.ok(['push', target]);
    assert.match(out, /The push refers to repository \[127\.0\.0\.1:\d+\/copies\/busybox\]/);
    assert.match(out, /Mounted from busybox/);
    const digest = /v1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out)?.[1];
    assert.equal(digest, pushed.manifestDigest, 'the pulled manifest is pushed byte for byte');
    const inspected = JSON.parse(agent.ok(['image', 'inspect', target]))[0] as { RepoDigests: string[]; Architecture: string; Os: string; Created: string; Config: { Env: string[]; Cmd: string[] }; RootFS: { Layers: string[] } };
    assert.ok(inspected.RepoDigests.includes(`${registry.url}/copies/busybox@${digest}`), inspected.RepoDigests.join(' '));

    const sk = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${target}`])) as { Digest: string; Architecture: string; Os: string; Created: string; Env: string[]; Layers: string[] };
    assert.equal(sk.Digest, digest);
    assert.equal(sk.Architecture, inspected.Architecture);
    assert.equal(sk.Os, inspected.Os);
    assert.equal(Date.parse(sk.Created), Date.parse(inspected.Created));
    assert.deepEqual(sk.Env, inspected.Config.Env);
    assert.deepEqual(sk.Layers, pushed.layerDigests);
    const skConfig = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${target}`])) as { rootfs: { diff_ids: string[] }; config: { Cmd: string[] } };
    assert.deepEqual(skConfig.rootfs.diff_ids, inspected.RootFS.Layers);
    assert.deepEqual(skConfig.config.Cmd, inspected.Config.Cmd);

    const again = agent.ok(['push', target]);
    assert.equal((again.match(/Layer already exists/g) ?? []).length, pushed.layerDigests.length, again);
  });

  it('push of an image made here (import) gzips its layer once: every push sends the same digest, and it pulls back and runs', () => {
    const tar = path.join(agent.tmp, 'fs.tar');
    agent.ok(['create', '--name', 'src', pushed.ref]);
    agent.ok(['export', '-o', tar, 'src']);
    agent.ok(['rm', 'src']);
    const target = `${registry.url}/imported:v1`;
    agent.ok(['import', '-c', 'CMD ["cat", "/etc/motd"]', tar, target]);
    const first = /digest: (sha256:[0-9a-f]{64})/.exec(agent.ok(['push', target]))?.[1];
    const second = /digest: (sha256:[0-9a-f]{64})/.exec(agent.ok(['push', target]))?.[1];
    assert.ok(first);
    assert.equal(second, first);
    agent.ok(['rmi', target]);
    agent.ok(['pull', target]);
    assert.equal(agent.ok(['run', '--rm', target]), 'hello from layer 2\n');
    const raw = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target}`])) as { layers: Array<{ mediaType: string }> };
    assert.equal(raw.layers[0].mediaType, MEDIA.dockerLayerGzip);
  });

  it('push of an unknown tag is the CLI\'s "does not exist locally"', () => {
    const r = agent.docker(['push', `${registry.url}/nothing:here`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /An image does not exist locally with the tag: 127\.0\.0\.1:\d+\/nothing/);
  });

  it('login checks the credentials with the registry, keeps them (0600), and push and pull with them work', () => {
    const bad = agent.docker(['login', '-u', creds.username, '--password-stdin', authed.url], { input: 'wrong\n' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unauthorized|incorrect username or password/);
    assert.equal(existsSync(path.join(agent.root, 'images/registry-auth.json')), false, 'a failed login stores nothing');

    const out = agent.ok(['login', '-u', creds.username, '--password-stdin', authed.url], { input: `${creds.password}\n` });
    assert.match(out, /Login Succeeded/);
    const file = path.join(agent.root, 'images/registry-auth.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { auths: object }).auths), [authed.url]);

    const target = `${authed.url}/private/busybox:v1`;
    agent.ok(['tag', pushed.ref, target]);
    assert.match(agent.ok(['push', target]), /digest: sha256:/);
    agent.ok(['rmi', target]);
    // The CLI forgets its copy; the agent's own login (from POST /auth) still serves the pull.
    agent.ok(['logout', authed.url]);
    assert.match(agent.ok(['pull', target]), /Downloaded newer image/);
  });

  it('pull --platform picks that entry of a manifest list; a single-platform image of another platform is refused', async () => {
    const client = new RegistryClient(registry.url);
    const entries = [];
    for (const arch of ['amd64', 's390x']) {
      const img = await busyboxImage({ architecture: arch, config: { Labels: { arch } } });
      for (const l of img.layers) await client.pushBlob('multi', l.gz);
      await client.pushBlob('multi', img.config);
      await client.putManifest('multi', img.manifestDigest, img.manifest, img.mediaType);
      entries.push({ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length, platform: { os: 'linux', architecture: arch } });
    }
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.dockerList, manifests: entries }));
    await client.putManifest('multi', 'both', list, MEDIA.dockerList);
    agent.ok(['pull', '--platform', 'linux/s390x', `${registry.url}/multi:both`]);
    const img = JSON.parse(agent.ok(['image', 'inspect', `${registry.url}/multi:both`]))[0] as { Architecture: string; Config: { Labels: Record<string, string> } };
    assert.equal(img.Architecture, 's390x');
    assert.equal(img.Config.Labels.arch, 's390x');
    const r = agent.docker(['pull', '--platform', 'linux/arm64', pushed.ref]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /does not match the specified platform: wanted linux\/arm64/);
  });

  it('pulls an image whose layer is zstd-compressed', async () => {
    const client = new RegistryClient(registry.url);
    const base = await busyboxImage();
    const extra = tarBuffer([{ path: 'zstd.txt', type: 'file', data: 'zstd layer\n', mode: 0o644 }]);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: extra });
    const config = Buffer.from(JSON.stringify({ ...JSON.parse(base.config.toString()), rootfs: { type: 'layers', diff_ids: [base.layers[0].diffId, sha256Digest(extra)] } }));
    for (const b of [base.layers[0].gz, zst, config]) await client.pushBlob('zstd', b);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, size: config.length, digest: sha256Digest(config) },
      layers: [
        { mediaType: MEDIA.ociLayerGzip, size: base.layers[0].gz.length, digest: base.layers[0].digest },
        { mediaType: MEDIA.ociLayerZstd, size: zst.length, digest: sha256Digest(zst) },
      ],
    }));
    await client.putManifest('zstd', 'v1', manifest, MEDIA.ociManifest);
    agent.ok(['pull', `${registry.url}/zstd:v1`]);
    assert.equal(agent.ok(['run', '--rm', `${registry.url}/zstd:v1`, 'cat', '/zstd.txt']), 'zstd layer\n');
  });

  it('save writes a docker-archive skopeo reads; load takes it back and one skopeo wrote', () => {
    const archive = path.join(agent.tmp, 'saved.tar');
    const second = `${registry.url}/other:v1`;
    agent.ok(['save', '-o', archive, pushed.ref, second]);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[] }>;
    assert.deepEqual(manifest.map((m) => m.RepoTags).flat().sort(), [pushed.ref, second].sort());
    const sk = JSON.parse(skopeo(['inspect', `docker-archive:${archive}:${pushed.ref}`])) as { Layers: string[] };
    // In a docker-archive the layers are plain tars, named by their diff IDs.
    assert.deepEqual(sk.Layers, pushed.diffIds);
    const dir = path.join(agent.tmp, 'skopeo-dir');
    skopeo(['copy', `docker-archive:${archive}:${pushed.ref}`, `dir:${dir}`]);
    assert.ok(existsSync(path.join(dir, 'manifest.json')));

    const id = agent.ok(['image', 'inspect', '--format', '{{.Id}}', pushed.ref]).trim();
    agent.ok(['rmi', '-f', id]);
    agent.ok(['rmi', second]);
    const loaded = agent.ok(['load', '-i', archive]);
    assert.match(loaded, new RegExp(`Loaded image: ${pushed.ref.replace(/[.]/g, '\\.')}`));
    assert.equal(agent.ok(['run', '--rm', pushed.ref, 'cat', '/etc/motd']), 'hello from layer 2\n');

    const fromSkopeo = path.join(agent.tmp, 'from-skopeo.tar');
    skopeo(['copy', '--src-tls-verify=false', `docker://${registry.url}/other:v1`, `docker-archive:${fromSkopeo}:skopeo/other:copied`]);
    assert.match(agent.ok(['load', '-i', fromSkopeo]), /Loaded image: skopeo\/other:copied/);
    assert.equal(agent.ok(['run', '--rm', 'skopeo/other:copied', 'cat', '/etc/other']), 'other\n');
  });

  it('load refuses an archive whose layer does not match its config, and keeps nothing of it', () => {
    const bad = path.join(agent.tmp, 'bad.tar');
    const layer = tarBuffer([{ path: 'x', type: 'file', data: 'x', mode: 0o644 }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`] } }));
    const entries: TarWriteEntry[] = [
      { path: 'layer.tar', type: 'file', data: layer, mode: 0o644 },
      { path: 'config.json', type: 'file', data: config, mode: 0o644 },
      { path: 'manifest.json', type: 'file', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['bad:one'], Layers: ['layer.tar'] }]), mode: 0o644 },
    ];
    writeFileSync(bad, tarBuffer(entries));
    const before = agent.ok(['images', '-q', '--no-trunc']);
    const r = agent.docker(['load', '-i', bad]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not the diff ID its config names/);
    assert.equal(agent.ok(['images', '-q', '--no-trunc']), before);
    const r2 = agent.docker(['load'], { input: gzipSync(Buffer.from('not a tar at all, just text')) });
    assert.notEqual(r2.status, 0);
  });

  it('history and inspect show what the config says', () => {
    const hist = agent.ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}', pushed.ref]).trim().split('\n');
    assert.equal(hist.length, 2);
    assert.match(hist[0], /^sha256:[0-9a-f]{64}\|berth test fixture: extra layer 1\|/);
    assert.match(hist[1], /^<missing>\|berth test fixture: busybox-static\|[1-9]/);
    const img = JSON.parse(agent.ok(['image', 'inspect', pushed.ref]))[0] as { RootFS: { Type: string; Layers: string[] }; Metadata: { LastTagTime: string } };
    assert.deepEqual(img.RootFS, { Type: 'layers', Layers: pushed.diffIds });
  });

  it('image prune takes dangling images, -a unused tagged ones too, never one a container uses; system df counts them', () => {
    agent.ok(['tag', pushed.ref, 'keep:me']);
    agent.ok(['create', '--name', 'user', 'keep:me']);
    agent.ok(['import', '-c', 'LABEL prune=yes', path.join(agent.tmp, 'fs.tar'), 'dangle:v1']);
    agent.ok(['import', '-c', 'LABEL prune=yes', '-c', 'ENV X=1', path.join(agent.tmp, 'fs.tar'), 'dangle:v1']); // the first one is dangling now
    const df = agent.ok(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
    assert.match(df, /^Images [1-9]\d*$/m);
    const dangling = agent.ok(['images', '-q', '--filter', 'dangling=true']).trim();
    assert.ok(dangling, 'one dangling image');
    assert.match(agent.ok(['image', 'prune', '-f']), /Total reclaimed space/);
    assert.equal(agent.ok(['images', '-q', '--filter', 'dangling=true']).trim(), '');
    agent.ok(['image', 'prune', '-a', '-f', '--filter', 'label=prune=yes']);
    assert.equal(agent.docker(['image', 'inspect', 'dangle:v1']).status, 1, 'tagged but unused, with the label: pruned');
    agent.ok(['image', 'prune', '-a', '-f']);
    assert.equal(agent.docker(['image', 'inspect', 'keep:me']).status, 0, 'a container uses it: kept');
    assert.match(agent.docker(['image', 'prune', '-f', '--filter', 'colour=red']).stderr, /invalid filter 'colour'/);
    agent.ok(['rm', 'user']);
  });

  it('an image of 120 layers starts (short layer links keep the overlay options in a page)', async () => {
    const extraLayers = Array.from({ length: 119 }, (_, i): TarWriteEntry[] => [{ path: `layers/l${i}`, type: 'file', data: `${i}\n`, mode: 0o644 }]);
    const deep = await pushBusyboxImage(registry.url, 'deep', 'v1', { extraLayers });
    agent.ok(['pull', '-q', deep.ref]);
    assert.equal(agent.ok(['run', '--rm', deep.ref, 'sh', '-c', 'ls /layers | wc -l; cat /layers/l118']), '119\n118\n');
  });
});
