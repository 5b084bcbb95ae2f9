// Mount targets stay inside the container (the class of bug behind runc's CVE-2021-30465):
// a hostile image whose volume and mount targets are symlinks to a host directory, written
// absolute and climbing with "..", and a container that swaps a mount's parent directory for
// such a symlink between two starts. Every target must land inside the container's own root
// (where the image has a directory of the same path), the volume must be filled from the
// image's side of that path, and the host directory the links name must end as it began.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import type { TarWriteEntry } from '../fixtures/tar';

const isRoot = process.getuid?.() === 0;

describe('mount targets that are symlinks to the host stay inside the container', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';
  let hostile = '';
  /** The same layer without the VOLUME, where mounts must not stack on the image's volume. */
  let hostileNoVol = '';
  /** The host directory the image's links name: it holds `marker` and must keep holding only that. */
  let hostDir = '';
  let src = '';
  const ok = (args: string[]) => agent.ok(args).trim();
  const dataOf = (v: string) => (JSON.parse(ok(['volume', 'inspect', '-f', '{{json .Mountpoint}}', v])) as string);
  const hostUntouched = () => {
    assert.deepEqual(readdirSync(hostDir), ['marker'], 'the host directory the image names holds only what it held');
    assert.equal(readFileSync(path.join(hostDir, 'marker'), 'utf8'), 'host only\n');
  };

  before(async () => {
    agent = await startAgentProcess('escape');
    registry = await startRegistry();
    hostDir = mkdtempSync(path.join(tmpdir(), 'berth-escape-host-'));
    writeFileSync(path.join(hostDir, 'marker'), 'host only\n');
    src = mkdtempSync(path.join(tmpdir(), 'berth-escape-src-'));
    writeFileSync(path.join(src, 'from-src'), 'bind source\n');
    // The image has the host directory's path as a directory of its own, with a file the
    // volume must be filled from; its mount targets are links to that path.
    const parts = hostDir.split('/').filter(Boolean);
    const layer: TarWriteEntry[] = [
      ...parts.map((_, i): TarWriteEntry => ({ path: parts.slice(0, i + 1).join('/'), type: 'directory', mode: i === 0 && parts[0] === 'tmp' ? 0o1777 : 0o755 })),
      { path: `${hostDir.slice(1)}/inside.txt`, type: 'file', mode: 0o644, data: 'container side\n' },
      { path: 'vol', type: 'symlink', linkpath: hostDir },
      { path: 'climb', type: 'symlink', linkpath: `${'../'.repeat(12)}${hostDir.slice(1)}/inner` },
      { path: 'deep', type: 'directory', mode: 0o755 },
      { path: 'deep/up', type: 'symlink', linkpath: '../../../../../../..' },
    ];
    hostile = (await pushBusyboxImage(registry.url, 'hostile', 'mounts', { extraLayers: [layer], config: { Volumes: { '/vol': {} } } })).ref;
    hostileNoVol = (await pushBusyboxImage(registry.url, 'hostile', 'novol', { extraLayers: [layer] })).ref;
    image = (await pushBusyboxImage(registry.url, 'busybox', 'escape')).ref;
    ok(['pull', '-q', hostile]);
    ok(['pull', '-q', hostileNoVol]);
    ok(['pull', '-q', image]);
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', '-v', id]);
    for (const v of agent?.ok(['volume', 'ls', '-q']).split('\n').filter(Boolean) ?? []) agent.docker(['volume', 'rm', '-f', v]);
    const left = agent ? mountsUnder(agent.tmp) : [];
    await agent?.stop();
    await registry?.stop();
    for (const d of [hostDir, src]) if (d) rmSync(d, { recursive: true, force: true });
    assert.deepEqual(left, [], 'nothing left mounted');
  });

  it('the image\'s VOLUME at an absolute link: the volume goes to the container\'s own copy of the path, filled from the image\'s side', () => {
    const out = ok(['run', '--name', 'imgvol', hostile, 'sh', '-c', `cat /vol/inside.txt; echo made > /vol/written; ls ${hostDir}`]);
    assert.equal(out, 'container side\ninside.txt\nwritten');
    const vol = (JSON.parse(ok(['inspect', '-f', '{{json .Mounts}}', 'imgvol'])) as Array<{ Name: string; Destination: string }>)[0];
    assert.equal(vol.Destination, '/vol');
    assert.deepEqual(readdirSync(dataOf(vol.Name)).sort(), ['inside.txt', 'written']);
    hostUntouched();
    ok(['rm', '-v', 'imgvol']);
  });

  it('-v and --mount targets through absolute, climbing and root-climbing links, and tmpfs ones, land inside', () => {
    const out = ok([
      'run', '--rm',
      '-v', 'climbed:/climb',
      '-v', `${src}:/deep/up${hostDir}/viaup`,
      '--mount', `type=bind,src=${src},dst=/vol/bound,readonly`,
      '--mount', 'type=tmpfs,dst=/climb/t',
      '--tmpfs', '/vol/t2',
      hostileNoVol,
      'sh', '-c', `echo climbed > /climb/c.txt; cat ${hostDir}/viaup/from-src /vol/bound/from-src; grep -c ' ${hostDir}/' /proc/mounts`,
    ]);
    assert.equal(out, 'bind source\nbind source\n5');
    // What the container wrote through /climb is in the volume; the climbing bind did not reach the host.
    assert.deepEqual(readdirSync(dataOf('climbed')).sort(), ['c.txt', 't']);
    assert.ok(!existsSync(path.join(hostDir, 'viaup')) && !existsSync(path.join(hostDir, 'inner')));
    assert.deepEqual(readdirSync(src), ['from-src'], 'the bind source got no mount points made in it');
    hostUntouched();
    ok(['volume', 'rm', 'climbed']);
  });

  it('docker cp into the volume at the linked path writes into the volume, not the host', () => {
    writeFileSync(path.join(src, 'cp.txt'), 'by cp\n');
    ok(['run', '-d', '--name', 'cptarget', '-v', 'cpvol:/vol', hostile, 'sleep', '300']);
    ok(['cp', path.join(src, 'cp.txt'), 'cptarget:/vol/']);
    ok(['cp', path.join(src, 'cp.txt'), `cptarget:${hostDir}/`]);
    assert.deepEqual(readdirSync(dataOf('cpvol')).sort(), ['cp.txt', 'inside.txt']);
    hostUntouched();
    ok(['rm', '-f', 'cptarget']);
    ok(['volume', 'rm', 'cpvol']);
    rmSync(path.join(src, 'cp.txt'));
  });

  it('a container that swaps a mount\'s parent for a link to the host between two starts gets its mounts inside itself', async () => {
    // First run: /data/sub is the bind (/data made for it in the container's own layer); the
    // container moves /data away and leaves a link to the host directory in its place
    // (absolute), and /data2 the same with a climbing link.
    const script = [
      'if [ -L /data ]; then',
      '  cat /data/sub/from-src; echo second > /data/sub/second.txt; echo vol > /data2/v/v.txt; readlink /data',
      'else',
      `  mv /data /gone && ln -s ${hostDir} /data && mv /data2 /gone2 && ln -s ${'../'.repeat(8)}${hostDir.slice(1)} /data2; echo swapped`,
      'fi',
    ].join('\n');
    ok(['create', '--name', 'swapper', '-v', `${src}:/data/sub`, '-v', 'swapvol:/data2/v', hostile, 'sh', '-c', script]);
    assert.equal(ok(['start', '-a', 'swapper']), 'swapped');
    assert.equal(ok(['start', '-a', 'swapper']), `bind source\n${hostDir}`);
    assert.equal(readFileSync(path.join(src, 'second.txt'), 'utf8'), 'second\n', 'the bind was mounted where the container\'s own link leads');
    assert.equal(readFileSync(path.join(dataOf('swapvol'), 'v.txt'), 'utf8'), 'vol\n');
    hostUntouched();
    // And a third start by a new agent, from the record on disk: the same.
    await agent.restart();
    assert.equal(ok(['start', '-a', 'swapper']), `bind source\n${hostDir}`);
    hostUntouched();
    ok(['rm', 'swapper']);
    ok(['volume', 'rm', 'swapvol']);
    rmSync(path.join(src, 'second.txt'));
  });

  it('a volume whose content is a link out is mounted and copied without following it on the host', () => {
    // A volume holding a link to the host directory, bound in by another container: still the container's own view.
    ok(['volume', 'create', 'linky']);
    ok(['run', '--rm', '-v', 'linky:/l', image, 'ln', '-s', hostDir, '/l/out']);
    mkdirSync(path.join(src, 'mnt'), { recursive: true });
    const out = ok(['run', '--rm', '-v', 'linky:/l', '-v', `${src}:/l/out/sub`, image, 'sh', '-c', `ls ${hostDir}/sub`]);
    assert.equal(out, 'from-src\nmnt');
    hostUntouched();
    const outDir = mkdtempSync(path.join(tmpdir(), 'berth-escape-out-'));
    try {
      ok(['create', '--name', 'reader', '-v', 'linky:/l', image, 'true']);
      agent.ok(['cp', 'reader:/l/.', outDir]);
      assert.deepEqual(readdirSync(outDir), ['out'], 'the link is copied as a link');
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
    ok(['rm', 'reader']);
    ok(['volume', 'rm', 'linky']);
    rmSync(path.join(src, 'mnt'), { recursive: true });
    hostUntouched();
  });
});
