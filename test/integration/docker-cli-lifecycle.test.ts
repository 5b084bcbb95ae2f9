// Operating containers with the real docker CLI against a real agent: restart policies (and
// what survives an agent restart and a host reboot), healthchecks, pause/unpause, rename,
// update, top, stats, wait and the events for all of it.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diskOf } from '../../agent/engine/cgroups/index';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { alive } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually, sleep } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
/** The same busybox with a HEALTHCHECK in its config: ready once /tmp/ready exists. */
let hcImage = '';

const ok = (args: string[]) => agent.ok(args);
const fmt = (name: string, format: string) => ok(['inspect', '--format', format, name]).trim();
const until = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000) => eventually(what, fn, timeoutMs, 50);
const refused = (args: string[], words: RegExp) => {
  const r = agent.docker(args);
  assert.notEqual(r.status, 0, `docker ${args.join(' ')} was accepted: ${r.stdout}`);
  assert.match(r.stderr, words, `docker ${args.join(' ')}`);
};

interface DockerEvent {
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/** `docker events ARGS` in the background; every event so far, and a way to end it. */
async function watchEvents(args: string[] = []): Promise<{ events: () => DockerEvent[]; stop: () => Promise<void> }> {
  const listeners = () => Number(ok(['info', '--format', '{{.NEventsListener}}']).trim());
  const before = listeners();
  const w = spawn('docker', ['-H', `unix://${agent.sock}`, 'events', '--format', '{{json .}}', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config') },
  });
  let out = '';
  w.stdout.on('data', (d) => (out += d));
  const gone = new Promise((r) => w.once('close', r));
  await until('the events listener to be counted', () => listeners() > before);
  return {
    events: () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DockerEvent),
    async stop() {
      if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await gone;
    },
  };
}

/** A v1 or v2 cgroup file of a host pid, as the kernel has it. */
function cgroupFile(pid: number, controller: string, v1file: string, v2file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2], v1file);
  return path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), v2file);
}
const readCg = (pid: number, controller: string, v1file: string, v2file: string) => readFileSync(cgroupFile(pid, controller, v1file, v2file), 'utf8').trim();

