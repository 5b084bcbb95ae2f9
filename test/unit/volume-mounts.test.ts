// Docker's rules for -v, --mount and --volumes-from as Berth reads them, without containers:
// how a -v string splits (moby's ParseMountRaw), what --mount objects may carry, the checks
// and words at create, the mount plan's order, where a `docker cp` may write, and the
// volume list's filters.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { mountPoints, mountsMatch, parseBind, parseMount, storageHostConfig, validMountMode } from '../../agent/dockerapi/create-storage';
import { HttpError } from '../../agent/dockerapi/http';
import { volumeFilter } from '../../agent/dockerapi/volumes';
import { checkWritablePath } from '../../agent/engine/containers/archive';
import { withStorageMounts, type MountPlan } from '../../agent/engine/containers/mount-plan';
import { EngineError } from '../../agent/engine/errors';
import { parseVolumesFrom, settleStorage } from '../../agent/engine/volumes/mounts';
import type { ContainerRecord, ContainerSpec } from '../../protocol/container';
import type { VolumeInfo } from '../../protocol/agent-link';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-volume-mounts-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const settle = (storage: ContainerSpec['storage'], opts: { volumes?: string[]; tmpfs?: Record<string, string>; root?: string } = {}) =>
  settleStorage({ image: 'x', storage }, { Volumes: Object.fromEntries((opts.volumes ?? []).map((v) => [v, {}])) }, opts.tmpfs ?? {}, opts.root ?? '/var/lib/berth-test');
const is400 = (words: RegExp) => (e: unknown) => (e instanceof EngineError || e instanceof HttpError) && e.status === 400 && words.test(e.message);

describe('-v, as moby\'s ParseMountRaw reads it', () => {
  it('splits SRC:DST[:MODE]: an absolute source is a bind (made if missing), anything else a volume\'s name', () => {
    assert.deepEqual(parseBind('/host:/ctr'), { type: 'bind', source: '/host', target: '/ctr', createSource: true, volumeFlag: '/host:/ctr' });
    assert.deepEqual(parseBind('/host:/ctr:ro,rslave'), { type: 'bind', source: '/host', target: '/ctr', readOnly: true, propagation: 'rslave', createSource: true, volumeFlag: '/host:/ctr:ro,rslave' });
    assert.deepEqual(parseBind('data:/d:nocopy'), { type: 'volume', source: 'data', target: '/d', noCopy: true, volumeFlag: 'data:/d:nocopy' });
    assert.deepEqual(parseBind('/anon'), { type: 'volume', target: '/anon', volumeFlag: '/anon' });
    assert.equal(parseBind('data:/d', 'local').volumeDriver, 'local');
    // z and Z are taken (no SELinux here, as without it in Docker) and change nothing else.
    assert.deepEqual(parseBind('/h:/c:z'), { type: 'bind', source: '/h', target: '/c', createSource: true, volumeFlag: '/h:/c:z' });
  });

  it('refuses what Docker refuses, in its words', () => {
    assert.throws(() => parseBind(':/x'), is400(/^invalid volume specification: ':\/x'$/));
    assert.throws(() => parseBind('/x:rw'), is400(/invalid volume specification: '\/x:rw'/), 'a destination with only a mode');
    assert.throws(() => parseBind('/a:/b:c:d'), is400(/invalid volume specification/));
    assert.throws(() => parseBind('/a:/b:bogus'), is400(/^invalid mode: bogus$/));
    assert.throws(() => parseBind('/a:/b:ro,rw'), is400(/invalid mode: ro,rw/), 'two rw modes');
    assert.ok(validMountMode('ro,z,rslave,nocopy,cached') && !validMountMode('ro,ro') && validMountMode(''));
  });
});

