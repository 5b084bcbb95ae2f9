// The agent the way a host runs it: bin/berth-agent (setup, then `exec node` on the
// compiled bundle), driven with the real docker CLI. What a user would check: one node
// process and nothing around it, no transpiler, the monitor found from the bundle, and
// containers that run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { alive, mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const bundle = path.join(repoRoot, 'build', 'agent', 'berth-agent.mjs');
const isRoot = process.getuid?.() === 0;

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const ppid = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('bin/berth-agent: the compiled agent under the docker CLI', { skip: !isRoot && 'needs root', timeout: 180_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';

  before(async () => {
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'bundle')).ref;
    agent = await startAgentProcess('bundle', { bin: true });
  });

  after(async () => {
    if (agent && alive(agent.pid)) for (const id of agent.ok(['ps', '-aq']).split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
  });

  it('is one plain node process running the bundle, with no tsx and nothing left around it', () => {
    const argv = cmdline(agent.pid);
    assert.equal(path.basename(readlinkSync(`/proc/${agent.pid}/exe`)), 'node', argv.join(' '));
    assert.equal(argv[1], bundle, 'the script node runs is the bundle');
    assert.deepEqual(argv.slice(2), ['--root', agent.root, '--docker-socket', agent.sock]);
    assert.ok(!argv.some((a) => /tsx|--import|--loader|--require/.test(a)), argv.join(' '));
    const env = readFileSync(`/proc/${agent.pid}/environ`, 'utf8').split('\0');
    assert.ok(!env.some((e) => e.startsWith('NODE_OPTIONS=') && /tsx/.test(e)), 'no transpiler through NODE_OPTIONS');
    // The shell script exec'd node: the process this test spawned is the agent itself.
    assert.equal(ppid(agent.pid), process.pid);
  });

  it('answers version, pulls, and runs a container with the monitor it found from the bundle', () => {
    assert.match(agent.ok(['version', '--format', '{{.Server.Version}}']), /\S/);
    agent.ok(['pull', '-q', image]);
    assert.equal(agent.ok(['run', '--rm', image, 'echo', 'hello from the bundle']), 'hello from the bundle\n');

    const id = agent.ok(['run', '-d', '--name', 'bundle-sleeper', image, 'sleep', '300']).trim();
    const init = Number(agent.ok(['inspect', '-f', '{{.State.Pid}}', id]).trim());
    assert.ok(alive(init), `the container's init (pid ${init}) runs`);
    const monitor = ppid(init);
    assert.equal(readlinkSync(`/proc/${monitor}/exe`), path.join(repoRoot, 'agent', 'native', 'build', 'berth-monitor'));
    assert.match(agent.ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^bundle-sleeper Up/m);
    agent.ok(['rm', '-f', id]);
    assert.equal(agent.ok(['ps', '-aq']), '');
    assert.deepEqual(mountsUnder(agent.root), []);
  });

  it('prints its usage from the bundle run anywhere, naming the command users type', () => {
    const out = execFileSync(process.execPath, [bundle, '--help'], { cwd: '/', encoding: 'utf8' });
    assert.match(out, /^usage: bin\/berth-agent /);
  });

  it('stops on SIGTERM and removes its socket', async () => {
    const pid = agent.pid;
    process.kill(pid, 'SIGTERM');
    await eventually('the agent to exit', () => !alive(pid), 15_000, 50);
    assert.ok(!existsSync(agent.sock), 'the Docker API socket file is removed');
  });
});
