// An agent killed with SIGKILL in the middle of a build and of a commit: after it starts
// again the store passes `npm run integrity`, the build's step container and intermediate
// images are gone, the committed container runs on (not left frozen), no partial image is
// listed, and the same build and commit succeed.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const repoRoot = path.resolve(import.meta.dirname, '../..');

function dockerAsync(agent: AgentProcess, args: string[]): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  let out = '';
  const child = spawn('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${agent.sock}`, ...args], {
    env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out, done: new Promise((r) => child.on('close', (code) => r(code))) };
}

function integrity(root: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/image-integrity.ts'), '--root', root, '--deep'], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

async function killAgent(agent: AgentProcess): Promise<void> {
  const pid = agent.pid;
  process.kill(pid, 'SIGKILL');
  await eventually('the killed agent to be gone', async () => !existsSync(`/proc/${pid}`) || /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 10_000, 20);
}

describe('an agent killed mid-build or mid-commit', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';

  before(async () => {
    agent = await startAgentProcess('build-crash');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'crash')).ref;
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
  });

  it('build: killed while a RUN step runs', async () => {
    const dir = path.join(agent.tmp, 'ctx');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${image}\nENV STEP=one\nRUN echo step-started; sleep 60\n`);
    const imagesBefore = agent.ok(['images', '-aq']);
    const b = dockerAsync(agent, ['build', '-t', 'crashed:v1', dir]);
    await eventually('the RUN step to be under way', async () => b.output().includes('step-started'), 60_000, 20);
    await killAgent(agent);
    await b.done;
    await agent.restart();
    const after = integrity(agent.root);
    assert.equal(after.code, 0, after.out);
    assert.equal(agent.ok(['ps', '-aq']), '', `the step container is gone; agent log:\n${agent.log()}`);
    assert.equal(agent.ok(['images', '-aq']), imagesBefore, 'no intermediate or partial image is listed');
    assert.deepEqual(readdirSync(path.join(agent.root, 'builds')), [], 'the build dir is gone');
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${image}\nENV STEP=one\nRUN echo step-done > /done\n`);
    const r = agent.docker(['build', '-t', 'crashed:v1', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Step 2\/3 : ENV STEP=one\n ---> Using cache/, 'the step finished before the kill stays cached');
    assert.equal(agent.ok(['run', '--rm', 'crashed:v1', 'cat', '/done']), 'step-done\n');
  });

  it('commit: killed while the container\'s changes are read, the container frozen', async () => {
    // Enough to write that the kill lands during the commit: 256 MiB of changes.
    agent.ok(['run', '-d', '--name', 'big', image, 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=256 2>/dev/null; echo written; while true; do echo tick; sleep 0.2; done']);
    await eventually('the file to be written', async () => agent.ok(['logs', 'big']).includes('written'), 60_000, 50);
    const imagesBefore = agent.ok(['images', '-aq']);
    const c = dockerAsync(agent, ['commit', 'big', 'bigcommit:v1']);
    const ingest = path.join(agent.root, 'images/ingest');
    await eventually('the commit to be reading', async () => existsSync(ingest) && readdirSync(ingest).length > 0, 30_000, 5);
    await killAgent(agent);
    await c.done;
    await agent.restart();
    const after = integrity(agent.root);
    assert.equal(after.code, 0, after.out);
    assert.equal(agent.ok(['images', '-aq']), imagesBefore, 'no partial image');
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Status}}', 'big']).trim(), 'running', 'not left frozen');
    const ticks = () => agent.ok(['logs', 'big']).split('\n').filter((l) => l === 'tick').length;
    const n = ticks();
    await eventually('the container to go on printing', async () => ticks() > n, 10_000, 50);
    agent.ok(['commit', 'big', 'bigcommit:v1']);
    assert.equal(agent.ok(['run', '--rm', 'bigcommit:v1', 'sh', '-c', 'wc -c < /big']).trim(), String(256 << 20));
    agent.ok(['rm', '-f', 'big']);
  });
});