/** A raw Docker API call on the agent's socket (what the CLI does not let a user send). */
function api(method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: agent.sock, path: p, method, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const pidOf = (name: string) => Number(fmt(name, '{{.State.Pid}}'));
const LOOP = 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done';

describe('docker CLI: restart policies, health, pause, rename, update, top, stats', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  before(async () => {
    agent = await startAgentProcess('lifecycle');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'lifecycle')).ref;
    hcImage = (
      await pushBusyboxImage(registry.url, 'hcbox', 'v1', {
        // Docker probes every StartInterval (5 s unless set) while starting in a start period.
        config: { Healthcheck: { Test: ['CMD-SHELL', 'test -e /tmp/ready'], Interval: 200e6, StartInterval: 200e6, Retries: 10 } },
      })
    ).ref;
    ok(['pull', '-q', image]);
    ok(['pull', '-q', hcImage]);
  });

  after(async () => {
    if (agent) {
      const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) agent.docker(['rm', '-f', ...ids]);
      await agent.stop();
    }
    await registry?.stop();
  });

  it('on-failure:3 restarts a failing container three times with a doubling back-off, then leaves it exited', async () => {
    const w = await watchEvents(['--filter', 'container=of3', '--filter', 'event=start']);
    try {
      ok(['run', '-d', '--name', 'of3', '--restart', 'on-failure:3', image, 'sh', '-c', 'echo run; exit 3']);
      await until('three restarts and the end', () => fmt('of3', '{{.State.Status}} {{.RestartCount}}') === 'exited 3');
      assert.equal(fmt('of3', '{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}'), '3 on-failure 3');
      assert.equal(ok(['logs', 'of3']), 'run\nrun\nrun\nrun\n', 'four runs: the first and three restarts');
      await until('four start events', () => w.events().length >= 4);
      const starts = w.events().map((e) => e.timeNano / 1e6);
      const gaps = starts.slice(1).map((t, i) => t - starts[i]);
      // Each restart waits at least its back-off (100, 200, 400 ms) after the run before ended.
      gaps.forEach((g, i) => assert.ok(g >= 100 * 2 ** i - 2, `gap ${i} was ${g} ms: ${gaps.join(', ')}`));
    } finally {
      await w.stop();
    }
    // A run that succeeds is not restarted by on-failure (a restart would come 100 ms after it).
    ok(['run', '-d', '--name', 'of0', '--restart', 'on-failure', image, 'true']);
    await until('of0 to exit', () => fmt('of0', '{{.State.Status}}') === 'exited');
    await sleep(1000);
    assert.equal(fmt('of0', '{{.State.Status}} {{.RestartCount}}'), 'exited 0');
    ok(['rm', 'of3', 'of0']);
  });

  it('always: Restarting in ps and inspect; docker stop and docker kill are manual stops; a user start resets the count', async () => {
    ok(['run', '-d', '--name', 'al', '--restart', 'always', image, 'sh', '-c', 'sleep 0.2; exit 2']);
    const ps = await until('ps to show it restarting', () => {
      const line = ok(['ps', '--filter', 'status=restarting', '--format', '{{.Names}} {{.Status}}']);
      return /^al Restarting \(2\) /m.test(line) && line;
    });
    assert.match(ps, /^al Restarting \(2\) .* ago$/m);
    assert.equal(fmt('al', '{{.State.Restarting}} {{.State.Running}} {{.State.Pid}}'), 'true true 0', 'waiting to restart counts as running, with no process');
    assert.ok(Number(fmt('al', '{{.RestartCount}}')) >= 1);
    ok(['stop', 'al']);
    const count = fmt('al', '{{.RestartCount}}');
    assert.equal(fmt('al', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 2');
    // Its back-off so far was at most a few seconds; nothing may bring it back now.
    await sleep(3000);
    assert.equal(fmt('al', '{{.State.Status}} {{.RestartCount}}'), `exited ${count}`);

    ok(['start', 'al']);
    assert.equal(fmt('al', '{{.RestartCount}}'), '0', 'a user start begins a new count, as in Docker');
    ok(['kill', 'al']);
    await until('the kill to end it', () => !fmt('al', '{{.State.Running}}').startsWith('true'));
    await sleep(1000);
    assert.equal(fmt('al', '{{.State.Status}}'), 'exited', 'a killed always container stays down');
    ok(['rm', 'al']);
  });

  it('--rm with a restart policy is refused by the CLI, and by the engine when the API is called directly', async () => {
    refused(['run', '--rm', '--restart', 'always', image, 'true'], /conflicting options: cannot specify both --restart and --rm/);
    const r = await api('POST', '/v1.41/containers/create', { Image: image, Cmd: ['true'], HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } });
    assert.equal(r.status, 400);
    assert.match(r.body, /can't create 'AutoRemove' container with restart policy/);
    const bad = await api('POST', '/v1.41/containers/create', { Image: image, Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'sometimes' } } });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /invalid restart policy: unknown policy 'sometimes'/);
    refused(['run', '-d', '--restart', 'always:3', image, 'true'], /maximum retry count can only be used with 'on-failure'/);
    assert.equal(ok(['ps', '-aq']), '', 'nothing was created');
  });

  it('restart policies hold across an agent restart, and after a host reboot the agent starts what should run, as dockerd does', async () => {
    const long = (name: string, ...flags: string[]) => ok(['run', '-d', '--name', name, ...flags, image, 'sleep', '1000']);
    long('b-always', '--restart', 'always');
    long('b-unless', '--restart', 'unless-stopped');
    long('b-unless-stopped', '--restart', 'unless-stopped');
    long('b-always-stopped', '--restart', 'always');
    long('b-onfail', '--restart', 'on-failure');
    long('b-no');
    ok(['create', '--name', 'b-created', '--restart', 'always', image, 'sleep', '1000']);
    ok(['stop', '-t', '0', 'b-unless-stopped', 'b-always-stopped']);
    const names = ['b-always', 'b-unless', 'b-unless-stopped', 'b-always-stopped', 'b-onfail', 'b-no', 'b-created'];
    const state = () => Object.fromEntries(names.map((n) => [n, fmt(n, '{{.State.Status}}')]));
    const pidsBefore = Object.fromEntries(['b-always', 'b-unless', 'b-onfail', 'b-no'].map((n) => [n, pidOf(n)]));

    // An agent restart: running containers keep running (the same processes); dockerd's rule
    // at start also brings back an always container that was stopped by hand.
    await agent.restart();
    await until('b-always-stopped to be started by the new agent', () => state()['b-always-stopped'] === 'running');
    assert.deepEqual(state(), {
      'b-always': 'running',
      'b-unless': 'running',
      'b-unless-stopped': 'exited',
      'b-always-stopped': 'running',
      'b-onfail': 'running',
      'b-no': 'running',
      'b-created': 'created',
    });
    for (const [n, pid] of Object.entries(pidsBefore)) assert.equal(pidOf(n), pid, `${n} kept its process`);

    // A reboot: the agent is down and every monitor and container process dies with the machine.
    const running = ['b-always', 'b-unless', 'b-always-stopped', 'b-onfail', 'b-no'];
    const victims = running.flatMap((n) => {
      const id = fmt(n, '{{.Id}}');
      return [Number(readFileSync(path.join(agent.root, 'containers', id, 'run', 'monitor.pid'), 'utf8')), pidOf(n)];
    });
    await agent.restart(async () => {
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      await until('the monitors and inits to be gone', () => victims.every((p) => !alive(p)));
    });
    await until('the policies to bring back what should run', () => {
      const s = state();
      return ['b-always', 'b-unless', 'b-always-stopped', 'b-onfail'].every((n) => s[n] === 'running') && s;
    });
    assert.deepEqual(state(), {
      'b-always': 'running',
      'b-unless': 'running',
      'b-unless-stopped': 'exited',
      'b-always-stopped': 'running',
      'b-onfail': 'running',
      'b-no': 'exited',
      'b-created': 'created',
    });
    assert.equal(fmt('b-no', '{{.State.ExitCode}}'), '255', 'a container whose monitor vanished exited with 255, as in Docker');
    for (const n of ['b-always', 'b-unless', 'b-onfail']) assert.notEqual(pidOf(n), pidsBefore[n], `${n} is a new process`);
    ok(['rm', '-f', ...names]);
  });

  it('a container waiting for its restart when the agent stops is restarted by the next agent', async () => {
    ok(['run', '-d', '--name', 'looping', '--restart', 'always', image, 'sh', '-c', 'echo up; sleep 0.3; exit 1']);
    await until('a few restarts', () => Number(fmt('looping', '{{.RestartCount}}')) >= 3);
    await agent.restart();
    const lines = ok(['logs', 'looping']).split('\n').length;
    await until('runs after the agent came back', () => ok(['logs', 'looping']).split('\n').length > lines + 1);
    ok(['rm', '-f', 'looping']);
  });

  it('HEALTHCHECK from the image: health: starting, then healthy, then unhealthy, with health_status events and State.Health', async () => {
    const w = await watchEvents(['--filter', 'container=hc', '--filter', 'event=health_status']);
    try {
      // Failures in the start period do not count while starting, so it stays starting until ready.
      ok(['run', '-d', '--name', 'hc', '--health-retries', '3', '--health-start-period', '30s', hcImage, 'sh', '-c', 'sleep 3; touch /tmp/ready; sleep 3; rm /tmp/ready; exec sleep 1000']);
      assert.match(ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^hc Up .* \(health: starting\)$/m);
      await until('a failed probe while starting', () => JSON.parse(fmt('hc', '{{json .State.Health}}')).Log.length >= 2);
      const early = JSON.parse(fmt('hc', '{{json .State.Health}}'));
      assert.equal(early.Status, 'starting');
      assert.equal(early.FailingStreak, 0, 'start-period failures are not counted');
      assert.equal(early.Log[0].ExitCode, 1);
      await until('healthy', () => /\(healthy\)$/m.test(ok(['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])));
      assert.equal(ok(['ps', '-q', '--filter', 'health=healthy']).trim(), fmt('hc', '{{.Id}}').slice(0, 12));
      const healthy = JSON.parse(fmt('hc', '{{json .State.Health}}'));
      assert.equal(healthy.FailingStreak, 0);
      assert.equal(healthy.Log.at(-1).ExitCode, 0);
      assert.ok(healthy.Log.length <= 5, `at most five probes are kept: ${healthy.Log.length}`);
      assert.deepEqual(JSON.parse(fmt('hc', '{{json .Config.Healthcheck}}')), { Test: ['CMD-SHELL', 'test -e /tmp/ready'], Interval: 200e6, StartPeriod: 30e9, StartInterval: 200e6, Retries: 3 });
      // Once healthy the start period shields nothing: three failures make it unhealthy.
      await until('unhealthy', () => /\(unhealthy\)$/m.test(ok(['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])));
      assert.ok(JSON.parse(fmt('hc', '{{json .State.Health}}')).FailingStreak >= 3);
      await until('two health events', () => w.events().length >= 2);
      assert.deepEqual(w.events().map((e) => e.Action), ['health_status: healthy', 'health_status: unhealthy'], 'event=health_status matches with its status after the colon, as in Docker');
    } finally {
      await w.stop();
    }
    ok(['rm', '-f', 'hc']);
  });

  it('--health-cmd with a timeout: a probe past it is killed and counted as failed; --no-healthcheck turns the image\'s off', async () => {
    ok(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 30', '--health-timeout', '300ms', '--health-interval', '100ms', '--health-retries', '1', image, 'sleep', '1000']);
    await until('unhealthy', () => /\(unhealthy\)$/m.test(ok(['ps', '--filter', 'name=slow', '--format', '{{.Status}}'])));
    await until('three timed-out probes', () => JSON.parse(fmt('slow', '{{json .State.Health}}')).Log.length >= 3);
    const h = JSON.parse(fmt('slow', '{{json .State.Health}}'));
    assert.deepEqual(h.Log[0], { ...h.Log[0], ExitCode: -1, Output: 'Health check exceeded timeout (300ms)' });
    // Killed at the timeout: of three probes at most the one under way is still there.
    const sleepers = ok(['top', 'slow', '-o', 'pid,args']).split('\n').filter((l) => /sleep 30$/.test(l));
    assert.ok(sleepers.length <= 1, `probes left running:\n${sleepers.join('\n')}`);

    ok(['run', '-d', '--name', 'nohc', '--no-healthcheck', hcImage, 'sleep', '1000']);
    assert.equal(fmt('nohc', '{{json .State.Health}}'), 'null');
    assert.match(ok(['ps', '--filter', 'name=nohc', '--format', '{{.Status}}']), /^Up [^(]*$/m);
    assert.equal(ok(['ps', '-q', '--filter', 'health=none', '--filter', 'name=nohc']).trim(), fmt('nohc', '{{.Id}}').slice(0, 12));
    ok(['rm', '-f', 'nohc']);

    // A stopped container's checks stop with it: no probe after its stop event.
    const w = await watchEvents(['--filter', 'container=slow']);
    try {
      ok(['stop', '-t', '0', 'slow']);
      await until('the stop event', () => w.events().some((e) => e.Action === 'stop'));
      // Ten intervals with nothing probing (the probe the stop cut short may still report its end).
      await sleep(1000);
      const afterStop = w.events().slice(w.events().findIndex((e) => e.Action === 'stop') + 1);
      assert.deepEqual(afterStop.map((e) => e.Action).filter((a) => a !== 'exec_die'), [], 'events after the stop');
      assert.match(fmt('slow', '{{.State.Health.Status}}'), /unhealthy/, 'the last status is kept, as in Docker');
    } finally {
      await w.stop();
    }
    ok(['rm', 'slow']);
  });

  it('pause freezes every process (the host freezer says FROZEN) and unpause lets them go on, with Docker\'s rules around it', async () => {
    ok(['run', '-d', '--name', 'pz', image, 'sh', '-c', `trap "echo got TERM; exit 0" TERM; ${LOOP}`]);
    await until('output', () => ok(['logs', 'pz']).includes('line 2'));
    const pid = pidOf('pz');
    ok(['pause', 'pz']);
    assert.match(ok(['ps', '--filter', 'status=paused', '--format', '{{.Names}} {{.Status}}']), /^pz Up .* \(Paused\)$/m);
    assert.equal(fmt('pz', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}'), 'paused true true');
    const freezer = cgroupFile(pid, 'freezer', 'freezer.state', 'cgroup.freeze');
    assert.equal(readFileSync(freezer, 'utf8').trim(), freezer.endsWith('freezer.state') ? 'FROZEN' : '1');
    assert.equal(ok(['info', '--format', '{{.ContainersPaused}}']).trim(), '1');
    const frozenAt = ok(['logs', 'pz']);
    await sleep(1000); // ten lines would have been printed meanwhile
    assert.equal(ok(['logs', 'pz']), frozenAt, 'no output while paused');

    refused(['pause', 'pz'], /is already paused/);
    refused(['start', 'pz'], /cannot start a paused container, try unpause instead/);
    refused(['rm', 'pz'], /You cannot remove a paused container/);
    ok(['unpause', 'pz']);
    assert.equal(fmt('pz', '{{.State.Status}} {{.State.Paused}}'), 'running false');
    await until('output again', () => ok(['logs', 'pz']).length > frozenAt.length);
    refused(['unpause', 'pz'], /is not paused/);

    // docker stop of a paused container: the signal is sent and the container thawed, so the trap runs.
    ok(['pause', 'pz']);
    ok(['stop', '-t', '5', 'pz']);
    assert.equal(fmt('pz', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 0');
    assert.match(ok(['logs', 'pz']), /got TERM\n$/);
    ok(['start', 'pz']);
    ok(['pause', 'pz']);
    ok(['kill', 'pz']);
    assert.equal(fmt('pz', '{{.State.Status}} {{.State.ExitCode}} {{.State.Paused}}'), 'exited 137 false');
    refused(['pause', 'pz'], /is not running/);
    ok(['rm', 'pz']);
  });

  it('rename changes the name everywhere, frees the old one, and refuses a taken or the same name', () => {
    ok(['run', '-d', '--name', 'before', image, 'sleep', '1000']);
    ok(['create', '--name', 'taken', image, 'true']);
    ok(['rename', 'before', 'after']);
    assert.match(ok(['ps', '--format', '{{.Names}}']), /^after$/m);
    assert.equal(fmt('after', '{{.Name}}'), '/after');
    refused(['inspect', 'before'], /No such object: before/);
    ok(['create', '--name', 'before', image, 'true']);
    refused(['rename', 'after', 'taken'], /The container name "\/taken" is already in use/);
    refused(['rename', 'after', 'after'], /same name as its current name/);
    refused(['rename', 'after', 'bad/name'], /Invalid container name/);
    ok(['rm', '-f', 'after', 'before', 'taken']);
  });

  it('update changes a running container\'s limits in its live cgroups, and its restart policy', async () => {
    ok(['run', '-d', '--name', 'up', '-m', '64m', image, 'sleep', '1000']);
    const pid = pidOf('up');
    ok(['update', '-m', '96m', '--memory-swap', '192m', '--cpus', '0.5', '--cpu-shares', '512', '--pids-limit', '42', 'up']);
    const mb = 1024 * 1024;
    assert.equal(readCg(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(96 * mb));
    const memsw = cgroupFile(pid, 'memory', 'memory.memsw.limit_in_bytes', 'memory.swap.max');
    if (existsSync(memsw)) assert.match(readFileSync(memsw, 'utf8').trim(), new RegExp(`^(${192 * mb}|${96 * mb})$`));
    assert.match(readCg(pid, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), /^50000( 100000)?$/);
    assert.match(readCg(pid, 'cpu', 'cpu.shares', 'cpu.weight'), /^(512|20)$/);
    assert.equal(readCg(pid, 'pids', 'pids.max', 'pids.max'), '42');
    assert.equal(fmt('up', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}'), `${96 * mb} ${192 * mb} 500000000 512 42`);
    // Growing past the swap limit takes both at once; the kernel wants them written in the right order.
    refused(['update', '-m', '300m', 'up'], /Memory limit should be smaller than already set memoryswap limit/);
    ok(['update', '-m', '300m', '--memory-swap', '600m', 'up']);
    assert.equal(readCg(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(300 * mb));
    ok(['update', '--pids-limit', '-1', 'up']);
    assert.equal(readCg(pid, 'pids', 'pids.max', 'pids.max'), 'max');

    for (const [flag, value] of [['--cpu-quota', '5000'], ['--blkio-weight', '300'], ['--cpuset-cpus', '0'], ['--memory-reservation', '10m']]) {
      refused(['update', flag, value, 'up'], new RegExp(`Berth does not support ${flag} yet`));
    }
    // The restart policy of a running container: its next exit on its own is restarted.
    ok(['update', '--restart', 'on-failure:2', 'up']);
    assert.equal(fmt('up', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'), 'on-failure:2');
    process.kill(pid, 'SIGKILL'); // from the host, not a docker kill: not a manual stop
    await until('the restart', () => fmt('up', '{{.RestartCount}} {{.State.Status}}') === '1 running');
    assert.notEqual(pidOf('up'), pid);
    assert.equal(readCg(pidOf('up'), 'memory', 'memory.limit_in_bytes', 'memory.max'), String(300 * mb), 'the restarted container has the updated limit');

    ok(['run', '-d', '--rm', '--name', 'uprm', image, 'sleep', '1000']);
    refused(['update', '--restart', 'always', 'uprm'], /Restart policy cannot be updated because AutoRemove is enabled/);
    ok(['rm', '-f', 'up', 'uprm']);
  });

  it('top runs ps on the host with the options given and shows the container\'s processes only', () => {
    ok(['run', '-d', '--name', 'tp', image, 'sh', '-c', 'sleep 1000 & sleep 2000; echo done']);
    const out = ok(['top', 'tp']);
    const [head, ...rows] = out.trim().split('\n');
    assert.deepEqual(head.trim().split(/\s+/), ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    const cmds = rows.map((r) => r.trim().split(/\s+/).slice(7).join(' ')).sort();
    assert.deepEqual(cmds, ['sh -c sleep 1000 & sleep 2000; echo done', 'sleep 1000', 'sleep 2000']);
    const pids = ok(['top', 'tp', '-o', 'pid,comm']).trim().split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.ok(pids.includes(pidOf('tp')), 'host pids, the init among them');
    refused(['top', 'tp', '--no-such-ps-option'], /ps: /);
    ok(['stop', '-t', '0', 'tp']);
    refused(['top', 'tp'], /is not running/);
    ok(['rm', 'tp']);
  });

  it('stats: CPU, memory against the limit, pids, block I/O and the container\'s own network traffic; streaming and --no-stream', async () => {
    ok(['run', '-d', '--name', 'st', '-m', '64m', image, 'sh', '-c', 'dd if=/dev/zero of=/written bs=64k count=32 conv=fsync 2>/dev/null; touch /done; while :; do :; done']);
    await until('the write to be done', () => agent.docker(['top', 'st']).status === 0 && existsSync(path.join(agent.root, 'containers', fmt('st', '{{.Id}}'), 'upper', 'done')));
    const pid = pidOf('st');
    // Traffic in the container's network namespace: a veth pair that lives and dies with it.
    // Pinging a neighbour that does not answer sends ARP requests out of va, which arrive at vb.
    execFileSync('nsenter', ['-t', String(pid), '-n', 'sh', '-c', 'ip link add va type veth peer name vb && ip addr add 10.199.0.1/24 dev va && ip link set va up && ip link set vb up && sleep 0.2 && /bin/busybox ping -c 3 -i 0.2 -W 1 10.199.0.2; true'], { stdio: 'ignore' });
    const s = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', 'st'])) as Record<string, string>;
    assert.equal(s.Name, 'st');
    assert.match(s.MemUsage, / \/ 64MiB$/);
    assert.equal(s.PIDs, '1');
    assert.ok(parseFloat(s.CPUPerc) > 0, `a busy loop uses CPU: ${s.CPUPerc}`);
    const [rx, tx] = s.NetIO.split(' / ');
    assert.ok(rx !== '0B' && tx !== '0B', `veth traffic counted: ${s.NetIO}`);
    if (diskOf(agent.root)) {
      const written = s.BlockIO.split(' / ')[1];
      assert.match(written, /^(2\.\d+MB|[3-9][\d.]*MB|\d+[\d.]*GB)$/, `2 MiB written with fsync: ${s.BlockIO}`);
    }

    // Streaming: a sample a second, each with the one before as precpu.
    const samples = await new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
      const got: Array<Record<string, unknown>> = [];
      let buf = '';
      const req = http.get({ socketPath: agent.sock, path: '/v1.41/containers/st/stats?stream=1' }, (res) => {
        res.on('data', (d) => {
          buf += d;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            got.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
            if (got.length === 3) {
              req.destroy();
              resolve(got);
            }
          }
        });
      });
      req.on('error', (e) => (got.length < 3 ? reject(e) : undefined));
    });
    assert.equal(samples[0].preread, '0001-01-01T00:00:00Z');
    assert.equal(samples[1].preread, samples[0].read);
    assert.equal(samples[2].preread, samples[1].read);
    // And the CLI's live view prints a line for it at least twice before it is stopped.
    const live = spawn('docker', ['-H', `unix://${agent.sock}`, 'stats', '--format', '{{.Name}} {{.PIDs}}', 'st'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let shown = '';
    live.stdout.on('data', (d) => (shown += d));
    try {
      await until('two live updates', () => (shown.match(/st 1/g) ?? []).length >= 2);
    } finally {
      const gone = new Promise((r) => live.once('close', r));
      live.kill('SIGKILL');
      await gone;
    }
    ok(['stop', '-t', '0', 'st']);
    const stopped = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', 'st'])) as Record<string, string>;
    assert.equal(stopped.PIDs, '0', 'a stopped container has no processes to count');
    ok(['rm', 'st']);
  });

  it('wait: the exit code of the next exit, also of a container that will restart; conditions next-exit and removed', async () => {
    ok(['run', '-d', '--name', 'wt', '--restart', 'on-failure:1', image, 'sh', '-c', 'sleep 0.5; exit 4']);
    assert.equal(ok(['wait', 'wt']).trim(), '4');
    const removed = api('POST', '/v1.41/containers/wt/wait?condition=removed');
    await until('the restart to be over', () => fmt('wt', '{{.State.Status}} {{.RestartCount}}') === 'exited 1');
    ok(['rm', 'wt']);
    const r = await removed;
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).StatusCode, 4);
    const bad = await api('POST', '/v1.41/containers/nosuch/wait');
    assert.equal(bad.status, 404);
  });

  it('events: Docker\'s actions for everything done to a container, with their attributes', async () => {
    ok(['create', '--name', 'ev', image, 'sleep', '1000']);
    const id = fmt('ev', '{{.Id}}');
    const w = await watchEvents(['--filter', `container=${id}`]);
    try {
      ok(['start', 'ev']);
      ok(['pause', 'ev']);
      ok(['unpause', 'ev']);
      ok(['rename', 'ev', 'ev2']);
      ok(['update', '--cpu-shares', '512', 'ev2']);
      ok(['top', 'ev2']);
      ok(['kill', '-s', 'USR1', 'ev2']);
      ok(['restart', '-t', '0', 'ev2']);
      ok(['rm', '-f', 'ev2']);
      await until('the destroy event', () => w.events().some((e) => e.Action === 'destroy'));
      const seen = w.events().map((e) => [e.Action, e.Actor.Attributes.name ?? '', e.Actor.Attributes.signal ?? e.Actor.Attributes.oldName ?? e.Actor.Attributes.exitCode ?? ''].join(' ').trim());
      assert.deepEqual(seen, [
        'start ev',
        'pause ev',
        'unpause ev',
        'rename ev2 /ev',
        'update ev2',
        'top ev2',
        'kill ev2 10',
        // sleep as PID 1 ignores SIGTERM: the stop signal, then SIGKILL after 0 s.
        'kill ev2 15',
        'kill ev2 9',
        'die ev2 137',
        'stop ev2',
        'start ev2',
        'restart ev2',
        'kill ev2 9',
        'die ev2 137',
        'destroy',
      ]);
    } finally {
      await w.stop();
    }
  });
});
