// Volumes, bind mounts and tmpfs mounts through the real docker CLI against a real agent:
// `docker volume create/ls/inspect/rm/prune` (labels, filters, the local driver's tmpfs and
// bind options, Docker's refusals and words), a volume filled from the image on first use
// (owners, modes, xattrs, links) and not when it has content or nocopy, anonymous volumes
// from VOLUME and `-v /path` and what `rm -v` and `--rm` do with them, `-v` and `--mount`
// binds (read-only, a missing source, slave propagation), `--mount type=tmpfs`,
// `--volumes-from`, inspect's Mounts, `ps --filter volume=`, `system df`, the volume events,
// `docker cp` into and out of volumes (running, stopped, --read-only) and `docker export`
// leaving them out. Nothing may be left mounted on the host afterwards.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTar } from '../../agent/engine/layers/tar';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** Python's xattr calls: Node has none, and the test must read what the engine wrote. */
function getXattr(p: string, name: string): string {
  const r = spawnSync('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())', p, name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `(none: ${r.stderr.trim().split('\n').at(-1)})`;
}

describe('volumes, binds and tmpfs mounts through the docker CLI', { skip: !isRoot && 'needs root', timeout: 900_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';
  let seeded = '';
  let host = '';
  const ok = (args: string[], input?: string) => agent.ok(args, { input }).trim();
  const fails = (args: string[]) => {
    const r = agent.docker(args);
    assert.notEqual(r.status, 0, `docker ${args.join(' ')} was accepted: ${r.stdout}`);
    return r.stderr;
  };
  const inspect = <T>(what: string, name: string, fmt: string): T => JSON.parse(ok([what, 'inspect', '-f', `{{json ${fmt}}}`, name])) as T;
  const mountsOf = (c: string) => inspect<MountPoint[]>('container', c, '.Mounts');
  const dataOf = (v: string) => inspect<string>('volume', v, '.Mountpoint');

  before(async () => {
    agent = await startAgentProcess('volumes');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'volumes')).ref;
    // An image with content where volumes go: owners, modes, an xattr, a symlink, a hard link, a fifo; and a VOLUME.
    seeded = (
      await pushBusyboxImage(registry.url, 'seeded', 'v1', {
        config: { Volumes: { '/seed': {} } },
        extraLayers: [
          [
            { path: 'seed', type: 'directory', mode: 0o750, uid: 1234, gid: 2345 },
            { path: 'seed/owned.txt', type: 'file', mode: 0o640, uid: 1001, gid: 1002, data: 'from the image\n', xattrs: { 'user.berth': 'kept' } },
            { path: 'seed/setuid', type: 'file', mode: 0o4755, data: '#!/bin/sh\n' },
            { path: 'seed/link', type: 'symlink', linkpath: 'owned.txt' },
            { path: 'seed/hard', type: 'hardlink', linkpath: 'seed/owned.txt' },
            { path: 'seed/sub', type: 'directory', mode: 0o700, uid: 7, gid: 8 },
            { path: 'seed/sub/deep.txt', type: 'file', mode: 0o600, data: 'deep\n' },
            { path: 'seed/fifo', type: 'fifo', mode: 0o600 },
            { path: 'notadir', type: 'file', mode: 0o644, data: 'a file\n' },
          ],
        ],
      })
    ).ref;
    ok(['pull', '-q', image]);
    ok(['pull', '-q', seeded]);
    host = mkdtempSync(path.join(tmpdir(), 'berth-volumes-host-'));
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', '-v', id]);
    for (const v of agent?.ok(['volume', 'ls', '-q']).split('\n').filter(Boolean) ?? []) agent.docker(['volume', 'rm', '-f', v]);
    const left = agent ? mountsUnder(agent.tmp) : [];
    await agent?.stop();
    await registry?.stop();
    for (const m of mountsUnder(host).filter(Boolean)) spawnSync('umount', ['-l', m]);
    if (host) rmSync(host, { recursive: true, force: true });
    assert.deepEqual(left, [], 'nothing the agent mounted is left on the host');
  });

  it('volume create, ls with filters, inspect, rm and prune, in Docker\'s shapes and words', () => {
    assert.equal(ok(['volume', 'create', '--label', 'team=web', '--label', 'tier', 'webdata']), 'webdata');
    assert.equal(ok(['volume', 'create', 'plain']), 'plain');
    const anon = ok(['volume', 'create']);
    assert.match(anon, /^[0-9a-f]{64}$/);
    // Creating an existing volume gives it back as it is.
    assert.equal(ok(['volume', 'create', 'plain']), 'plain');
    const v = JSON.parse(ok(['volume', 'inspect', 'webdata']))[0];
    assert.deepEqual(
      { Name: v.Name, Driver: v.Driver, Labels: v.Labels, Options: v.Options, Scope: v.Scope },
      { Name: 'webdata', Driver: 'local', Labels: { team: 'web', tier: '' }, Options: null, Scope: 'local' },
    );
    assert.equal(v.Mountpoint, path.join(agent.root, 'volumes', 'webdata', '_data'));
    assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(JSON.parse(ok(['volume', 'inspect', anon]))[0].Labels, { 'com.docker.volume.anonymous': '' });
    // Closed to other users, the record atomic and private.
    assert.equal(statSync(path.join(agent.root, 'volumes')).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(agent.root, 'volumes', 'webdata', 'volume.json')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(path.join(agent.root, 'volumes')).filter((n) => n.startsWith('.')), [], 'no temp dirs left by the creates');

    const ls = (...f: string[]) => ok(['volume', 'ls', '-q', ...f.flatMap((x) => ['--filter', x])]).split('\n').filter(Boolean).sort();
    assert.deepEqual(ls(), [anon, 'plain', 'webdata'].sort());
    assert.deepEqual(ls('label=team=web'), ['webdata']);
    assert.deepEqual(ls('label=tier'), ['webdata']);
    assert.deepEqual(ls('name=web'), ['webdata']);
    assert.deepEqual(ls('name=^pl'), ['plain']);
    assert.deepEqual(ls('driver=local', 'label=team'), ['webdata']);
    ok(['create', '--name', 'user', '-v', 'plain:/p', image, 'true']);
    assert.deepEqual(ls('dangling=false'), ['plain']);
    assert.deepEqual(ls('dangling=true'), [anon, 'webdata'].sort());
    assert.match(fails(['volume', 'ls', '--filter', 'colour=red']), /invalid filter 'colour'/);

    // In use: Docker's 409 words, forced or not; a missing one is a 404, or nothing with -f.
    const id = ok(['inspect', '-f', '{{.Id}}', 'user']);
    assert.match(fails(['volume', 'rm', 'plain']), new RegExp(`Error response from daemon: remove plain: volume is in use - \\[${id}\\]`));
    assert.match(fails(['volume', 'rm', '-f', 'plain']), /volume is in use/);
    assert.match(fails(['volume', 'inspect', 'nosuch']), /no such volume/);
    assert.match(fails(['volume', 'rm', 'nosuch']), /get nosuch: no such volume/);
    ok(['volume', 'rm', '-f', 'nosuch']);

    // Prune: unused anonymous volumes (API 1.42+), every unused local volume without options with -a, narrowed by labels.
    ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'withopts']);
    assert.doesNotMatch(ok(['volume', 'prune', '-f', '--filter', 'label=team']), /webdata/, 'a named volume stays without -a');
    const pruned = ok(['volume', 'prune', '-af', '--filter', 'label=team']);
    assert.match(pruned, /Deleted Volumes:\nwebdata\n/);
    assert.deepEqual(ls(), [anon, 'plain', 'withopts'].sort());
    const all = ok(['volume', 'prune', '-f']);
    assert.match(all, new RegExp(`Deleted Volumes:\\n${anon}\\n`));
    assert.deepEqual(ls(), ['plain', 'withopts'], 'the used one and the one with driver options stay');
    ok(['rm', 'user']);
    ok(['volume', 'rm', 'plain', 'withopts']);
    assert.deepEqual(ls(), []);
    assert.ok(!existsSync(path.join(agent.root, 'volumes', 'plain')), 'its directory is gone');
  });

  it('refuses what the local driver cannot do here, naming it, and leaves nothing behind', () => {
    const cases: Array<[string[], RegExp]> = [
      [['-d', 'nfsplugin'], /create v1: Berth does not support volume driver "nfsplugin" yet \(only "local"\)/],
      [['-o', 'type=nfs', '-o', 'device=:/export', '-o', 'o=addr=10.0.0.1'], /create v1: Berth does not support local volumes of type "nfs" yet/],
      [['-o', 'type=ext4', '-o', 'device=/dev/sdz1'], /Berth does not support local volumes of type "ext4" yet/],
      [['-o', 'size=10m'], /create v1: quota size requested but no quota support/],
      [['-o', 'colour=red'], /create v1: invalid option: "colour"/],
      [['-o', 'type=tmpfs'], /create v1: missing required option: "device"/],
      [['-o', 'o=size=1m'], /missing required option: "(device|type)"/],
      [['-o', 'type=none', '-o', 'device=/tmp'], /type none without o=bind/],
    ];
    for (const [flags, words] of cases) assert.match(fails(['volume', 'create', ...flags, 'v1']), words, flags.join(' '));
    assert.match(fails(['volume', 'create', 'x']), /volume name is too short, names should be at least two alphanumeric characters/);
    assert.match(fails(['volume', 'create', 'bad/name']), /"bad\/name" includes invalid characters for a local volume name/);
    assert.equal(ok(['volume', 'ls', '-q']), '');
    assert.deepEqual(readdirSync(path.join(agent.root, 'volumes')), []);
  });

  it('a new named volume is filled from the image at its target: owners, modes, xattrs, links; not with content, nor with nocopy', () => {
    ok(['run', '--rm', '-v', 'filled:/seed', seeded, 'true']);
    const data = dataOf('filled');
    const st = (p: string) => lstatSync(path.join(data, p));
    assert.deepEqual(readdirSync(data).sort(), ['fifo', 'hard', 'link', 'owned.txt', 'setuid', 'sub']);
    assert.equal(readFileSync(path.join(data, 'owned.txt'), 'utf8'), 'from the image\n');
    assert.deepEqual([st('owned.txt').uid, st('owned.txt').gid, st('owned.txt').mode & 0o7777], [1001, 1002, 0o640]);
    assert.equal(st('setuid').mode & 0o7777, 0o4755, 'setuid kept');
    assert.equal(getXattr(path.join(data, 'owned.txt'), 'user.berth'), 'kept');
    assert.ok(st('link').isSymbolicLink());
    assert.equal(st('hard').ino, st('owned.txt').ino, 'the hard link is one file still');
    assert.ok(st('fifo').isFIFO());
    assert.deepEqual([st('sub').uid, st('sub').gid, st('sub').mode & 0o7777], [7, 8, 0o700]);
    // The volume's own root takes the directory's owner and mode, as Docker's copy does.
    assert.deepEqual([st('.').uid, st('.').gid, st('.').mode & 0o7777], [1234, 2345, 0o750]);

    // Content there already: left as it is.
    ok(['volume', 'create', 'mine']);
    writeFileSync(path.join(dataOf('mine'), 'keep.txt'), 'mine\n');
    ok(['run', '--rm', '-v', 'mine:/seed', seeded, 'true']);
    assert.deepEqual(readdirSync(dataOf('mine')), ['keep.txt']);
    // nocopy, from -v and from --mount: stays empty.
    ok(['run', '--rm', '-v', 'nocopy1:/seed:nocopy', seeded, 'true']);
    ok(['run', '--rm', '--mount', 'type=volume,src=nocopy2,dst=/seed,volume-nocopy', seeded, 'true']);
    assert.deepEqual(readdirSync(dataOf('nocopy1')), []);
    assert.deepEqual(readdirSync(dataOf('nocopy2')), []);
    // What the container then writes is the volume's, and the next container sees it.
    ok(['run', '--rm', '-v', 'filled:/seed', image, 'sh', '-c', 'echo later > /seed/later.txt']);
    assert.equal(ok(['run', '--rm', '-v', 'filled:/elsewhere', image, 'cat', '/elsewhere/later.txt']), 'later');
    for (const v of ['filled', 'mine', 'nocopy1', 'nocopy2']) ok(['volume', 'rm', v]);
  });

  it('anonymous volumes from VOLUME and -v /path: filled, kept by rm, removed by rm -v and by --rm; a volume over a file is refused', () => {
    ok(['create', '--name', 'anon', '-v', '/extra', seeded, 'true']);
    const mounts = mountsOf('anon');
    assert.deepEqual(mounts.map((m) => [m.Type, m.Destination, m.Mode, m.RW]).sort(), [['volume', '/extra', '', true], ['volume', '/seed', '', true]]);
    const names = mounts.map((m) => m.Name!);
    for (const n of names) assert.match(n, /^[0-9a-f]{64}$/);
    assert.deepEqual(inspect('container', 'anon', '.Config.Volumes'), { '/extra': {}, '/seed': {} });
    const seedVol = mounts.find((m) => m.Destination === '/seed')!;
    assert.equal(readFileSync(path.join(seedVol.Source, 'owned.txt'), 'utf8'), 'from the image\n', 'filled at create');
    ok(['rm', 'anon']);
    for (const n of names) ok(['volume', 'inspect', n]);
    for (const n of names) ok(['volume', 'rm', n]);

    ok(['create', '--name', 'anon2', '-v', '/extra', seeded, 'true']);
    const names2 = mountsOf('anon2').map((m) => m.Name!);
    ok(['volume', 'create', 'named2']);
    ok(['rm', 'anon2']);
    ok(['create', '--name', 'anon3', '-v', 'named2:/n', '-v', '/extra', seeded, 'true']);
    const names3 = mountsOf('anon3').filter((m) => m.Name !== 'named2').map((m) => m.Name!);
    ok(['rm', '-v', 'anon3']);
    const left = ok(['volume', 'ls', '-q']).split('\n');
    for (const n of names3) assert.ok(!left.includes(n), `rm -v removed ${n}`);
    assert.ok(left.includes('named2'), 'rm -v keeps a named volume');
    for (const n of names2) ok(['volume', 'rm', n]);

    const before = new Set(ok(['volume', 'ls', '-q']).split('\n'));
    ok(['run', '--rm', '-v', '/extra', seeded, 'true']);
    assert.deepEqual(new Set(ok(['volume', 'ls', '-q']).split('\n')), before, '--rm takes its anonymous volumes with it');
    ok(['volume', 'rm', 'named2']);

    assert.match(fails(['create', '-v', '/notadir', seeded, 'true']), /cannot mount volume over existing file, file exists \/notadir/);
    assert.equal(ok(['ps', '-aq']), '');
    assert.equal(ok(['volume', 'ls', '-q']), '', 'the refused create left no volume');
  });

  it('-v and --mount binds: read-write and read-only, z/Z without SELinux, a missing -v source made, a missing --mount source refused', () => {
    const src = path.join(host, 'bind');
    mkdirSync(src);
    writeFileSync(path.join(src, 'host.txt'), 'from the host\n');
    assert.equal(ok(['run', '--rm', '-v', `${src}:/b`, image, 'sh', '-c', 'cat /b/host.txt; echo back > /b/ctr.txt']), 'from the host');
    assert.equal(readFileSync(path.join(src, 'ctr.txt'), 'utf8'), 'back\n');
    assert.match(agent.docker(['run', '--rm', '-v', `${src}:/b:ro`, image, 'touch', '/b/x']).stderr, /Read-only file system/);
    assert.match(agent.docker(['run', '--rm', '--mount', `type=bind,src=${src},dst=/b,readonly`, image, 'touch', '/b/x']).stderr, /Read-only file system/);
    assert.ok(!existsSync(path.join(src, 'x')));
    // Without SELinux Docker accepts z and Z and relabels nothing; so does Berth.
    assert.ok(!existsSync('/sys/fs/selinux/enforce'), 'this test expects a host without SELinux');
    assert.equal(ok(['run', '--rm', '-v', `${src}:/b:ro,z`, image, 'cat', '/b/host.txt']), 'from the host');
    assert.equal(ok(['run', '--rm', '-v', `${src}:/b:Z`, image, 'cat', '/b/host.txt']), 'from the host');
    // A file bound on a file.
    assert.equal(ok(['run', '--rm', '-v', `${path.join(src, 'host.txt')}:/etc/motd:ro`, image, 'cat', '/etc/motd']), 'from the host');

    const made = path.join(host, 'made', 'deep');
    ok(['run', '--rm', '-v', `${made}:/m`, image, 'touch', '/m/inside']);
    assert.ok(statSync(made).isDirectory() && existsSync(path.join(made, 'inside')), '-v made the missing source');
    const missing = path.join(host, 'missing');
    assert.match(fails(['run', '--rm', '--mount', `type=bind,src=${missing},dst=/m`, image, 'true']), /invalid mount config for type "bind": bind source path does not exist: .*\/missing/);
    assert.ok(!existsSync(missing));
    assert.match(fails(['run', '--rm', '-v', `${src}:/b:bogus`, image, 'true']), /invalid mode: bogus|invalid/);
    assert.match(fails(['run', '--rm', '-v', `${src}:/b`, '--tmpfs', '/b', image, 'true']), /Duplicate mount point: \/b/);
    assert.match(fails(['run', '--rm', '-v', `${src}:relative`, image, 'true']), /mount path must be absolute|invalid volume specification/);
    const m = (() => {
      ok(['create', '--name', 'binds', '-v', `${src}:/b:ro`, '--mount', `type=bind,source=${src},target=/c,bind-propagation=rprivate`, image, 'true']);
      return mountsOf('binds');
    })();
    assert.deepEqual(m, [
      { Type: 'bind', Source: src, Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'bind', Source: src, Destination: '/c', Mode: '', RW: true, Propagation: 'rprivate' },
    ]);
    assert.deepEqual(inspect('container', 'binds', '.HostConfig.Binds'), [`${src}:/b:ro`]);
    assert.deepEqual(inspect('container', 'binds', '.HostConfig.Mounts'), [{ Type: 'bind', Source: src, Target: '/c', BindOptions: { Propagation: 'rprivate' } }]);
    ok(['rm', 'binds']);
  });

  it('bind propagation: rslave sees what the host mounts later, needs a shared or slave host mount; rshared is refused by name', () => {
    const shared = path.join(host, 'shared');
    mkdirSync(path.join(shared, 'later'), { recursive: true });
    const sh = (args: string[]) => {
      const r = spawnSync('mount', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    assert.match(fails(['run', '--rm', '--mount', `type=bind,src=${shared},dst=/s,bind-propagation=rslave`, image, 'true']), /path .*shared is mounted on .* but it is not a shared or slave mount/);
    sh(['--bind', shared, shared]);
    try {
      sh(['--make-shared', shared]);
      // It waits for a file that only the host's later mount has, then lists the private bind's view of the same place.
      ok(['run', '-d', '--name', 'slave', '--mount', `type=bind,src=${shared},dst=/s,bind-propagation=rslave`, '-v', `${shared}:/p`, image,
        'sh', '-c', 'while [ ! -f /s/later/new.txt ]; do sleep 0.1; done; cat /s/later/new.txt; echo "private: $(ls /p/later)"']);
      sh(['-t', 'tmpfs', 'tmpfs', path.join(shared, 'later')]);
      writeFileSync(path.join(shared, 'later', 'new.txt'), 'mounted after the start\n');
      assert.equal(ok(['wait', 'slave']), '0');
      // The rslave bind shows the host's later mount; the default (rprivate) one does not.
      assert.equal(ok(['logs', 'slave']), 'mounted after the start\nprivate:');
      assert.deepEqual(Object.fromEntries(mountsOf('slave').map((m) => [m.Destination, m.Propagation])), { '/s': 'rslave', '/p': 'rprivate' });
      ok(['rm', '-f', 'slave']);
    } finally {
      spawnSync('umount', ['-l', path.join(shared, 'later')]);
      spawnSync('umount', ['-l', shared]);
    }
    assert.match(fails(['run', '--rm', '--mount', `type=bind,src=${shared},dst=/s,bind-propagation=rshared`, image, 'true']), /Berth does not support rshared mount propagation/);
  });

  it('--mount type=tmpfs with tmpfs-size and tmpfs-mode; --mount type=volume with volume-opt and volume-label; volume-subpath refused', () => {
    const out = ok(['run', '--rm', '--mount', 'type=tmpfs,dst=/t,tmpfs-size=2m,tmpfs-mode=1770', image, 'sh', '-c', "stat -c '%a' /t; df -k /t | tail -1 | awk '{print $2}'; grep ' /t ' /proc/mounts"]);
    const [mode, kb, line] = out.split('\n');
    assert.equal(mode, '1770');
    assert.equal(kb, '2048');
    assert.match(line, /tmpfs \/t tmpfs rw,nosuid,nodev,noexec/);
    ok(['run', '--rm', '--mount', 'type=volume,src=optvol,dst=/o,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m,volume-label=made=by-mount', image, 'sh', '-c', "grep ' /o ' /proc/mounts"]);
    const v = JSON.parse(ok(['volume', 'inspect', 'optvol']))[0];
    assert.deepEqual([v.Options, v.Labels], [{ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }, { made: 'by-mount' }]);
    ok(['volume', 'rm', 'optvol']);
    assert.match(fails(['run', '--rm', '--mount', 'type=volume,src=sv,dst=/n,volume-subpath=x', image, 'true']), /Berth does not support --mount volume-subpath yet/);
    assert.match(fails(['run', '--rm', '--mount', 'type=tmpfs,src=x,dst=/t', image, 'true']), /invalid mount config for type "tmpfs": field Source must not be specified/);
    assert.match(fails(['run', '--rm', '--mount', 'type=volume,dst=/', image, 'true']), /destination can't be '\/'/);
    assert.equal(ok(['volume', 'ls', '-q']), '', 'refused creates made no volume');
  });

  it('a tmpfs volume is shared by the containers using it at once and mounted only while one does; a bind volume shows its device', () => {
    const dev = path.join(host, 'device');
    mkdirSync(dev);
    writeFileSync(path.join(dev, 'd.txt'), 'device\n');
    ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=4m,mode=1777', 'shm']);
    ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${dev}`, 'bound']);
    ok(['run', '-d', '--name', 'writer', '-v', 'shm:/t', '-v', 'bound:/b', image, 'sh', '-c', 'echo hello > /t/s; echo from-ctr > /b/c.txt; sleep 300']);
    assert.ok(mountsUnder(agent.root).includes(dataOf('shm')), 'mounted on the host while held');
    assert.equal(ok(['run', '--rm', '-v', 'shm:/x', image, 'cat', '/x/s']), 'hello');
    assert.equal(readFileSync(path.join(dev, 'c.txt'), 'utf8'), 'from-ctr\n');
    assert.equal(ok(['run', '--rm', '-v', 'bound:/b', image, 'cat', '/b/d.txt']), 'device');
    ok(['rm', '-f', 'writer']);
    assert.deepEqual(mountsUnder(agent.root), [], 'unmounted once nobody holds it');
    assert.equal(ok(['run', '--rm', '-v', 'shm:/x', image, 'ls', '/x']), '', 'a tmpfs volume is empty again');
    ok(['volume', 'rm', 'shm', 'bound']);
    assert.deepEqual(readdirSync(dev).sort(), ['c.txt', 'd.txt'], 'removing a bind volume leaves its device alone');
  });

  it('--volumes-from brings volumes and binds, read-only with :ro', () => {
    const src = path.join(host, 'vf');
    mkdirSync(src);
    ok(['create', '--name', 'data', '-v', 'vfvol:/v', '-v', `${src}:/b`, image, 'true']);
    ok(['run', '--rm', '--volumes-from', 'data', image, 'sh', '-c', 'echo v > /v/f; echo b > /b/f']);
    assert.equal(readFileSync(path.join(src, 'f'), 'utf8'), 'b\n');
    assert.equal(readFileSync(path.join(dataOf('vfvol'), 'f'), 'utf8'), 'v\n');
    assert.match(agent.docker(['run', '--rm', '--volumes-from', 'data:ro', image, 'touch', '/v/g']).stderr, /Read-only file system/);
    ok(['create', '--name', 'user', '--volumes-from', 'data:ro', image, 'true']);
    // Docker gives Mounts in no set order (a Go map's): compared by destination.
    const byDest = (a: unknown[], b: unknown[]) => String(a[1]).localeCompare(String(b[1]));
    assert.deepEqual(mountsOf('user').map((m) => [m.Type, m.Destination, m.RW, m.Name ?? m.Source]).sort(byDest), [
      ['bind', '/b', false, src],
      ['volume', '/v', false, 'vfvol'],
    ]);
    assert.deepEqual(inspect('container', 'user', '.HostConfig.VolumesFrom'), ['data:ro']);
    assert.match(fails(['run', '--rm', '--volumes-from', 'nosuch', image, 'true']), /No such container: nosuch/);
    assert.match(fails(['volume', 'rm', 'vfvol']), /volume is in use/);
    ok(['rm', 'user', 'data']);
    ok(['volume', 'rm', 'vfvol']);
  });

  it('inspect, ps --filter volume=, system df and the volume events', async () => {
    const events: string[] = [];
    const ev: ChildProcess = spawn('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${agent.sock}`, 'events', '--filter', 'type=volume', '--format', '{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "container"}} {{index .Actor.Attributes "destination"}}'], {
      env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config') },
    });
    let buf = '';
    ev.stdout!.on('data', (d: Buffer) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      events.push(...lines);
    });
    try {
      await eventually('the events stream to be listening', () => ok(['info', '-f', '{{.NEventsListener}}']) === '1', 15_000);
      ok(['volume', 'create', 'evvol']);
      const id = ok(['run', '-d', '-v', 'evvol:/e', '-v', `${host}:/h:ro`, image, 'sleep', '300']);
      ok(['rm', '-f', id]);
      ok(['volume', 'rm', 'evvol']);
      await eventually('four volume events', () => events.length >= 4, 15_000);
      assert.deepEqual(events, ['create evvol  ', `mount evvol ${id} /e`, `unmount evvol ${id} `, 'destroy evvol  ']);
    } finally {
      ev.kill();
    }

    ok(['volume', 'create', 'dfvol']);
    ok(['run', '--name', 'dfuser', '-v', 'dfvol:/d', '-v', `${host}:/h`, image, 'sh', '-c', 'head -c 4096 /dev/zero > /d/four-k; head -c 1000 /dev/zero > /upper-file']);
    assert.equal(ok(['ps', '-a', '--filter', 'volume=dfvol', '--format', '{{.Names}}']), 'dfuser');
    assert.equal(ok(['ps', '-a', '--filter', 'volume=/d', '--format', '{{.Names}}']), 'dfuser');
    assert.equal(ok(['ps', '-a', '--filter', `volume=${host}`, '--format', '{{.Names}}']), 'dfuser');
    assert.equal(ok(['ps', '-a', '--filter', 'volume=other', '--format', '{{.Names}}']), '');
    const df = ok(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}']).split('\n');
    assert.deepEqual(df.find((l) => l.startsWith('Local Volumes')), 'Local Volumes|1|1|4.096kB');
    assert.deepEqual(df.find((l) => l.startsWith('Containers')), 'Containers|1|0|1kB');
    assert.match(df.find((l) => l.startsWith('Images'))!, /^Images\|2\|1\|\d/);
    assert.match(ok(['system', 'df', '-v']), /\ndfvol\s+1\s+4\.096kB\n/);
    ok(['rm', 'dfuser']);
    ok(['volume', 'rm', 'dfvol']);
  });

  it('docker cp into and out of volumes of running and stopped containers, into a volume of a --read-only container, and export leaves volumes out', async () => {
    const file = path.join(host, 'cp.txt');
    writeFileSync(file, 'copied in\n');
    ok(['run', '-d', '--name', 'cprun', '-v', 'cpvol:/data', '-v', 'cpro:/ro:ro', image, 'sleep', '300']);
    ok(['cp', file, 'cprun:/data/']);
    assert.equal(readFileSync(path.join(dataOf('cpvol'), 'cp.txt'), 'utf8'), 'copied in\n', 'it landed in the volume');
    assert.equal(agent.ok(['cp', 'cprun:/data/cp.txt', '-']).includes('copied in'), true);
    assert.match(fails(['cp', file, 'cprun:/ro/']), /mounted volume is marked read-only/);
    ok(['stop', '-t', '0', 'cprun']);
    writeFileSync(file, 'copied in while stopped\n');
    ok(['cp', file, 'cprun:/data/stopped.txt']);
    assert.equal(readFileSync(path.join(dataOf('cpvol'), 'stopped.txt'), 'utf8'), 'copied in while stopped\n');
    const out = path.join(host, 'out');
    ok(['cp', 'cprun:/data', out]);
    assert.deepEqual(readdirSync(out).sort(), ['cp.txt', 'stopped.txt']);

    ok(['create', '--name', 'cpreadonly', '--read-only', '-v', 'cpvol:/data', image, 'true']);
    ok(['cp', file, 'cpreadonly:/data/ro-ok.txt']);
    assert.ok(existsSync(path.join(dataOf('cpvol'), 'ro-ok.txt')), 'Docker copies into a volume of a --read-only container');
    assert.match(fails(['cp', file, 'cpreadonly:/']), /container rootfs is marked read-only/);
    ok(['run', '-d', '--name', 'cpreadonly2', '--read-only', '-v', 'cpvol:/data', image, 'sleep', '300']);
    ok(['cp', file, 'cpreadonly2:/data/running-ro.txt']);
    assert.ok(existsSync(path.join(dataOf('cpvol'), 'running-ro.txt')));
    assert.match(fails(['cp', file, 'cpreadonly2:/tmp/']), /container rootfs is marked read-only/);

    // export: the container's own files, not its volumes' (the mount point stays, empty).
    const tar = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${agent.sock}`, 'export', 'cprun'], { maxBuffer: 64 << 20, env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config') } });
    assert.equal(tar.status, 0, String(tar.stderr));
    const names: string[] = [];
    for await (const e of readTar((async function* () {
      yield tar.stdout as Buffer;
    })())) {
      names.push(e.header.path.replace(/^\.\//, "").replace(/\/$/, ''));
      for await (const _ of e.body) void _;
    }
    assert.ok(names.includes('data'), 'the mount point is in the export');
    assert.deepEqual(names.filter((n) => n.startsWith('data/')), [], 'the volume\'s files are not');
    for (const c of ['cprun', 'cpreadonly', 'cpreadonly2']) ok(['rm', '-f', c]);
    ok(['volume', 'rm', 'cpvol', 'cpro']);
    assert.deepEqual(mountsUnder(agent.tmp), [], 'the cp views are gone');
  });

  it('volumes and their users survive an agent restart; a create the agent did not finish is swept', async () => {
    ok(['volume', 'create', '--label', 'k=v', 'lasting']);
    ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'tmpfsrun']);
    ok(['run', '-d', '--name', 'long', '-v', 'lasting:/l', '-v', 'tmpfsrun:/t', image, 'sh', '-c', 'echo kept > /t/f; sleep 300']);
    await eventually('the container to write', () => existsSync(path.join(dataOf('tmpfsrun'), 'f')), 15_000);
    await agent.restart(() => {
      mkdirSync(path.join(agent.root, 'volumes', '.half.1234.new', '_data'), { recursive: true });
    });
    assert.deepEqual(JSON.parse(ok(['volume', 'inspect', 'lasting']))[0].Labels, { k: 'v' });
    assert.ok(!existsSync(path.join(agent.root, 'volumes', '.half.1234.new')), 'the half-made volume is gone');
    assert.equal(readFileSync(path.join(dataOf('tmpfsrun'), 'f'), 'utf8'), 'kept\n', 'the running container still holds its tmpfs volume');
    assert.match(fails(['volume', 'rm', 'lasting']), /volume is in use/);
    ok(['rm', '-f', 'long']);
    assert.deepEqual(mountsUnder(agent.root), [], 'the new agent unmounts it when its user goes');
    ok(['volume', 'rm', 'lasting', 'tmpfsrun']);
  });
});