describe('--mount objects (HostConfig.Mounts)', () => {
  it('maps each option, and refuses a section that does not belong to the type, as Docker does', () => {
    assert.deepEqual(parseMount({ Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true, BindOptions: { Propagation: 'rslave', NonRecursive: true } }, 0), {
      type: 'bind', source: '/h', target: '/c', readOnly: true, propagation: 'rslave', nonRecursive: true,
    });
    assert.deepEqual(parseMount({ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } } }, 0), {
      type: 'volume', source: 'v', target: '/v', noCopy: true, volumeLabels: { a: 'b' }, volumeDriver: 'local', volumeOptions: { type: 'tmpfs', device: 'tmpfs' },
    });
    assert.deepEqual(parseMount({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } }, 0), { type: 'tmpfs', target: '/t', tmpfsSize: 1 << 20, tmpfsMode: 0o1777 });
    assert.throws(() => parseMount({ Type: 'bind', Source: '/h', Target: '/c', VolumeOptions: { NoCopy: true } }, 0), is400(/invalid mount config for type "bind": field VolumeOptions must not be specified/));
    assert.throws(() => parseMount({ Type: 'volume', Target: '/c', TmpfsOptions: {} }, 0), is400(/field TmpfsOptions must not be specified/));
    assert.throws(() => parseMount({ Type: 'npipe', Source: 'x', Target: '/c' }, 0), is400(/invalid mount config for type "npipe": mount type unknown/));
    assert.throws(() => parseMount({ Type: 'bind', Source: '/h', Target: '/c', BindOptions: { Propagation: 'sideways' } }, 0), is400(/invalid propagation mode: sideways/));
    assert.throws(() => parseMount({ Type: 'bind', Source: 7, Target: '/c' }, 3), is400(/HostConfig\.Mounts\.3\.Source: expected a string/));
  });
});

