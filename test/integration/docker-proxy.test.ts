// The docker CLI from anywhere, through the control plane: the real `docker` CLI (and Debian's
// docker-compose 1.29) with config.json's HttpHeaders carrying a personal access token and
// `-H tcp://SERVER/docker/HOST`, driving real agents enrolled in a real control plane. Covers
// list, run, run -d + logs -f, exec -it (under script(1), a real pty), cp both ways, pull from a
// real registry, a compose project; the role matrix over every route of server/proxy/routes.ts
// for each role (so a new route is covered), and the CLI's own commands per role; host
// narrowing (404, not 403); revocation and a member's removal ending a `logs -f` at once.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { hasRole, type Role } from '../../protocol/roles';
import { splitShellWords } from '../../protocol/shell-words';
import { MAX_CALLS_PER_TOKEN } from '../../server/proxy/docker-proxy';
import { API_ROUTES } from '../../server/proxy/routes';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { io } from '../fixtures/backpressure';
import { inScript } from '../fixtures/terminal';
import { addUser, ensureNextBuild, eventually, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from './support/control-plane';

const OWNER = { email: 'pat-owner@example.test', name: 'Pat Owner', password: 'owner-pass-1' };
const ROLES: Role[] = ['viewer', 'operator', 'admin', 'owner'];
const PATIENCE_MS = 60_000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const REFUSED = /the (viewer|operator|admin) role cannot do this/;

type Api = ReturnType<typeof trpc>;

describe('the docker CLI through the control plane', { timeout: 600_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image: string;
  let cp: ControlPlane;
  let tmp: string;
  const agents: AgentProcess[] = [];
  let hostA: { id: string; name: string };
  let hostB: { id: string; name: string };
  const api = {} as Record<Role, Api>;
  /** Each role's own token (ceiling = its role), every host. */
  const token = {} as Record<Role, string>;
  let teamId: string;
  const made: string[] = [];

  /** A DOCKER_CONFIG directory whose config.json sends `secret` as the docker CLI's HttpHeaders. */
  const configFor = (secret: string | null): string => {
    const dir = mkdtempSync(path.join(tmp, 'docker-config-'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(secret ? { HttpHeaders: { Authorization: `Bearer ${secret}` } } : {}));
    return dir;
  };
  const configs = new Map<string, string>();
  const configOf = (secret: string | null) => {
    const key = secret ?? '';
    if (!configs.has(key)) configs.set(key, configFor(secret));
    return configs.get(key)!;
  };
  const hostUrl = (host: string) => `tcp://127.0.0.1:${cp.port}/docker/${host}`;
  const cliEnv = (secret: string | null) => ({ ...process.env, DOCKER_CONFIG: configOf(secret), DOCKER_CLI_HINTS: 'false', DOCKER_HOST: '', DOCKER_CONTEXT: '' });
  const docker = (secret: string | null, host: string, args: string[], opts: { input?: string; timeoutSec?: number } = {}): SpawnSyncReturns<string> =>
    spawnSync('timeout', ['-k', '5', String(opts.timeoutSec ?? 120), 'docker', '-H', hostUrl(host), ...args], { encoding: 'utf8', input: opts.input ?? '', env: cliEnv(secret), maxBuffer: 64 << 20 });
  const ok = (secret: string | null, host: string, args: string[], opts?: { input?: string }): string => {
    const r = docker(secret, host, args, opts);
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status}): ${r.stderr}\nserver log:\n${cp.child.lines.slice(-30).join("\n")}`);
    return r.stdout;
  };
  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  /** One raw request through the proxy, as a client would make it. */
  const request = (secret: string | null, method: string, pathAndQuery: string, body?: string) =>
    new Promise<{ status: number; proxy: string | undefined; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: cp.port, method, path: pathAndQuery, headers: { ...(secret ? { authorization: `Bearer ${secret}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, proxy: res.headers['x-berth-proxy'] as string | undefined, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-proxy-'));
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'proxy/busybox', 'v1')).ref;
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    api.owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    for (const role of ['admin', 'operator', 'viewer'] as const) {
      await addUser(cp, `pat-${role}@example.test`, `${role}-pass-1`, role);
      api[role] = trpc(cp.url, await signIn(cp.url, `pat-${role}@example.test`, `${role}-pass-1`));
    }
    teamId = (await api.owner.account.me.query()).teams[0].id;
    for (const name of ['edge-a', 'edge-b']) {
      const { command } = await api.owner.hosts.createJoinToken.mutate({ name });
      const join = /--token (\S+)/.exec(command)![1];
      agents.push(await startAgentProcess(`proxy-${name}`, { flags: ['--server', cp.url, '--token', join] }));
    }
    const hosts = await eventually('both hosts online', async () => {
      const list = await api.owner.hosts.list.query();
      return list.length === 2 && list.every((h) => h.online) ? list : undefined;
    }, PATIENCE_MS);
    hostA = hosts.find((h) => h.name === 'edge-a')!;
    hostB = hosts.find((h) => h.name === 'edge-b')!;
    for (const role of ROLES) token[role] = (await api[role].tokens.create.mutate({ teamId, name: `${role}'s laptop`, role, expiresInDays: 7 })).token;
  });

  after(async () => {
    try {
      for (const id of made) agents[0]?.docker(['rm', '-f', id]);
      for (const a of agents) for (const id of a.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) a.docker(['rm', '-f', id]);
    } finally {
      for (const a of agents) await a.stop();
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('a token is shown once, stored hashed, and the page prints a context command and a config.json that work', async () => {
    const made = await api.operator.tokens.create.mutate({ teamId, name: 'ci', role: 'viewer', hostIds: [hostA.id], expiresInDays: 1 });
    assert.match(made.token, /^berth_pat_[A-Za-z0-9_-]{40,}$/);
    const stored = sql((db) => db.prepare('SELECT tokenHash, hint, role, hostIds FROM "AccessToken" WHERE id = ?').get(made.id)) as { tokenHash: string; hint: string; role: string; hostIds: string };
    assert.notEqual(stored.tokenHash, made.token);
    assert.ok(!JSON.stringify(stored).includes(made.token.slice(10)), 'the secret is not in the database');
    assert.equal(stored.role, 'viewer');
    assert.deepEqual(JSON.parse(stored.hostIds), [hostA.id]);
    const listed = (await api.operator.tokens.list.query()).find((t) => t.id === made.id)!;
    assert.equal(listed.hint, `berth_pat_…${made.token.slice(-4)}`);
    assert.deepEqual(listed.hosts, [{ id: hostA.id, name: 'edge-a' }]);
    assert.equal(listed.lastUsedAt, null);
    assert.ok(!JSON.stringify(await api.operator.tokens.list.query()).includes(made.token), 'the list never shows a token again');

    // What the page prints, pasted as a user would: config.json from the snippet, then the context command.
    const [setup] = made.setup;
    assert.equal(setup.name, 'edge-a');
    const cfg = mkdtempSync(path.join(tmp, 'pasted-'));
    writeFileSync(path.join(cfg, 'config.json'), setup.config);
    const env = { ...process.env, DOCKER_CONFIG: cfg, DOCKER_CLI_HINTS: 'false', DOCKER_HOST: '', DOCKER_CONTEXT: '' };
    const words = splitShellWords(setup.context);
    const created = spawnSync('timeout', ['-k', '5', '30', ...words], { encoding: 'utf8', env });
    assert.equal(created.status, 0, created.stderr);
    const ps = spawnSync('timeout', ['-k', '5', '60', ...splitShellWords(setup.use), '--format', '{{.ID}}'], { encoding: 'utf8', env });
    assert.equal(ps.status, 0, ps.stderr);
    const used = (await api.operator.tokens.list.query()).find((t) => t.id === made.id)!;
    assert.ok(used.lastUsedAt, 'last use recorded');
    const audit = sql((db) => db.prepare(`SELECT action, result, target FROM "AuditLog" WHERE action = 'token.create' AND target LIKE ?`).all(`ci [${made.id}]%`)) as Array<{ result: string }>;
    assert.deepEqual(audit.map((a) => a.result), ['ok']);
  });

  test('a token cannot be made above its owner\'s role, nor for hosts of another team', async () => {
    await assert.rejects(api.operator.tokens.create.mutate({ teamId, name: 'too much', role: 'admin', expiresInDays: 1 }), /cannot have more than your own role \(operator\)/);
    await assert.rejects(api.operator.tokens.create.mutate({ teamId, name: 'elsewhere', role: 'viewer', hostIds: ['no-such-host'], expiresInDays: 1 }), /no such host in this team: no-such-host/);
    await assert.rejects(api.operator.tokens.create.mutate({ teamId: 'not-my-team', name: 'x', role: 'viewer', expiresInDays: 1 }), /No such team/);
  });

  test('admins see the team\'s tokens and revoke a member\'s (never one of someone above them); nobody else can', async () => {
    const t = await api.operator.tokens.create.mutate({ teamId, name: 'shared laptop', role: 'operator', expiresInDays: 1 });
    assert.equal(docker(t.token, hostA.name, ['ps', '-q']).status, 0);
    const seen = await api.admin.tokens.team.query({ teamId });
    assert.ok(!JSON.stringify(seen).includes(t.token), 'the list never shows a token');
    const row = seen.find((r) => r.id === t.id)!;
    assert.deepEqual([row.owner, row.role, row.canRevoke], ['pat-operator@example.test', 'operator', true]);
    const owners = seen.find((r) => r.owner === OWNER.email)!;
    assert.equal(owners.canRevoke, false);
    await assert.rejects(api.admin.tokens.revoke.mutate({ tokenId: owners.id }), /an admin cannot revoke an owner's token/);
    await assert.rejects(api.operator.tokens.team.query({ teamId }), /The operator role cannot see the team's tokens/);
    await assert.rejects(api.viewer.tokens.revoke.mutate({ tokenId: t.id }), /No such token/);
    await api.admin.tokens.revoke.mutate({ tokenId: t.id });
    assert.match(docker(t.token, hostA.name, ['ps']).stderr, /access token "shared laptop" was revoked/);
    assert.equal(docker(token.owner, hostA.name, ['ps', '-q']).status, 0, "the owner's token still works");
    const rows = sql((db) => db.prepare(`SELECT a.result, u.email FROM "AuditLog" a JOIN "User" u ON u.id = a.userId WHERE a.action = 'token.revoke' AND a.teamId = ? ORDER BY a.createdAt`).all(teamId)) as Array<{ result: string; email: string }>;
    assert.deepEqual(rows.map((r) => `${r.email}: ${r.result}`), ["pat-admin@example.test: error: FORBIDDEN: an admin cannot revoke an owner's token", 'pat-admin@example.test: ok']);
  });

  test('ps, version, pull from the registry, run --rm, push: the CLI drives the host through the control plane', async () => {
    const version = ok(token.owner, hostA.name, ['version', '--format', '{{.Server.APIVersion}}']).trim();
    assert.match(version, /^1\.\d+$/);
    const pulled = docker(token.operator, hostA.name, ['pull', image]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Pull complete|Downloaded newer image|Image is up to date/);
    assert.match(ok(token.viewer, hostA.name, ['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(`^${image.replace(/[.]/g, '\\.')}$`, 'm'));
    // By id as well as by name.
    const r = docker(token.operator, hostA.id, ['run', '--rm', image, 'sh', '-c', 'echo hello from $(hostname)']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^hello from [0-9a-f]{12}$/m);
    // Push progress comes back through the tunnel too; the registry has the tag afterwards.
    const pushedRef = `${registry.url}/proxy/pushed:1`;
    ok(token.operator, hostA.name, ['tag', image, pushedRef]);
    const pushed = docker(token.operator, hostA.name, ['push', pushedRef]);
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64}/);
    const tags = (await (await fetch(`http://${registry.url}/v2/proxy/pushed/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['1']);
    // --rm left nothing; the host's own socket agrees with the proxied list.
    const direct = agents[0].ok(['ps', '-aq']).trim();
    assert.equal(ok(token.viewer, hostA.name, ['ps', '-aq']).trim(), direct);
  });

  test('run -d, then logs -f streams lines as they come and ends when the container does', async () => {
    // Three lines, then it waits for the test's word (a file) before the rest and its end.
    const script = 'for i in 1 2 3; do echo tick $i; done; while [ ! -f /tmp/go ]; do sleep 0.1; done; for i in 4 5 6; do echo tick $i; done';
    const id = ok(token.operator, hostA.name, ['run', '-d', '--name', 'ticker', image, 'sh', '-c', script]).trim();
    made.push(id);
    const follow = spawn('timeout', ['-k', '5', '60', 'docker', '-H', hostUrl(hostA.name), 'logs', '-f', 'ticker'], { env: cliEnv(token.viewer) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    follow.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    // The first lines come while the container still runs: a stream, not a reply at the end.
    await eventually('tick 3 while it waits', () => /tick 3/.test(out), 30_000, 20);
    assert.equal(follow.exitCode, null);
    ok(token.operator, hostA.name, ['exec', 'ticker', 'touch', '/tmp/go']);
    assert.equal(await exited, 0, out);
    assert.deepEqual(out.trim().split('\n'), ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5', 'tick 6']);
    ok(token.operator, hostA.name, ['rm', 'ticker']);
  });

  test('exec -it in a real pty (script), exec -i with piped stdin, and cp both ways', () => {
    const id = ok(token.operator, hostA.name, ['run', '-d', '--name', 'box', image, 'sleep', '300']).trim();
    made.push(id);
    const t = inScript(`docker -H ${hostUrl(hostA.name)} exec -it box sh -c 'tty; echo $((6*7))'`, { env: cliEnv(token.operator) });
    assert.equal(t.status, 0, t.output);
    // script(1) echoes its stdin's end (^@) wherever the output is at that moment.
    const shown = t.output.replace(/\^@/g, '');
    assert.match(shown, /^\/dev\/pts\/\d+\r?$/m);
    assert.match(shown, /^42\r?$/m);
    const piped = docker(token.operator, hostA.name, ['exec', '-i', 'box', 'sh', '-c', 'tr a-z A-Z'], { input: 'through the control plane\n' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, 'THROUGH THE CONTROL PLANE\n');
    const exit = docker(token.operator, hostA.name, ['exec', 'box', 'sh', '-c', 'exit 7']);
    assert.equal(exit.status, 7);

    const local = path.join(tmp, 'cp-in.txt');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'berth ').toString();
    writeFileSync(local, big);
    ok(token.operator, hostA.name, ['cp', local, 'box:/tmp/in.txt']);
    assert.equal(ok(token.operator, hostA.name, ['exec', 'box', 'sh', '-c', 'wc -c < /tmp/in.txt']).trim(), String(big.length));
    const back = path.join(tmp, 'cp-out');
    mkdirSync(back);
    ok(token.operator, hostA.name, ['cp', 'box:/tmp/in.txt', path.join(back, 'out.txt')]);
    assert.equal(readFileSync(path.join(back, 'out.txt'), 'utf8'), big);
    ok(token.operator, hostA.name, ['rm', '-f', 'box']);
  });

  test('events stream as they happen, run -i attaches stdin, and a build sends its context up the tunnel', async () => {
    const events = spawn('docker', ['-H', hostUrl(hostA.name), 'events', '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { env: cliEnv(token.viewer) });
    let seen = '';
    events.stdout.on('data', (d) => (seen += d));
    events.stderr.on('data', (d) => (seen += d));
    try {
      // Once a probe's events come through, the stream is open (the CLI prints nothing before the first).
      let probes = 0;
      await eventually('the stream to be open', () => {
        ok(token.operator, hostA.name, ['run', '--rm', '--name', `probe-${++probes}`, image, 'true']);
        return /^die probe-\d+$/m.test(seen);
      }, 30_000, 500);
      const r = docker(token.operator, hostA.name, ['run', '--rm', '-i', '--name', 'upper', image, 'tr', 'a-z', 'A-Z'], { input: 'stdin goes through the tunnel\n' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'STDIN GOES THROUGH THE TUNNEL\n');
      await eventually('start and die events', () => /^start upper$/m.test(seen) && /^die upper$/m.test(seen), 20_000, 20);
    } finally {
      events.kill('SIGTERM');
    }

    const ctx = path.join(tmp, 'build-ctx');
    mkdirSync(ctx);
    const blob = randomBytes(2 * 1024 * 1024 + 5);
    writeFileSync(path.join(ctx, 'blob.bin'), blob);
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${image}\nCOPY blob.bin /blob.bin\nRUN wc -c < /blob.bin > /size\n`);
    const built = spawnSync('timeout', ['-k', '5', '180', 'docker', '-H', hostUrl(hostA.name), 'build', '-q', '-t', 'proxied-build:1', ctx], { encoding: 'utf8', env: { ...cliEnv(token.operator), DOCKER_BUILDKIT: '0' } });
    assert.equal(built.status, 0, built.stderr);
    assert.equal(ok(token.operator, hostA.name, ['run', '--rm', 'proxied-build:1', 'cat', '/size']).trim(), String(blob.length));
    const copied = execFileSync('timeout', ['-k', '5', '60', 'docker', '-H', hostUrl(hostA.name), 'run', '--rm', 'proxied-build:1', 'cat', '/blob.bin'], { env: cliEnv(token.operator), maxBuffer: 16 << 20 });
    assert.equal(sha(copied), sha(blob));
    ok(token.operator, hostA.name, ['rmi', 'proxied-build:1']);
  });

  test('backpressure both ways: a client that does not read holds the container\'s output back, a container that does not read holds the client\'s stdin back', async (t) => {
    const child = (args: string[]) => spawn('docker', ['-H', hostUrl(hostA.name), ...args], { env: cliEnv(token.operator), stdio: ['pipe', 'pipe', 'pipe'] });
    // What the kernel alone may hold on the way: one loopback TCP connection (the CLI's to the
    // control plane) grows its send and receive buffers up to these, on top of the pipes, unix
    // sockets and the tunnel's window (a few MiB). A buffer of Berth's that grows shows as all of SIZE.
    const tcpMax = (f: string) => Number(readFileSync(`/proc/sys/net/ipv4/${f}`, 'utf8').trim().split(/\s+/)[2]);
    const bound = tcpMax('tcp_wmem') + tcpMax('tcp_rmem') + (4 << 20);
    const SIZE = Math.max(64 << 20, Math.ceil((2 * bound) / (1 << 20)) << 20);

    // Out: the CLI's stdout left unread for two seconds (what is tested), then read to the end.
    const out = child(['run', '--name', 'writer', image, 'head', '-c', String(SIZE), '/dev/zero']);
    out.stdout.pause();
    const outClosed = new Promise<number | null>((r) => out.on('close', r));
    const pid = await eventually('the writer to run', () => {
      const r = agents[0].docker(['inspect', '-f', '{{.State.Pid}}', 'writer']);
      return r.status === 0 && Number(r.stdout.trim()) > 0 ? Number(r.stdout.trim()) : undefined;
    }, 30_000, 50);
    await new Promise((r) => setTimeout(r, 2000));
    const writtenBefore = io(pid, 'wchar');
    let bytes = 0;
    out.stdout.on('data', (d: Buffer) => (bytes += d.length));
    out.stdout.resume();
    assert.equal(await outClosed, 0);
    t.diagnostic(`the container had written ${(writtenBefore / 1048576).toFixed(2)} MiB when the client began to read`);
    assert.ok(writtenBefore < bound, `the container wrote ${writtenBefore >> 20} MiB through the control plane while its client read nothing`);
    assert.equal(bytes, SIZE);
    ok(token.operator, hostA.name, ['rm', 'writer']);

    // In: SIZE bytes on the CLI's stdin, the container reads nothing for two seconds, then all of it.
    const data = randomBytes(SIZE);
    const inp = child(['run', '--rm', '-i', image, 'sh', '-c', 'sleep 2; echo reading >&2; md5sum']);
    let stdout = '';
    let readBefore = -1;
    inp.stdout.on('data', (d) => (stdout += d));
    inp.stderr.on('data', (d: Buffer) => {
      if (readBefore < 0 && d.includes('reading')) readBefore = io(inp.pid!, 'rchar');
    });
    inp.stdin.on('error', () => {});
    inp.stdin.end(data);
    assert.equal(await new Promise<number | null>((r) => inp.on('close', r)), 0);
    t.diagnostic(`the CLI had read ${(readBefore / 1048576).toFixed(2)} MiB of the ${SIZE >> 20} MiB when the container began to read`);
    assert.ok(readBefore >= 0 && readBefore < bound, `the CLI could read ${readBefore >> 20} MiB of stdin through the control plane while nothing in the container read it`);
    assert.equal(stdout, `${createHash('md5').update(data).digest('hex')}  -\n`);
  });

  test('dockerode, which drops a path in its host URL, names the host in X-Berth-Host: list, run, exec with stdin, and a viewer refused', async () => {
    const sdk = (secret: string, host: string) => new Docker({ host: '127.0.0.1', port: cp.port, headers: { Authorization: `Bearer ${secret}`, 'X-Berth-Host': host } });
    const op = sdk(token.operator, hostA.name);
    const c = await op.createContainer({ Image: image, Cmd: ['sleep', '300'] });
    made.push(c.id);
    await c.start();
    assert.ok((await sdk(token.viewer, hostA.id).listContainers()).some((x) => x.Id === c.id));
    const e = await c.exec({ Cmd: ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 5'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await e.start({ hijack: true, stdin: true });
    const out = new PassThrough();
    const err = new PassThrough();
    op.modem.demuxStream(stream, out, err);
    let stdout = '';
    let stderr = '';
    out.on('data', (d) => (stdout += d));
    err.on('data', (d) => (stderr += d));
    const ended = new Promise((r) => stream.on('end', r));
    stream.end('abc\n');
    await ended;
    assert.deepEqual({ stdout, stderr }, { stdout: 'got abc\n', stderr: 'oops\n' });
    assert.equal((await e.inspect()).ExitCode, 5);
    await assert.rejects(sdk(token.viewer, hostA.name).getContainer(c.id).remove({ force: true }), (error: { statusCode?: number; json?: { message?: string } }) => {
      assert.equal(error.statusCode, 403);
      assert.match(error.json?.message ?? '', /the viewer role cannot do this on edge-a: DELETE/);
      return true;
    });
    await c.remove({ force: true });
  });

  test('a viewer\'s token: ps, logs, inspect, stats work; run, rm and exec get a 403 the CLI prints in plain words', () => {
    const id = ok(token.operator, hostA.name, ['run', '-d', '--name', 'watched', image, 'sh', '-c', 'echo seen; sleep 300']).trim();
    made.push(id);
    assert.match(ok(token.viewer, hostA.name, ['ps', '--format', '{{.Names}}']), /^watched$/m);
    assert.match(ok(token.viewer, hostA.name, ['logs', 'watched']), /^seen$/m);
    assert.equal(ok(token.viewer, hostA.name, ['inspect', '-f', '{{.Id}}', 'watched']).trim(), id);
    assert.match(ok(token.viewer, hostA.name, ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 'watched']), /^watched \S+/m);
    for (const args of [['run', '--rm', image, 'true'], ['rm', '-f', 'watched'], ['exec', 'watched', 'true']]) {
      const r = docker(token.viewer, hostA.name, args);
      assert.notEqual(r.status, 0, `docker ${args.join(' ')} as a viewer`);
      assert.match(r.stderr, /Error response from daemon: the viewer role cannot do this on edge-a: (POST|DELETE) \/containers\/\S+ \(([^)]+)\) needs operator or above/, r.stderr);
      // The refusal names the command the user typed.
      assert.ok(/\(([^)]+)\) needs/.exec(r.stderr)![1].split(', ').includes(`docker ${args[0]}`), r.stderr);
    }
    // Nothing happened: it still runs, and the refusals are in the audit log under the token's name.
    assert.match(ok(token.viewer, hostA.name, ['ps', '--format', '{{.Names}}']), /^watched$/m);
    const rows = sql((db) => db.prepare(`SELECT action, result, target, hostId FROM "AuditLog" WHERE target LIKE '%(token "viewer''s laptop")' AND result LIKE 'error: 403%'`).all()) as Array<{ action: string; hostId: string }>;
    assert.deepEqual([...new Set(rows.map((r) => r.action))].sort(), ['docker.containers.create', 'docker.containers.remove', 'docker.exec.create']);
    assert.ok(rows.every((r) => r.hostId === hostA.id));
  });

  test('the role matrix: every route of the proxy\'s table, as each role, is let through or refused as the table says', async () => {
    const results: string[] = [];
    for (const route of API_ROUTES) {
      for (const role of ROLES) {
        const body = route.method === 'POST' || route.method === 'PUT' ? '{}' : undefined;
        const r = await request(token[role], route.method, `/docker/${hostB.name}/v1.45${route.sample}`, body);
        const refused = r.status === 403 && r.proxy === 'refused';
        const expected = !hasRole(role, route.need);
        results.push(`${route.id} as ${role}: ${refused ? '403' : r.status}`);
        assert.equal(refused, expected, `${route.method} ${route.sample} as ${role} (needs ${route.need}): HTTP ${r.status} ${r.body.slice(0, 200)}`);
        if (refused && route.method !== 'HEAD') assert.match(JSON.parse(r.body).message, new RegExp(`the ${role} role cannot do this on edge-b: .* needs ${route.need} or above`));
      }
    }
    assert.equal(results.length, API_ROUTES.length * ROLES.length);
    // Deny by default: a route the table does not know is refused whoever asks, owner included.
    for (const [method, p] of [['GET', '/swarm'], ['POST', '/session'], ['GET', '/plugins'], ['POST', '/containers/x/frobnicate'], ['PATCH', '/containers/json']]) {
      const r = await request(token.owner, method, `/docker/${hostB.name}/v1.45${p}`);
      assert.equal(r.status, 403, `${method} ${p}`);
      assert.match(JSON.parse(r.body).message, /does not allow/);
    }
  });

  test('the role matrix as the docker CLI sees it: each command, each role, allowed or a 403', () => {
    agents[1].ok(['pull', image]);
    made.push(agents[1].ok(['run', '-d', '--name', 'matrix-box', image, 'sleep', '300']).trim());
    const byId = new Map(API_ROUTES.map((r) => [r.id, r]));
    // Each command with the first call of its that the proxy judges; what is expected comes from the table.
    const commands: Array<{ args: string[]; route: string }> = [
      { args: ['ps'], route: 'containers.list' },
      { args: ['images'], route: 'images.list' },
      { args: ['info', '--format', '{{.ServerVersion}}'], route: 'info' },
      { args: ['network', 'ls'], route: 'networks.list' },
      { args: ['volume', 'ls'], route: 'volumes.list' },
      { args: ['system', 'df'], route: 'system.df' },
      { args: ['inspect', 'no-such-thing'], route: 'containers.inspect' },
      { args: ['logs', 'no-such-thing'], route: 'containers.logs' },
      { args: ['create', 'no-such-image'], route: 'containers.create' },
      { args: ['start', 'no-such-thing'], route: 'containers.start' },
      { args: ['stop', 'no-such-thing'], route: 'containers.stop' },
      { args: ['kill', 'no-such-thing'], route: 'containers.kill' },
      { args: ['rm', 'no-such-thing'], route: 'containers.remove' },
      { args: ['top', 'matrix-box'], route: 'containers.top' },
      { args: ['stats', '--no-stream', 'matrix-box'], route: 'containers.stats' },
      { args: ['exec', 'matrix-box', 'true'], route: 'exec.create' },
      { args: ['cp', 'matrix-box:/etc/hostname', path.join(tmp, 'cp-matrix-out')], route: 'containers.archive.stat' },
      { args: ['restart', 'no-such-thing'], route: 'containers.restart' },
      { args: ['pause', 'no-such-thing'], route: 'containers.pause' },
      { args: ['rmi', 'no-such-image'], route: 'images.remove' },
      { args: ['tag', 'no-such-image', 'other:tag'], route: 'images.tag' },
      { args: ['pull', '127.0.0.1:1/no-such-image'], route: 'images.pull' },
      { args: ['volume', 'rm', 'no-such-volume'], route: 'volumes.remove' },
      { args: ['network', 'rm', 'no-such-network'], route: 'networks.remove' },
      { args: ['login', '-u', 'x', '--password-stdin', '127.0.0.1:1'], route: 'auth' },
    ];
    const table: string[] = [];
    for (const c of commands) {
      const route = byId.get(c.route)!;
      assert.ok(route, c.route);
      const row: string[] = [];
      for (const role of ROLES) {
        const r = docker(token[role], hostB.name, c.args, { input: 'x\n', timeoutSec: 60 });
        const refused = REFUSED.test(r.stderr);
        assert.equal(refused, !hasRole(role, route.need), `docker ${c.args.join(' ')} as ${role}: ${r.stderr}`);
        if (refused) assert.notEqual(r.status, 0);
        row.push(refused ? '403' : 'ok');
      }
      table.push(`docker ${c.args.join(' ')}: ${row.join(' ')}`);
    }
    console.log(`CLI role matrix (viewer operator admin owner):\n${table.join('\n')}`);
  });

  test('a token narrowed to one host cannot reach another: 404, as for a host that does not exist', async () => {
    const narrow = (await api.owner.tokens.create.mutate({ teamId, name: 'only a', role: 'owner', hostIds: [hostA.id], expiresInDays: 1 })).token;
    assert.equal(docker(narrow, hostA.name, ['ps', '-q']).status, 0);
    for (const ref of [hostB.name, hostB.id, 'no-such-host']) {
      const r = docker(narrow, ref, ['ps']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`No such host: ${ref}`), r.stderr);
      assert.equal((await request(narrow, 'GET', `/docker/${ref}/v1.45/containers/json`)).status, 404);
    }
  });

  test('no token, a wrong one, an expired one: a 401 whose words the CLI prints', () => {
    const none = docker(null, hostA.name, ['ps']);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /no access token: send "Authorization: Bearer berth_pat_…"/);
    const wrong = docker('berth_pat_not-a-real-one', hostA.name, ['ps']);
    assert.match(wrong.stderr, /this access token is not valid/);
    const id = sql((db) => (db.prepare('SELECT id FROM "AccessToken" WHERE name = ?').get("admin's laptop") as { id: string }).id);
    sql((db) => db.prepare('UPDATE "AccessToken" SET expiresAt = ? WHERE id = ?').run(Date.now() - 1000, id));
    const expired = docker(token.admin, hostA.name, ['ps']);
    assert.match(expired.stderr, /access token "admin's laptop" expired on/);
    sql((db) => db.prepare('UPDATE "AccessToken" SET expiresAt = ? WHERE id = ?').run(Date.now() + 3600_000, id));
    assert.equal(docker(token.admin, hostA.name, ['ps', '-q']).status, 0);
  });

  test(`one token holds at most ${MAX_CALLS_PER_TOKEN} calls open at once (a 429 in words); closing them frees it`, async () => {
    const busy = (await api.owner.tokens.create.mutate({ teamId, name: 'busy', role: 'viewer', expiresInDays: 1 })).token;
    const open: http.ClientRequest[] = [];
    try {
      for (let i = 0; i < MAX_CALLS_PER_TOKEN; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: cp.port, path: `/docker/${hostA.name}/v1.45/events`, headers: { authorization: `Bearer ${busy}` } }, (res) => {
            assert.equal(res.statusCode, 200);
            resolve();
          });
          req.on('error', reject);
          open.push(req);
        });
      }
      const refused = docker(busy, hostA.name, ['ps']);
      assert.match(refused.stderr, new RegExp(`access token "busy" has ${MAX_CALLS_PER_TOKEN} calls open already`), refused.stderr);
      // Another token is not held back by this one.
      assert.equal(docker(token.viewer, hostA.name, ['ps', '-q']).status, 0);
    } finally {
      for (const r of open) r.destroy();
    }
    await eventually('the calls to close', () => docker(busy, hostA.name, ['ps', '-q']).status === 0, 30_000);
  });

  test('mutating calls are audited: who, token, host, method, path, status', async () => {
    const since = sql((db) => (db.prepare('SELECT max(rowid) AS n FROM "AuditLog"').get() as { n: number }).n);
    ok(token.operator, hostA.name, ['pull', image]);
    ok(token.operator, hostA.name, ['run', '--rm', image, 'true']);
    const id = ok(token.operator, hostA.name, ['run', '-d', '--name', 'audited', image, 'sleep', '300']).trim();
    made.push(id);
    const file = path.join(tmp, 'audited.txt');
    writeFileSync(file, 'audited\n');
    ok(token.operator, hostA.name, ['cp', file, 'audited:/tmp/']);
    ok(token.operator, hostA.name, ['cp', 'audited:/tmp/audited.txt', path.join(tmp, 'audited-back.txt')]);
    ok(token.operator, hostA.name, ['ps']);
    ok(token.operator, hostA.name, ['rm', '-f', 'audited']);
    const query = () =>
      sql((db) =>
        db
          .prepare(`SELECT a.action, a.result, a.target, a.hostId, u.email FROM "AuditLog" a JOIN "User" u ON u.id = a.userId WHERE a.action LIKE 'docker.%' AND a.target LIKE '%(token "operator''s laptop")' AND a.rowid > ? ORDER BY a.rowid`)
          .all(since),
      ) as Array<{ action: string; result: string; target: string; hostId: string; email: string }>;
    // A row is written as its call ends, which the CLI may see first.
    const rows = await eventually('the rm to be audited', () => {
      const r = query();
      return r.some((x) => x.action === 'docker.containers.remove') ? r : undefined;
    }, 10_000, 50);
    const creates = rows.filter((r) => r.action === 'docker.containers.create');
    assert.equal(creates.length, 2, JSON.stringify(rows));
    for (const r of creates) assert.deepEqual(r, { action: 'docker.containers.create', result: 'ok (HTTP 201)', target: 'POST /containers/create (token "operator\'s laptop")', hostId: hostA.id, email: 'pat-operator@example.test' });
    assert.deepEqual(
      // The CLI hangs up on `cp`'s download at the tar's end, which may come before the answer's own.
      rows.filter((r) => r.action !== 'docker.containers.create').map((r) => `${r.action} ${r.result.replace(/; the client hung up before the answer's end\)$/, ')')}`),
      [
        'docker.images.pull ok (HTTP 200)',
        'docker.containers.start ok (HTTP 204)',
        'docker.containers.start ok (HTTP 204)',
        'docker.containers.archive.stat ok (HTTP 200)',
        'docker.containers.archive.put ok (HTTP 200)',
        'docker.containers.archive.get ok (HTTP 200)',
        'docker.containers.remove ok (HTTP 204)',
      ],
    );
    // Reads are not audited: ps, inspect, wait and attach without stdin leave no row.
    assert.ok(!rows.some((r) => ['docker.containers.list', 'docker.containers.inspect', 'docker.containers.wait', 'docker.containers.attach'].includes(r.action)), JSON.stringify(rows.map((r) => r.action)));
  });

  test('revoking a token ends its logs -f at once, and its next call is a 401', async () => {
    const id = ok(token.operator, hostA.name, ['run', '-d', '--name', 'talker', image, 'sh', '-c', 'while true; do echo still here; sleep 0.2; done']).trim();
    made.push(id);
    const made2 = await api.viewer.tokens.create.mutate({ teamId, name: 'to revoke', role: 'viewer', expiresInDays: 1 });
    const follow = spawn('timeout', ['-k', '5', '120', 'docker', '-H', hostUrl(hostA.name), 'logs', '-f', 'talker'], { env: cliEnv(made2.token) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    follow.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    await eventually('the stream to flow', () => (out.match(/still here/g) ?? []).length >= 3, 30_000, 20);
    await api.viewer.tokens.revoke.mutate({ tokenId: made2.id });
    // It ends on the revocation: the container goes on talking for ever.
    const code = await exited;
    assert.notEqual(code, 124, 'logs -f ended by itself only at the timeout');
    const again = docker(made2.token, hostA.name, ['ps']);
    assert.match(again.stderr, /access token "to revoke" was revoked/);
    // The cut is written as the stream ends, which the CLI may see first.
    const cut = await eventually('the cut to be audited', () => {
      const rows = sql((db) => db.prepare(`SELECT result FROM "AuditLog" WHERE action = 'docker.containers.logs' AND target LIKE '%(token "to revoke")'`).all()) as Array<{ result: string }>;
      return rows.length ? rows : undefined;
    }, 10_000, 50);
    assert.deepEqual(cut.map((c) => c.result), ['error: ended by the control plane: its access token was revoked']);
    const audit = sql((db) => db.prepare(`SELECT result FROM "AuditLog" WHERE action = 'token.revoke' AND target LIKE ?`).all(`to revoke [${made2.id}] of %`)) as Array<{ result: string }>;
    assert.deepEqual(audit.map((a) => a.result), ['ok']);
    await assert.rejects(api.viewer.tokens.revoke.mutate({ tokenId: made2.id }), /revoked already/);
  });

  test('narrowing the token\'s owner to another host ends its logs -f at once and hides the host; widening them again gives it back', async () => {
    const me = await api.operator.account.me.query();
    const follow = spawn('timeout', ['-k', '5', '120', 'docker', '-H', hostUrl(hostA.name), 'logs', '-f', 'talker'], { env: cliEnv(token.operator) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    await eventually('the stream to flow', () => (out.match(/still here/g) ?? []).length >= 3, 30_000, 20);
    try {
      await api.owner.team.setHosts.mutate({ teamId, userId: me.id, hostIds: [hostB.id] });
      assert.notEqual(await exited, 124, 'logs -f ended by itself only at the timeout');
      assert.match(docker(token.operator, hostA.name, ['ps']).stderr, new RegExp(`No such host: ${hostA.name}`));
      assert.equal(docker(token.operator, hostB.name, ['ps']).status, 0, 'the host they are narrowed to answers');
    } finally {
      await api.owner.team.setHosts.mutate({ teamId, userId: me.id, hostIds: null });
    }
    assert.equal(docker(token.operator, hostA.name, ['ps']).status, 0);
  });

  test('a lowered role lowers the token at its next call; a removed member\'s logs -f ends at once', async () => {
    const me = await api.operator.account.me.query();
    const setRole = (role: Role) => api.owner.team.setRole.mutate({ teamId, userId: me.id, role });
    await setRole('viewer');
    const r = docker(token.operator, hostA.name, ['run', '--rm', image, 'true']);
    assert.match(r.stderr, /the viewer role cannot do this on edge-a/);
    await setRole('operator');
    assert.equal(docker(token.operator, hostA.name, ['run', '--rm', image, 'true']).status, 0);

    const follow = spawn('timeout', ['-k', '5', '120', 'docker', '-H', hostUrl(hostA.name), 'logs', '-f', 'talker'], { env: cliEnv(token.operator) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    await eventually('the stream to flow', () => (out.match(/still here/g) ?? []).length >= 3, 30_000, 20);
    await api.owner.team.removeMember.mutate({ teamId, userId: me.id });
    assert.notEqual(await exited, 124, 'logs -f ended by itself only at the timeout');
    const after = docker(token.operator, hostA.name, ['ps']);
    assert.match(after.stderr, /its owner is no longer a member of team Default/);
  });

  test('an admin\'s password reset holds the member\'s tokens too: a logs -f ends, the next call is a 401', async () => {
    const me = await api.viewer.account.me.query();
    const follow = spawn('timeout', ['-k', '5', '120', 'docker', '-H', hostUrl(hostA.name), 'logs', '-f', 'talker'], { env: cliEnv(token.viewer) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    await eventually('the stream to flow', () => (out.match(/still here/g) ?? []).length >= 3, 30_000, 20);
    await api.owner.team.resetPassword.mutate({ teamId, userId: me.id });
    assert.notEqual(await exited, 124, 'logs -f ended by itself only at the timeout');
    assert.match(docker(token.viewer, hostA.name, ['ps']).stderr, /its owner must choose a new password on Berth's account page first/);
  });

  test('a host that drops off mid-stream ends the call rather than leave it hanging; a 503 while it is away; back, it answers again', async () => {
    agents[1].ok(['pull', image]);
    const id = agents[1].ok(['run', '-d', '--name', 'b-talker', image, 'sh', '-c', 'while true; do echo from b; sleep 0.2; done']).trim();
    const follow = spawn('timeout', ['-k', '5', '120', 'docker', '-H', hostUrl(hostB.name), 'logs', '-f', 'b-talker'], { env: cliEnv(token.owner) });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follow.once('exit', r));
    await eventually('the stream to flow', () => (out.match(/from b/g) ?? []).length >= 3, 30_000, 20);
    await agents[1].kill('SIGKILL');
    assert.notEqual(await exited, 124, 'logs -f ended by itself only at the timeout');
    const away = await eventually('a 503', async () => {
      const r = await request(token.owner, 'GET', `/docker/${hostB.name}/v1.45/containers/json`);
      return r.status === 503 ? r : undefined;
    }, 30_000);
    assert.match(JSON.parse(away.body).message, /the host is offline/);
    await agents[1].restart();
    await eventually('edge-b back online', async () => (await api.owner.hosts.get.query({ hostId: hostB.id })).online, PATIENCE_MS);
    assert.match(ok(token.owner, hostB.name, ['ps', '--format', '{{.ID}}', '--no-trunc']), new RegExp(`^${id}$`, 'm'));
    ok(token.owner, hostB.name, ['rm', '-f', 'b-talker']);
  });

  test('docker-compose 1.29 sends config.json\'s HttpHeaders too: a project comes up, lists and goes down through the control plane', () => {
    const dir = path.join(tmp, 'compose');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'docker-compose.yml'), `version: "3.7"\nservices:\n  app:\n    image: ${image}\n    command: sh -c "echo compose-through-berth; sleep 300"\n    network_mode: none\n`);
    const compose = (args: string[]) =>
      spawnSync('timeout', ['-k', '5', '120', 'docker-compose', '--ansi', 'never', '-p', 'proxied', ...args], { cwd: dir, encoding: 'utf8', env: { ...cliEnv(token.owner), DOCKER_HOST: hostUrl(hostB.name) } });
    const up = compose(['up', '-d']);
    assert.equal(up.status, 0, up.stderr);
    const ps = compose(['ps', '-q']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.equal(ps.stdout.trim().split('\n').length, 1);
    assert.match(agents[1].ok(['ps', '--format', '{{.Names}}']), /^proxied_app_1$/m);
    const logs = compose(['logs', '--no-color', 'app']);
    assert.match(logs.stdout, /compose-through-berth/);
    const down = compose(['down']);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(agents[1].ok(['ps', '-aq', '--filter', 'label=com.docker.compose.project=proxied']).trim(), '');
    // Without the header compose gets the 401 like the CLI.
    const bare = spawnSync('timeout', ['-k', '5', '60', 'docker-compose', '-p', 'proxied', 'ps'], { cwd: dir, encoding: 'utf8', env: { ...cliEnv(null), DOCKER_HOST: hostUrl(hostB.name) } });
    assert.notEqual(bare.status, 0);
    assert.match(bare.stdout + bare.stderr, /no access token/);
  });
});
