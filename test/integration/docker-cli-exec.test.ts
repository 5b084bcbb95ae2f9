import { readFileSync } from 'node:fs';
// `docker exec` through the real CLI against a real agent: the Engine API's exec objects
// (create, start, resize, inspect), -d, -i, -t, -u, -w, -e, exit codes as Docker's
// (126 cannot run, 127 not found), ExecIDs in inspect, exec_* events, an interactive
// `exec -it` shell in tmux.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { slowClient, slowReader } from '../fixtures/backpressure';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { inScript, startTmux, type Tmux } from '../fixtures/terminal';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
let ctr = '';
const terminals: Tmux[] = [];

const cli = () => `env DOCKER_CONFIG=${path.join(agent.tmp, 'docker-config')} DOCKER_CLI_HINTS=false docker -H unix://${agent.sock}`;
const PROMPT = /\/ #\s*$/;

describe('docker exec through the CLI', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'exec', { config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=yes'] } })).ref;
    agent = await startAgentProcess('exec');
    agent.ok(['pull', '-q', image]);
    ctr = agent.ok(['run', '-d', '--name', 'target', '--hostname', 'box', image, 'sleep', '100000']).trim();
  });

  after(async () => {
    for (const t of terminals) t.close();
    if (agent) {
      const left = agent.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (left.length) agent.docker(['rm', '-f', ...left]);
      await agent.stop();
    }
    await registry?.stop();
  });

  it('runs a command in the container, its output and exit code passing through', () => {
    const r = agent.docker(['exec', 'target', 'sh', '-c', 'echo out; echo err >&2; cat /proc/1/cmdline | tr "\\0" " "; exit 42']);
    assert.equal(r.status, 42);
    assert.equal(r.stdout, 'out\nsleep 100000 ');
    assert.equal(r.stderr, 'err\n');
  });

  it('127 for a command that is not there, 126 for one that cannot run, each saying why', () => {
    const missing = agent.docker(['exec', 'target', 'no-such-command']);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    const notExec = agent.docker(['exec', 'target', '/etc/passwd']);
    assert.equal(notExec.status, 126);
    assert.match(notExec.stderr, /exec: "\/etc\/passwd": Permission denied/);
  });

  it('-u, -w and -e, over the container\'s environment, HOSTNAME and HOME', () => {
    const r = agent.ok(['exec', '-u', 'nobody', '-w', '/tmp', '-e', 'EXTRA=x', '-e', 'FROM_IMAGE=overridden', 'target', 'sh', '-c', 'id -u; pwd; echo $EXTRA $FROM_IMAGE $HOSTNAME $HOME']);
    assert.equal(r, '65534\n/tmp\nx overridden box /nonexistent\n');
    assert.equal(agent.ok(['exec', 'target', 'sh', '-c', 'echo $FROM_IMAGE; id -u; pwd']), 'yes\n0\n/\n');
  });

  it('-i: stdin to the command, its EOF closing it', () => {
    const data = randomBytes(2 << 20);
    const r = agent.docker(['exec', '-i', 'target', 'md5sum'], { input: data });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${createHash('md5').update(data).digest('hex')}  -\n`);
    // Without -i the command's stdin is empty.
    assert.equal(agent.docker(['exec', 'target', 'wc', '-c'], { input: 'ignored' }).stdout.trim(), '0');
  });

  it('backpressure both ways: a slow reader on either side loses nothing and piles nothing up on the way', async (t) => {
    const data = randomBytes(64 << 20);
    const input = await slowReader(agent, ['exec', '-i', 'target', 'sh', '-c', 'sleep 2; echo reading >&2; md5sum'], data);
    assert.equal(input.stdout, `${createHash('md5').update(data).digest('hex')}  -\n`);
    const execPid = async () => {
      const ids = JSON.parse(agent.ok(['inspect', '-f', '{{json .ExecIDs}}', 'target'])) as string[] | null;
      return ids?.length ? (JSON.parse((await execInspect(ids[0])).body) as { Pid: number }).Pid : 0;
    };
    const output = await slowClient(agent, ['exec', 'target', 'head', '-c', '67108864', '/dev/zero'], execPid);
    t.diagnostic(`exec -i: the CLI had read ${(input.readBefore / 1048576).toFixed(2)} MiB when the command began to read; the command had written ${(output.writtenBefore / 1048576).toFixed(2)} MiB when its client began to read`);
    assert.ok(input.readBefore < 8 << 20, `the CLI read ${input.readBefore >> 20} MiB of stdin while nothing read it`);
    assert.ok(output.writtenBefore < 8 << 20, `the command wrote ${output.writtenBefore >> 20} MiB while its client read nothing`);
    assert.equal(output.bytes, 67108864);
  });

  it('-d: the command runs on its own; ExecIDs lists it while it runs', async () => {
    agent.ok(['exec', '-d', 'target', 'sh', '-c', 'sleep 1; echo done > /tmp/detached']);
    const ids = JSON.parse(agent.ok(['inspect', '-f', '{{json .ExecIDs}}', 'target'])) as string[] | null;
    assert.equal(ids?.length, 1, 'the running exec');
    const info = JSON.parse((await execInspect(ids![0])).body) as { Running: boolean; ContainerID: string; ProcessConfig: { entrypoint: string; arguments: string[] }; Pid: number };
    assert.deepEqual([info.Running, info.ContainerID, info.ProcessConfig.entrypoint, info.ProcessConfig.arguments], [true, ctr, 'sh', ['-c', 'sleep 1; echo done > /tmp/detached']]);
    assert.ok(info.Pid > 0, 'the command\'s host pid');
    await eventually('the detached command to finish', () => agent.docker(['exec', 'target', 'cat', '/tmp/detached']).stdout === 'done\n', 20_000, 100);
    await eventually('ExecIDs to drop it', () => agent.ok(['inspect', '-f', '{{json .ExecIDs}}', 'target']).trim() === 'null', 20_000, 100);
    const done = JSON.parse((await execInspect(ids![0])).body) as { Running: boolean; ExitCode: number; Pid: number };
    assert.deepEqual([done.Running, done.ExitCode, done.Pid], [false, 0, 0]);
  });

  it('-t: a pty of the container\'s devpts at the terminal\'s size, TERM=xterm', () => {
    const r = inScript(`stty rows 21 cols 77; ${cli()} exec -t target sh -c 'tty; stty size; echo $TERM; exit 9'`);
    assert.equal(r.status, 9, r.output);
    assert.deepEqual(r.output.split(/\r*\n/).filter(Boolean), ['/dev/pts/0', '21 77', 'xterm']);
  });

  it('-it: an interactive shell, resized, Ctrl-C for its foreground job, its exit code', async () => {
    const t = startTmux('exec-it', `${cli()} exec -it target sh`, { cols: 90, rows: 25 });
    terminals.push(t);
    await t.waitFor(PROMPT);
    t.type('stty size');
    await t.waitFor(/\n25 90\n/);
    t.resize(130, 45);
    t.type('stty size');
    await t.waitFor(/\n45 130\n/);
    t.type('sleep 999');
    await eventually('sleep to run', () => agent.docker(['exec', 'target', 'pidof', 'sleep']).stdout.trim().split(' ').length === 2, 20_000, 50);
    t.keys('C-c');
    await t.waitFor(/\^C\n\/ #\s*$/);
    t.type('echo back $?; exit 3');
    await t.waitFor(/back 130\n\[exit 3\]/);
  });

  it('exec_create, exec_start and exec_die events with the exec id and exit code, Docker\'s action names', async () => {
    const events = spawn('docker', ['-H', `unix://${agent.sock}`, 'events', '--format', '{{json .}}', '--filter', 'event=exec_create', '--filter', 'event=exec_start', '--filter', 'event=exec_die'], {
      env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    events.stdout.on('data', (d) => (out += d));
    try {
      // The stream is open once an exec's events show up in it.
      await eventually('the events stream to be open', () => {
        agent.docker(['exec', 'target', 'true']);
        return out.includes('exec_die');
      }, 20_000, 200);
      agent.docker(['exec', 'target', 'sh', '-c', 'exit 3']);
      type Ev = { Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
      const all = () => out.trim().split('\n').map((l) => JSON.parse(l) as Ev);
      const execId = await eventually('exec_create of sh -c exit 3', () => all().find((e) => e.Action === 'exec_create: sh -c exit 3')?.Actor.Attributes.execID, 20_000, 50);
      const seen = await eventually('its exec_die', () => {
        const mine = all().filter((e) => e.Actor.Attributes.execID === execId);
        return mine.some((e) => e.Action === 'exec_die') && mine;
      }, 20_000, 50);
      assert.deepEqual(seen.map((e) => e.Action), ['exec_create: sh -c exit 3', 'exec_start: sh -c exit 3', 'exec_die']);
      assert.ok(seen.every((e) => e.Actor.ID === ctr) && /^[0-9a-f]{64}$/.test(execId));
      assert.equal(seen[2].Actor.Attributes.exitCode, '3');
    } finally {
      events.kill();
    }
  });

  it('exec --privileged gets every capability the container lacks, under the container\'s own seccomp filter; a plain exec keeps the container\'s set', () => {
    const caps = (args: string[]) => BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(agent.ok(['exec', ...args, 'target', 'cat', '/proc/self/status']))![1]);
    const agentCaps = BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    const plain = caps([]);
    const privileged = caps(['--privileged']);
    const SYS_ADMIN = 1n << 21n;
    assert.equal(plain & SYS_ADMIN, 0n, 'a plain exec has no CAP_SYS_ADMIN (Docker\'s default set)');
    assert.equal(privileged, agentCaps, 'exec --privileged has all the capabilities this agent has');
    assert.match(agent.ok(['exec', '--privileged', 'target', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
    // CAP_NET_ADMIN, which no seccomp rule guards: the plain exec is refused, the privileged one may.
    const plainIp = agent.docker(['exec', 'target', 'ip', 'link', 'set', 'lo', 'mtu', '1400']);
    assert.notEqual(plainIp.status, 0);
    assert.match(plainIp.stderr, /not permitted/i);
    agent.ok(['exec', '--privileged', 'target', 'ip', 'link', 'set', 'lo', 'mtu', '1400']);
    assert.match(agent.ok(['exec', 'target', 'cat', '/sys/class/net/lo/mtu']), /^1400/);
  });

  it('refused: a container that is not running, an unknown exec', async () => {
    agent.ok(['create', '--name', 'stopped', image, 'true']);
    const r = agent.docker(['exec', 'stopped', 'true']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is not running/);
    const unknown = await execInspect('0'.repeat(64));
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /No such exec instance/);
    agent.ok(['rm', 'stopped']);
  });
});

function execInspect(id: string): Promise<{ status: number; body: string }> {
  return fetchSock(`/exec/${id}/json`);
}

function fetchSock(p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: agent.sock, path: p }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