describe('the mount points settled at create', () => {
  it('applies Docker\'s checks and words', () => {
    assert.throws(() => settle({ mounts: [{ type: 'bind', source: path.join(tmp, 'missing'), target: '/x' }] }), is400(/invalid mount config for type "bind": bind source path does not exist: .*missing$/));
    assert.equal(settle({ mounts: [{ type: 'bind', source: path.join(tmp, 'missing'), target: '/x', createSource: true }] }).mounts[0].createSource, true);
    assert.throws(() => settle({ mounts: [{ type: 'bind', source: 'rel', target: '/x' }] }), is400(/invalid mount path: 'rel' mount path must be absolute/));
    assert.throws(() => settle({ mounts: [{ type: 'bind', target: '/x' }] }), is400(/field Source must not be empty/));
    assert.throws(() => settle({ mounts: [{ type: 'volume', target: 'x' }] }), is400(/invalid mount path: 'x' mount path must be absolute/));
    assert.throws(() => settle({ mounts: [{ type: 'volume', target: '/' }] }), is400(/destination can't be '\/'/));
    assert.throws(() => settle({ mounts: [{ type: 'tmpfs', source: 'x', target: '/t' }] }), is400(/field Source must not be specified/));
    assert.throws(() => settle({ mounts: [{ type: 'volume', target: '/a' }, { type: 'tmpfs', target: '/a/' }] }), is400(/^Duplicate mount point: \/a$/));
    assert.throws(() => settle({ mounts: [{ type: 'volume', target: '/a' }] }, { tmpfs: { '/a': '' } }), is400(/Duplicate mount point: \/a/));
    assert.throws(() => settle({ mounts: [{ type: 'bind', source: tmp, target: '/a', propagation: 'shared' }] }), is400(/Berth does not support shared mount propagation/));
    assert.throws(() => settle({ mounts: [{ type: 'volume', source: 'v', target: '/a', volumeDriver: 'flocker' }] }), is400(/Berth does not support volume driver "flocker" yet/));
    // A -v string's errors carry Docker's prefix naming it.
    assert.throws(() => settle({ mounts: [parseBind('/h:rel')] }), is400(/^invalid volume specification: '\/h:rel': invalid mount config for type "bind": invalid mount path: 'rel'/));
  });

  it('Docker\'s Mode, propagation and read-only; tmpfs options as Docker writes them', () => {
    const s = settle({ mounts: [parseBind(`${tmp}:/b:ro`), parseBind('named:/n'), { type: 'volume', source: 'm', target: '/m' }, { type: 'bind', source: tmp, target: '/c' }, { type: 'tmpfs', target: '/t', tmpfsSize: 64 << 20, tmpfsMode: 0o755, readOnly: true }] });
    assert.deepEqual(s.mounts.map((m) => [m.target, m.mode, m.propagation, m.readOnly, m.origin]), [
      ['/b', 'ro', 'rprivate', true, 'binds'],
      ['/n', 'z', '', false, 'binds'],
      ['/m', 'z', '', false, 'mounts'],
      ['/c', '', 'rprivate', false, 'mounts'],
      ['/t', '', '', true, 'mounts'],
    ]);
    assert.equal(s.mounts[4].tmpfsOptions, 'ro,mode=755,size=64m');
  });

  it('anonymous volumes for the image\'s VOLUMEs and -v /path, where nothing else is mounted', () => {
    const s = settle({ mounts: [parseBind('v:/data')], volumes: ['/extra/'] }, { volumes: ['/data', '/logs'] });
    assert.deepEqual(s.volumes, ['/data', '/extra', '/logs']);
    assert.deepEqual(s.mounts.map((m) => [m.target, m.source, m.anonymous, m.origin]), [
      ['/data', 'v', false, 'binds'],
      ['/logs', '', true, 'volumes'],
      ['/extra', '', true, 'volumes'],
    ]);
  });

  it('a bind of (or into) the agent\'s root gets slave propagation, and refuses a private one, as dockerd does for its root', () => {
    const root = path.join(tmp, 'root');
    assert.equal(settle({ mounts: [{ type: 'bind', source: '/', target: '/host', createSource: true }] }, { root }).mounts[0].propagation, 'rslave');
    assert.throws(
      () => settle({ mounts: [{ type: 'bind', source: root, target: '/r', propagation: 'private', createSource: true }] }, { root }),
      is400(/must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root/),
    );
  });

  it('--volumes-from takes ro and rw, and refuses propagation and copy modes', () => {
    assert.deepEqual(parseVolumesFrom('data'), { container: 'data', rw: true });
    assert.deepEqual(parseVolumesFrom('data:ro'), { container: 'data', rw: false });
    assert.throws(() => parseVolumesFrom('data:rslave'), is400(/invalid mode: rslave/));
    assert.throws(() => parseVolumesFrom('data:nocopy'), is400(/invalid mode: nocopy/));
    assert.throws(() => parseVolumesFrom(''), is400(/cannot be an empty string/));
  });
});

describe('the mount plan with a container\'s own mounts', () => {
  const plan = (): MountPlan => ({
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: [] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [] },
      { destination: '/etc/hosts', type: 'bind', source: '/x/hosts', options: ['rbind'] },
      { destination: '/scratch/deep', type: 'tmpfs', source: 'tmpfs', options: [] },
    ],
    devices: [],
    symlinks: [],
    maskedPaths: [],
    readonlyPaths: [],
  });
  const bind = (destination: string) => ({ destination, type: 'bind', source: '/src', options: ['rbind'] });

  it('user mounts and --tmpfs go in shallower first, before the /etc files; one at a default\'s place replaces it', () => {
    const p = withStorageMounts(plan(), [bind('/scratch'), bind('/dev/shm'), bind('/a/b/c')], ['/scratch/deep']);
    assert.deepEqual(p.mounts.map((m) => `${m.destination}:${m.source}`), ['/proc:proc', '/dev:tmpfs', '/scratch:/src', '/scratch/deep:tmpfs', '/dev/shm:/src', '/a/b/c:/src', '/etc/hosts:/x/hosts']);
  });

  it('a bind on /dev replaces every default under /dev', () => {
    assert.deepEqual(withStorageMounts(plan(), [bind('/dev')], ['/scratch/deep']).mounts.map((m) => `${m.destination}:${m.source}`), ['/proc:proc', '/dev:/src', '/scratch/deep:tmpfs', '/etc/hosts:/x/hosts']);
  });
});

