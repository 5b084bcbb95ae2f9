// `docker cp` both ways and `docker port`, through the real CLI (and the archive endpoints
// directly where the CLI cannot send what a hostile client would), against a real agent:
// Docker's path rules, running, paused and stopped containers, ownership with and without
// -a, and what must never happen: a symlink in the image, a directory swapped for a symlink
// while the copy runs, or a crafted archive reaching the host's files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { openCgroups } from '../../agent/engine/cgroups';
import { cgroupParentFor } from '../../agent/engine/index';
import { readTar, type TarHeader } from '../../agent/engine/layers/tar';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { tarBuffer, type TarWriteEntry } from '../fixtures/tar';
import { eventually, sleep } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request to the agent's Docker API socket. */
function api(sock: string, method: string, url: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: url, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const q = (p: string) => encodeURIComponent(p);
const message = (r: Reply) => (JSON.parse(r.body.toString()) as { message: string }).message;
const statHeader = (r: Reply) => JSON.parse(Buffer.from(String(r.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; size: number; mode: number; mtime: string; linkTarget: string };

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function entries(tar: Buffer): Promise<Array<TarHeader & { data: string }>> {
  const out: Array<TarHeader & { data: string }> = [];
  for await (const e of readTar(once(tar))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ ...e.header, data: Buffer.concat(parts).toString() });
  }
  return out;
}

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;

describe('docker cp and docker port', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';
  let hostile = '';
  let out = '';
  let src = '';
  /** A directory on the host the hostile image's symlinks name; it must end as it began. */
  let hostDir = '';
  const cgroups = () => openCgroups({ parent: cgroupParentFor(agent.root) });
  const idOf = (name: string) => agent.ok(['inspect', '-f', '{{.Id}}', name]).trim();
  const state = (name: string) => agent.ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', name]).trim();
  /** GET of a path as the engine serves it, entries read back. */
  const getTar = async (ctr: string, p: string) => {
    const r = await api(agent.sock, 'GET', `/containers/${ctr}/archive?path=${q(p)}`);
    assert.equal(r.status, 200, r.body.toString());
    return entries(r.body);
  };
  const fileIn = async (ctr: string, p: string) => (await getTar(ctr, p))[0];
  const hostUntouched = () => assert.deepEqual(readdirSync(hostDir), ['secret'], 'the host directory the image names is as it was');

  before(async () => {
    agent = await startAgentProcess('cp');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'cp')).ref;
    hostDir = mkdtempSync(path.join(tmpdir(), 'berth-cp-host-'));
    writeFileSync(path.join(hostDir, 'secret'), 'host secret\n');
    // The host directory's path exists inside the image too, holding a file of its own.
    const parts = hostDir.split('/').filter(Boolean);
    const layer: TarWriteEntry[] = [
      ...parts.map((_, i): TarWriteEntry => ({ path: parts.slice(0, i + 1).join('/'), type: 'directory', mode: i === 0 && parts[0] === 'tmp' ? 0o1777 : 0o755 })),
      { path: `${hostDir.slice(1)}/inside.txt`, type: 'file', mode: 0o644, data: 'container side\n' },
      { path: 'hostlink', type: 'symlink', linkpath: hostDir },
      { path: 'climb', type: 'symlink', linkpath: '../'.repeat(12) + hostDir.slice(1) },
      { path: 'etclink', type: 'symlink', linkpath: '/etc' },
      { path: 'deep', type: 'directory', mode: 0o755 },
      { path: 'deep/up', type: 'symlink', linkpath: '../../../../../../..' },
    ];
    hostile = (await pushBusyboxImage(registry.url, 'hostile', 'cp', { extraLayers: [layer], config: { ExposedPorts: { '80/tcp': {} } } })).ref;
    agent.ok(['pull', '-q', image]);
    agent.ok(['pull', '-q', hostile]);
    out = path.join(agent.tmp, 'out');
    src = path.join(agent.tmp, 'src');
    mkdirSync(out);
    mkdirSync(path.join(src, 'dir', 'b'), { recursive: true });
    writeFileSync(path.join(src, 'file.txt'), 'from the host\n');
    chownSync(path.join(src, 'file.txt'), 4321, 4322);
    writeFileSync(path.join(src, 'dir', 'a'), 'a\n');
    writeFileSync(path.join(src, 'dir', 'b', 'c'), 'c\n');
    agent.ok(['run', '-d', '--name', 'cpsrc', image, 'sh', '-c', 'mkdir -p /data/sub && echo one > /data/sub/f && echo two > /data/top && ln -s sub/f /data/link && touch /data/ready && exec sleep 1000']);
    agent.ok(['run', '-d', '--name', 'hostile', hostile, 'sleep', '1000']);
    await eventually('cpsrc to have written its files', async () => (await api(agent.sock, 'HEAD', `/containers/cpsrc/archive?path=/data/ready`)).status === 200, 15_000);
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  });

  it('copies out of a running container: a file, a directory under a new name or into an existing one, its contents with /., the root', () => {
    agent.ok(['cp', 'cpsrc:/data/top', path.join(out, 'top.txt')]);
    assert.equal(readFileSync(path.join(out, 'top.txt'), 'utf8'), 'two\n');

    agent.ok(['cp', 'cpsrc:/data', path.join(out, 'fresh')]);
    assert.equal(readFileSync(path.join(out, 'fresh', 'sub', 'f'), 'utf8'), 'one\n');
    assert.deepEqual(readdirSync(path.join(out, 'fresh')).sort(), ['link', 'ready', 'sub', 'top']);

    mkdirSync(path.join(out, 'exist'));
    agent.ok(['cp', 'cpsrc:/data', path.join(out, 'exist')]);
    assert.equal(readFileSync(path.join(out, 'exist', 'data', 'top'), 'utf8'), 'two\n');

    mkdirSync(path.join(out, 'dot'));
    agent.ok(['cp', 'cpsrc:/data/.', path.join(out, 'dot')]);
    assert.deepEqual(readdirSync(path.join(out, 'dot')).sort(), ['link', 'ready', 'sub', 'top'], 'the contents, not the directory');

    agent.ok(['cp', 'cpsrc:/', path.join(out, 'root')]);
    assert.ok(lstatSync(path.join(out, 'root', 'bin', 'busybox')).isFile());
    assert.equal(readFileSync(path.join(out, 'root', 'data', 'sub', 'f'), 'utf8'), 'one\n');
    assert.deepEqual(readdirSync(path.join(out, 'root', 'proc')), [], "the container's /proc is a mount of its own and stays out, as in Docker");

    assert.equal(state('cpsrc'), 'running false', 'thawed after the copies');
    assert.deepEqual(mountsUnder(agent.root), [], 'no copy mount left on the host');
  });

  it('a symlink as the last element is copied as a link, -L copies what it points at, and a trailing slash follows it', async () => {
    agent.ok(['cp', 'cpsrc:/data/link', out]);
    assert.equal(readlinkSync(path.join(out, 'link')), 'sub/f');
    agent.ok(['cp', '-L', 'cpsrc:/data/link', path.join(out, 'followed')]);
    assert.equal(readFileSync(path.join(out, 'followed'), 'utf8'), 'one\n');
    // The tar Docker sends: entries named after the path asked for.
    const names = (await getTar('cpsrc', '/data')).map((e) => e.path).sort();
    assert.deepEqual(names, ['data/', 'data/link', 'data/ready', 'data/sub/', 'data/sub/f', 'data/top']);
    assert.deepEqual((await getTar('cpsrc', '/data/.')).map((e) => e.path).sort(), ['./', './link', './ready', './sub/', './sub/f', './top']);
    const root = (await getTar('cpsrc', '/')).map((e) => e.path);
    assert.equal(root[0], '/');
    assert.ok(root.includes('/bin/busybox'), 'the root archived as "/", "/bin/…", as Docker names it');
  });

  it("errors are Docker's: a missing file, a file with a trailing slash, a missing path parameter", async () => {
    const missing = agent.docker(['cp', 'cpsrc:/nope', out]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /Error response from daemon: Could not find the file \/nope in container cpsrc/);
    const slash = agent.docker(['cp', 'cpsrc:/data/top/', out]);
    assert.notEqual(slash.status, 0);
    assert.match(slash.stderr, /lstat \/data\/top\/: not a directory/);
    const none = await api(agent.sock, 'GET', '/containers/cpsrc/archive');
    assert.equal(none.status, 400);
    assert.equal(message(none), 'bad parameter: pathcannot be empty');
    const noCtr = agent.docker(['cp', 'no-such:/etc/passwd', out]);
    assert.notEqual(noCtr.status, 0);
    assert.match(noCtr.stderr, /No such container: no-such/);
  });

  it("the stat header is Docker's: name, size, Go's mode bits, mtime, and a symlink's target resolved inside the container", async () => {
    const file = await api(agent.sock, 'HEAD', '/containers/cpsrc/archive?path=/data/top');
    assert.equal(file.status, 200);
    const st = statHeader(file);
    assert.deepEqual({ name: st.name, size: st.size, mode: st.mode, linkTarget: st.linkTarget }, { name: 'top', size: 4, mode: 0o644, linkTarget: '' });
    assert.ok(Math.abs(Date.parse(st.mtime) - Date.now()) < 3_600_000, `mtime ${st.mtime} is the file's`);
    const dir = statHeader(await api(agent.sock, 'HEAD', '/containers/cpsrc/archive?path=/data/'));
    assert.equal(dir.name, 'data');
    assert.equal(dir.mode, GO_DIR + 0o755);
    const link = statHeader(await api(agent.sock, 'HEAD', '/containers/cpsrc/archive?path=/data/link'));
    assert.equal(link.mode, GO_SYMLINK + 0o777);
    assert.equal(link.linkTarget, '/data/sub/f');
    const viaHost = statHeader(await api(agent.sock, 'HEAD', '/containers/hostile/archive?path=/climb'));
    assert.equal(viaHost.linkTarget, hostDir, 'a climbing link stops at the container root');
    assert.equal((await api(agent.sock, 'HEAD', '/containers/cpsrc/archive?path=/nope')).status, 404);
    // GET carries the same header.
    const get = await api(agent.sock, 'GET', '/containers/cpsrc/archive?path=/data/top');
    assert.equal(statHeader(get).name, 'top');
    assert.equal(get.headers['content-type'], 'application/x-tar');
  });

  it('copies into a running container: into a directory, under a new name, a directory, its contents; the owner is the archive\'s', async () => {
    agent.ok(['cp', path.join(src, 'file.txt'), 'cpsrc:/data/']);
    const f = await fileIn('cpsrc', '/data/file.txt');
    assert.deepEqual([f.data, f.uid, f.gid], ['from the host\n', 4321, 4322], 'without -a the files keep the uid and gid they had, as Docker does');
    agent.ok(['cp', path.join(src, 'file.txt'), 'cpsrc:/data/renamed.txt']);
    assert.equal((await fileIn('cpsrc', '/data/renamed.txt')).data, 'from the host\n');
    agent.ok(['cp', path.join(src, 'dir'), 'cpsrc:/newdir']);
    assert.deepEqual((await getTar('cpsrc', '/newdir')).map((e) => e.path).sort(), ['newdir/', 'newdir/a', 'newdir/b/', 'newdir/b/c']);
    agent.ok(['cp', path.join(src, 'dir'), 'cpsrc:/data']);
    assert.equal((await fileIn('cpsrc', '/data/dir/b/c')).data, 'c\n');
    agent.ok(['cp', '-', 'cpsrc:/data'], { input: tarBuffer([{ path: 'stdin/', type: 'directory' }, { path: 'stdin/x', type: 'file', data: 'from stdin\n' }]) });
    assert.equal((await fileIn('cpsrc', '/data/stdin/x')).data, 'from stdin\n');
    agent.ok(['cp', `${path.join(src, 'dir')}/.`, 'cpsrc:/data/sub']);
    assert.deepEqual((await getTar('cpsrc', '/data/sub/.')).map((e) => e.path).sort(), ['./', './a', './b/', './b/c', './f'], 'merged with what was there');
    assert.equal(state('cpsrc'), 'running false');
  });

  it("refuses what Docker refuses: a missing parent, a directory onto a file, an existing directory replaced by a file", () => {
    const parent = agent.docker(['cp', path.join(src, 'file.txt'), 'cpsrc:/nodir/x']);
    assert.notEqual(parent.status, 0);
    assert.match(parent.stderr, /Could not find the file \/nodir in container cpsrc/);
    const dirOnFile = agent.docker(['cp', path.join(src, 'dir'), 'cpsrc:/data/top']);
    assert.notEqual(dirOnFile.status, 0);
    assert.match(dirOnFile.stderr, /cannot copy directory/);
    writeFileSync(path.join(out, 'sub'), 'a file named like a directory\n');
    const fileOnDir = agent.docker(['cp', path.join(out, 'sub'), 'cpsrc:/data/']);
    assert.notEqual(fileOnDir.status, 0);
    assert.match(fileOnDir.stderr, /cannot overwrite directory "\/data\/sub" with non-directory "\/data"/);
    assert.equal(state('cpsrc'), 'running false', 'a refused copy thaws the container too');
  });

  it('copies show in docker events as archive-path and extract-to-dir, as Docker names them', async () => {
    const events = spawn('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${agent.sock}`, 'events', '--filter', 'container=cpsrc', '--format', '{{.Action}}'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    events.stdout.on('data', (d: Buffer) => (seen += d));
    try {
      // The stream is open once a first event comes through it.
      await eventually('the events stream to be open', async () => {
        await getTar('cpsrc', '/data/top');
        return seen.includes('archive-path');
      }, 20_000, 300);
      agent.ok(['cp', path.join(src, 'file.txt'), 'cpsrc:/tmp/evented.txt']);
      await eventually('extract-to-dir', () => seen.includes('extract-to-dir'), 10_000);
    } finally {
      if (events.pid) process.kill(events.pid, 'SIGTERM');
    }
  });

  it('-a gives the files the container\'s user and group, from its own /etc/passwd', async () => {
    agent.ok(['create', '--name', 'cpuser', '-u', 'nobody', image, 'true']);
    agent.ok(['create', '--name', 'cpnum', '-u', '1234:5678', image, 'true']);
    agent.ok(['create', '--name', 'cpbad', '-u', 'nosuchuser', image, 'true']);
    agent.ok(['cp', '-a', path.join(src, 'file.txt'), 'cpuser:/tmp/']);
    const byName = await fileIn('cpuser', '/tmp/file.txt');
    assert.deepEqual([byName.uid, byName.gid], [65534, 65534]);
    agent.ok(['cp', path.join(src, 'file.txt'), 'cpuser:/tmp/plain.txt']);
    const plain = await fileIn('cpuser', '/tmp/plain.txt');
    assert.deepEqual([plain.uid, plain.gid], [4321, 4322], 'without -a, the archive\'s');
    agent.ok(['cp', '-a', path.join(src, 'dir'), 'cpnum:/tmp/']);
    for (const e of await getTar('cpnum', '/tmp/dir')) assert.deepEqual([e.path, e.uid, e.gid], [e.path, 1234, 5678]);
    // A container without a user keeps the archive's owners even with -a, as Docker's does.
    agent.ok(['cp', '-a', path.join(src, 'file.txt'), 'cpsrc:/tmp/']);
    assert.equal((await fileIn('cpsrc', '/tmp/file.txt')).uid, 4321);
    const bad = agent.docker(['cp', '-a', path.join(src, 'file.txt'), 'cpbad:/tmp/']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /failed to look up user "nosuchuser" in container: no matching entries in passwd file/);
  });

  it("into a stopped container: the file lands in its upper dir, never in the image's layers, and is there when it starts", async () => {
    agent.ok(['create', '--name', 'cpstopped', image, 'cat', '/hello.txt']);
    const id = idOf('cpstopped');
    writeFileSync(path.join(out, 'hello.txt'), 'hello before the first start\n');
    agent.ok(['cp', path.join(out, 'hello.txt'), 'cpstopped:/']);
    assert.ok(existsSync(path.join(agent.root, 'containers', id, 'upper', 'hello.txt')), 'in the upper dir');
    const layers = path.join(agent.root, 'images', 'layers');
    for (const l of readdirSync(layers)) assert.ok(!existsSync(path.join(layers, l, 'hello.txt')), `not in layer ${l}`);
    assert.deepEqual(mountsUnder(agent.root), [], 'the view of the stopped container is unmounted');
    assert.equal(agent.ok(['start', '-a', 'cpstopped']), 'hello before the first start\n');
    // Exited now: overwrite it, read it back, run it again.
    writeFileSync(path.join(out, 'hello.txt'), 'hello after the first run\n');
    agent.ok(['cp', path.join(out, 'hello.txt'), 'cpstopped:/hello.txt']);
    agent.ok(['cp', 'cpstopped:/hello.txt', path.join(out, 'back.txt')]);
    assert.equal(readFileSync(path.join(out, 'back.txt'), 'utf8'), 'hello after the first run\n');
    assert.equal(agent.ok(['start', '-a', 'cpstopped']), 'hello after the first run\n');
  });

  it('a --read-only container can be copied from but not into, in dockerd\'s words', () => {
    agent.ok(['run', '-d', '--read-only', '--name', 'cpro', image, 'sleep', '600']);
    try {
      agent.ok(['cp', 'cpro:/etc/hostname', path.join(out, 'ro-hostname')]);
      const r = agent.docker(['cp', path.join(src, 'file.txt'), 'cpro:/tmp/']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /container rootfs is marked read-only/);
    } finally {
      agent.docker(['rm', '-f', 'cpro']);
    }
  });

  it('a paused container stays paused through copies both ways', () => {
    agent.ok(['pause', 'cpsrc']);
    try {
      agent.ok(['cp', 'cpsrc:/data/top', path.join(out, 'paused.txt')]);
      assert.equal(readFileSync(path.join(out, 'paused.txt'), 'utf8'), 'two\n');
      agent.ok(['cp', path.join(src, 'file.txt'), 'cpsrc:/data/while-paused.txt']);
      assert.equal(state('cpsrc'), 'paused true');
    } finally {
      agent.ok(['unpause', 'cpsrc']);
    }
    assert.equal(state('cpsrc'), 'running false');
  });

  it("symlinks in the image that name host directories (absolute or climbing) resolve inside the container's root", async () => {
    mkdirSync(path.join(out, 'h1'));
    agent.ok(['cp', 'hostile:/hostlink/.', path.join(out, 'h1')]);
    assert.deepEqual(readdirSync(path.join(out, 'h1')), ['inside.txt'], "the container's directory, not the host's");
    assert.equal(agent.ok(['cp', 'hostile:/climb/inside.txt', '-']).includes('container side'), true);
    agent.ok(['cp', 'hostile:/deep/up/etc/passwd', path.join(out, 'passwd')]);
    assert.match(readFileSync(path.join(out, 'passwd'), 'utf8'), /^root:x:0:0:root:\/root:\/bin\/sh\nnobody:x:65534/, "the image's passwd, not the host's");

    const name = `cp-${process.pid}.txt`;
    writeFileSync(path.join(out, name), 'into the container\n');
    agent.ok(['cp', path.join(out, name), 'hostile:/hostlink/']);
    agent.ok(['cp', path.join(out, name), 'hostile:/climb']);
    agent.ok(['cp', path.join(out, name), 'hostile:/etclink']);
    assert.equal((await fileIn('hostile', `${hostDir}/${name}`)).data, 'into the container\n');
    assert.equal((await fileIn('hostile', `/etc/${name}`)).data, 'into the container\n');
    assert.ok(!existsSync(`/etc/${name}`), "nothing written to the host's /etc");
    // The same through the API, and into the stopped container.
    const tar = tarBuffer([{ path: 'api.txt', type: 'file', data: 'api\n' }]);
    assert.equal((await api(agent.sock, 'PUT', `/containers/hostile/archive?path=${q('/deep/up' + hostDir)}`, tar)).status, 200);
    agent.ok(['stop', '-t', '0', 'hostile']);
    assert.equal((await api(agent.sock, 'PUT', `/containers/hostile/archive?path=/climb`, tar)).status, 200);
    assert.deepEqual((await getTar('hostile', `${hostDir}/.`)).map((e) => e.path).sort(), ['./', './api.txt', `./${name}`, './inside.txt']);
    hostUntouched();
    agent.ok(['start', 'hostile']);
  });

  it('hostile archives PUT through the API: climbing names, names through a symlink, hardlinks out, are refused; absolute names stay inside', async () => {
    const put = (p: string, entries: TarWriteEntry[] | Buffer, extra = '') =>
      api(agent.sock, 'PUT', `/containers/hostile/archive?path=${q(p)}${extra}`, Buffer.isBuffer(entries) ? entries : tarBuffer(entries));
    const refused = async (p: string, e: TarWriteEntry[], re: RegExp) => {
      const r = await put(p, e);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(message(r), re);
    };
    await refused('/deep', [{ path: '../escape.txt', type: 'file', data: 'x' }], /unsafe archive refused: entry "\.\.\/escape\.txt" escapes the extraction directory/);
    await refused('/deep', [{ path: 'a/../../b.txt', type: 'file', data: 'x' }], /escapes the extraction directory/);
    await refused('/tmp', [{ path: 'evil', type: 'symlink', linkpath: hostDir }, { path: 'evil/pwned.txt', type: 'file', data: 'x' }], /goes through "evil", which is a symlink/);
    await refused('/tmp', [{ path: 'h', type: 'hardlink', linkpath: '../../../../etc/shadow' }], /escapes the extraction directory/);
    await refused('/tmp', [{ path: 'lnk', type: 'symlink', linkpath: hostDir }, { path: 'h2', type: 'hardlink', linkpath: 'lnk/secret' }], /"lnk" is not a directory of the archive/);
    assert.equal((await api(agent.sock, 'HEAD', '/containers/hostile/archive?path=/escape.txt')).status, 404);
    assert.equal((await api(agent.sock, 'HEAD', '/containers/hostile/archive?path=/b.txt')).status, 404);

    // An absolute name is inside the extraction directory, as Docker's Untar joins it.
    const abs = tarBuffer([{ path: `${hostDir}/absolute.txt`, type: 'file', data: 'abs\n', absolute: true }]);
    assert.equal((await put('/', abs)).status, 200);
    assert.equal((await fileIn('hostile', `${hostDir}/absolute.txt`)).data, 'abs\n');

    // noOverwriteDirNonDir, as the CLI always asks.
    const noOverwrite = '&noOverwriteDirNonDir=true';
    const fileOnDir = await put('/', [{ path: 'deep', type: 'file', data: 'x' }], noOverwrite);
    assert.equal(fileOnDir.status, 400);
    assert.equal(message(fileOnDir), 'cannot overwrite directory "/deep" with non-directory "/"');
    const dirOnFile = await put('/etc', [{ path: 'passwd', type: 'directory' }], noOverwrite);
    assert.equal(dirOnFile.status, 400);
    assert.equal(message(dirOnFile), 'cannot overwrite non-directory "/etc/passwd" with directory "/etc"');
    // ".wh." is a name like any other here, not a whiteout.
    assert.equal((await put('/etc', [{ path: '.wh.passwd', type: 'file', data: 'not a whiteout\n' }])).status, 200);
    assert.match((await fileIn('hostile', '/etc/passwd')).data, /^root:/);
    assert.equal((await fileIn('hostile', '/etc/.wh.passwd')).data, 'not a whiteout\n');
    // gzip is taken, xz and bzip2 refused by name, a file is no extraction point.
    assert.equal((await put('/tmp', gzipSync(tarBuffer([{ path: 'gz.txt', type: 'file', data: 'gz\n' }])))).status, 200);
    assert.equal((await fileIn('hostile', '/tmp/gz.txt')).data, 'gz\n');
    const xz = await put('/tmp', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]));
    assert.equal(xz.status, 400);
    assert.match(message(xz), /xz-compressed archives are not supported/);
    const notDir = await put('/etc/passwd', [{ path: 'x', type: 'file', data: 'x' }]);
    assert.equal(notDir.status, 400);
    assert.equal(message(notDir), 'extraction point is not a directory');

    hostUntouched();
    assert.equal(state('hostile'), 'running false');
    assert.equal(await cgroups().frozen(idOf('hostile')), false, 'thawed after every refused archive');
  });

  it('a container swapping a directory for a symlink to a host directory during copies cannot steer them out of its root', async () => {
    agent.ok(['run', '-d', '--name', 'racer', hostile, 'sh', '-c', `while :; do mkdir /swap; rm -rf /swap; ln -s ${hostDir} /swap; rm /swap; done`]);
    // Many entries make each copy long, and every one of them is opened under the extraction point.
    const tar = tarBuffer(Array.from({ length: 40 }, (_, i): TarWriteEntry => ({ path: `f${i}`, type: 'file', data: `${i}\n` })));
    let written = 0;
    for (let i = 0; i < 40; i++) {
      const r = await api(agent.sock, 'PUT', `/containers/racer/archive?path=/swap`, tar);
      if (r.status === 200) written++;
      else assert.ok([404, 400, 500].includes(r.status), `${r.status} ${r.body.toString()}`);
      const g = await api(agent.sock, 'GET', `/containers/racer/archive?path=${q('/swap/')}`);
      if (g.status === 200) for (const e of await entries(g.body)) assert.notEqual(e.data, 'host secret\n', `read the host's file as ${e.path}`);
      // The CLI's own HEAD-then-PUT, whatever it finds.
      if (i % 10 === 0) agent.docker(['cp', path.join(src, 'file.txt'), 'racer:/swap/']);
    }
    hostUntouched();
    assert.ok(written > 0, 'some copies found /swap a directory and wrote into it');
    assert.equal(state('racer'), 'running false');
    assert.equal(await cgroups().frozen(idOf('racer')), false);
    assert.deepEqual(mountsUnder(agent.root), []);
    agent.ok(['rm', '-f', 'racer']);
  });

  it('a running container stays frozen while a reader holds its archive open, a pause waits for it, and closing the reader thaws it', async () => {
    const id = idOf('cpsrc');
    const req = http.request({ socketPath: agent.sock, method: 'GET', path: '/containers/cpsrc/archive?path=/bin/busybox' });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject).end());
    assert.equal(res.statusCode, 200);
    res.pause();
    assert.equal(await cgroups().frozen(id), true, 'frozen while the archive is open');
    const pause = spawn('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${agent.sock}`, 'pause', 'cpsrc'], { stdio: 'ignore' });
    const paused = new Promise<number | null>((r) => pause.on('exit', r));
    await sleep(1500);
    assert.equal(pause.exitCode, null, 'the pause waits for the copy (had it gone through, the copy\'s thaw would undo it)');
    res.destroy();
    req.destroy();
    assert.equal(await paused, 0);
    assert.equal(state('cpsrc'), 'paused true');
    assert.equal(await cgroups().frozen(id), true, 'the pause holds after the copy let go');
    agent.ok(['unpause', 'cpsrc']);
    await eventually('cpsrc to thaw', async () => !(await cgroups().frozen(id)), 10_000);
    assert.deepEqual(mountsUnder(agent.root), []);
  });

  it("docker port: a container without published ports has none to show, and asking for one is Docker's error", () => {
    for (const name of ['hostile', 'cpstopped']) {
      assert.equal(agent.ok(['port', name]), '');
      for (const p of ['80', '80/tcp', '53/udp']) {
        const r = agent.docker(['port', name, p]);
        assert.equal(r.status, 1);
        assert.equal(r.stderr.trim(), `Error: No public port '${p}' published for ${name}`);
      }
    }
    const bad = agent.docker(['port', 'hostile', 'http']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Error: invalid port \(http\)/);
  });
});