const rec = (mounts: ContainerRecord['spec']['storage']['mounts'], readonlyRootfs = false) => ({ id: 'c'.repeat(64), spec: { storage: { mounts, volumes: [], volumesFrom: [] }, filesystem: { readonlyRootfs, tmpfs: {}, shmSize: 0 } } }) as unknown as ContainerRecord;
const mp = (type: 'bind' | 'volume' | 'tmpfs', target: string, readOnly = false, source = 'v') =>
  ({ type, source, target, readOnly, propagation: '', nonRecursive: false, createSource: false, tmpfsOptions: '', anonymous: false, origin: 'mounts', mode: '' }) as const;

describe('docker cp and inspect', () => {
  it('a copy goes into a writable volume even of a --read-only container; the deepest mount decides', () => {
    const r = rec([mp('volume', '/data'), mp('volume', '/data/ro', true), mp('bind', '/etc/conf', true, '/host')], true);
    assert.doesNotThrow(() => checkWritablePath(r, '/data'));
    assert.doesNotThrow(() => checkWritablePath(r, '/data/sub'));
    assert.throws(() => checkWritablePath(r, '/data/ro/x'), is400(/^mounted volume is marked read-only$/));
    assert.throws(() => checkWritablePath(r, '/etc/conf'), is400(/mounted volume is marked read-only/));
    assert.throws(() => checkWritablePath(r, '/datab'), is400(/^container rootfs is marked read-only$/));
    assert.doesNotThrow(() => checkWritablePath(rec([]), '/anything'));
  });

  it('Mounts in Docker\'s shape; HostConfig.Binds as typed; ps\'s volume filter by name, bind source or destination', () => {
    const binds = { ...mp('bind', '/b', true, '/host'), origin: 'binds' as const, mode: 'ro', propagation: 'rprivate', given: parseBind('/host:/b:ro') };
    const r = rec([binds, mp('volume', '/v'), mp('tmpfs', '/t', false, '')]);
    assert.deepEqual(mountPoints(r, (n) => `/root/volumes/${n}/_data`), [
      { Type: 'bind', Source: '/host', Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'volume', Name: 'v', Source: '/root/volumes/v/_data', Destination: '/v', Driver: 'local', Mode: '', RW: true, Propagation: '' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
    assert.deepEqual(storageHostConfig(r).Binds, ['/host:/b:ro']);
    assert.ok(mountsMatch(r, 'v') && mountsMatch(r, '/host') && mountsMatch(r, '/t') && !mountsMatch(r, 'w') && !mountsMatch(r, ''));
  });

  it('volume ls filters: dangling, driver, label, name (a regular expression); an unknown one is refused', () => {
    const v = (name: string, usedBy: string[], labels: Record<string, string> = {}): VolumeInfo => ({ name, driver: 'local', createdAt: '', labels, options: {}, mountpoint: '', usedBy });
    const all = [v('web-data', ['c1'], { team: 'web' }), v('db', []), v('cache', [], { team: 'ops' })];
    const names = (f: Record<string, string[]>) => all.filter(volumeFilter(JSON.stringify(f))).map((x) => x.name);
    assert.deepEqual(names({ dangling: ['true'] }), ['db', 'cache']);
    assert.deepEqual(names({ dangling: ['0'] }), ['web-data']);
    assert.deepEqual(names({ label: ['team'] }), ['web-data', 'cache']);
    assert.deepEqual(names({ label: ['team=ops'] }), ['cache']);
    assert.deepEqual(names({ name: ['^c'] }), ['cache']);
    assert.deepEqual(names({ driver: ['local'], dangling: ['true'], label: ['team'] }), ['cache']);
    assert.throws(() => volumeFilter(JSON.stringify({ colour: ['red'] })), is400(/invalid filter 'colour'/));
    assert.throws(() => volumeFilter(JSON.stringify({ dangling: ['maybe'] })), is400(/invalid filter 'dangling=maybe'/));
  });
});
