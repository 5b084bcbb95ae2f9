// A container with a long log, through the real `docker` CLI against a real agent process.
// Reading by seq (what the control-plane link does) is checked with the agent's own log
// reader on the container's real json-file.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MuxDecoder } from '../fixtures/mux-decoder';
import { readLogs } from '../../agent/engine/logs/index';
import type { LogOptions } from '../../agent/engine/types';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { collect } from '../fixtures/collect';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');

const LINES = 1_000_000;
// First run: a million lines. Every later run: two short lines and exit code 7.
const SCRIPT = `if [ -e /ran ]; then echo second run; echo on stderr >&2; exit 7; fi; touch /ran; seq 1 ${LINES}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('a container with a long log, through the docker CLI', { timeout: 300_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref = '';
  let tmp = '';
  let root = '';
  let sock = '';
  let agent: ChildProcess | undefined;
  let agentLog = '';

  /** The docker CLI; a hang (the bug this file is about) ends in a failure with what it printed. */
  function docker(args: string[], timeoutMs = 120_000): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn('timeout', ['-k', '5', String(Math.ceil(timeoutMs / 1000)), 'docker', '-H', `unix://${sock}`, ...args], {
        env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code) => {
        const r = { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
        if (code === 124) reject(new Error(`docker ${args.join(' ')} never returned; it printed ${JSON.stringify(r.stdout.slice(-300))} ${JSON.stringify(r.stderr.slice(-300))}`));
        else resolve(r);
      });
    });
  }
  async function ok(args: string[]): Promise<string> {
    const r = await docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  function ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: sock, path: '/_ping', method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  /** The container's log read by the agent's own reader, as the link reads it (the container has stopped). */
  let logPath = '';
  const readBySeq = (opts: LogOptions) => collect(readLogs({ path: logPath, status: () => 'exited' }, opts));

  before(async () => {
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'longlog', 'v1'));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-docker-logs-'));
    root = path.join(tmp, 'root');
    sock = path.join(tmp, 'docker.sock');
    agent = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'agent/main.ts'), '--root', root, '--docker-socket', sock], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout?.on('data', (d) => (agentLog += d));
    agent.stderr?.on('data', (d) => (agentLog += d));
    await eventually('the agent to answer /_ping', async () => agent?.exitCode === null && (await ping()), 30_000, 100).catch((err) => {
      throw new Error(`${(err as Error).message}; agent log:\n${agentLog}`);
    });
    await ok(['pull', ref]);
  });

  after(async () => {
    try {
      if (agent?.exitCode === null) {
        const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
        if (ids.length) await docker(['rm', '-f', ...ids]);
        const exited = new Promise((r) => agent!.once('exit', r));
        process.kill(agent.pid!, 'SIGTERM');
        await exited;
      }
    } finally {
      await registry?.stop();
      if (tmp) {
        const left = mountsUnder(root);
        if (!left.length) rmSync(tmp, { recursive: true, force: true });
        else console.error(`mounts left under ${root}, not deleting ${tmp}:\n${left.join('\n')}`);
      }
    }
  });

  it('docker run without --rm prints a million lines and returns', async () => {
    const r = await docker(['run', '--name', 'big', ref, 'sh', '-c', SCRIPT]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(lines.length, LINES + 1);
    assert.deepEqual([lines[0], lines[1], lines[LINES - 1], lines[LINES]], ['1', '2', String(LINES), '']);
    assert.match(await ok(['ps', '-a', '--filter', 'name=big', '--format', '{{.Status}}']), /^Exited \(0\) /);
    logPath = (await ok(['inspect', '--format', '{{.LogPath}}', 'big'])).trim();
  });

  it('docker logs --tail 3 on that log prints exactly its last three lines', async () => {
    assert.equal(await ok(['logs', '--tail', '3', 'big']), `${LINES - 2}\n${LINES - 1}\n${LINES}\n`);
    assert.equal(await ok(['logs', '--tail', '1', 'big']), `${LINES}\n`);
    assert.equal(await ok(['logs', '--tail', '0', 'big']), '');
  });

  it('docker start -a on it prints only the new run, and returns with its exit code', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await docker(['start', '-a', 'big']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [7, 'second run\n', 'on stderr\n'], `start -a number ${i + 1}`);
    }
    // The last three lines of the log are stderr, stdout, stderr: the tail counts both streams, as Docker's does.
    const tail = await docker(['logs', '--tail', '3', 'big']);
    assert.deepEqual([tail.stdout, tail.stderr], ['second run\n', 'on stderr\non stderr\n']);
  });

  it('a reader that saw a seq resumes after it with exactly the lines that follow, across a damaged line', async () => {
    const seen = await readBySeq({ tail: 1 });
    assert.deepEqual(seen.map((e) => e.line), ['on stderr\n']);
    // A torn write (say, a crash mid-line) leaves a line that is not JSON in the middle of the log.
    appendFileSync(logPath, '{"log":"torn in the midd\n');
    const r = await docker(['start', '-a', 'big']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [7, 'second run\n', 'on stderr\n']);

    const after = await readBySeq({ afterSeq: seen[0].seq });
    assert.deepEqual(after.map((e) => [e.stream, e.line]), [['stdout', 'second run\n'], ['stderr', 'on stderr\n']]);
    assert.ok(after[0].seq > seen[0].seq && after[1].seq > after[0].seq);
    assert.deepEqual((await readBySeq({ afterSeq: after[0].seq })).map((e) => e.line), ['on stderr\n']);
    assert.deepEqual(await readBySeq({ afterSeq: after[1].seq }), []);
    // The same log through the agent's socket: the damaged line is skipped, not counted.
    const tail = await docker(['logs', '--tail', '2', 'big']);
    assert.deepEqual([tail.stdout, tail.stderr], ['second run\n', 'on stderr\n']);
    assert.equal((await docker(['start', '-a', 'big'])).code, 7);

    // The whole log still reads back through the CLI, damaged line and all.
    const all = await docker(['logs', 'big']);
    assert.equal(all.code, 0, all.stderr);
    const out = all.stdout.split('\n');
    assert.equal(out.length, LINES + 4 + 1);
    assert.deepEqual(out.slice(LINES - 1), [String(LINES), 'second run', 'second run', 'second run', 'second run', '']);
    assert.equal(all.stderr, 'on stderr\n'.repeat(4));
  });

  it('attach with logs=1 replays the whole log, then ends', async () => {
    const frames = await new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath: sock, method: 'POST', path: '/containers/big/attach?logs=1&stream=0&stdout=1&stderr=1' }, (res) => {
        const dec = new MuxDecoder();
        let n = 0;
        let last = '';
        res.on('data', (chunk: Buffer) => {
          for (const f of dec.push(chunk)) {
            n++;
            last = f.payload.toString();
          }
        });
        res.on('end', () => (last === 'on stderr\n' ? resolve(n) : reject(new Error(`last frame ${JSON.stringify(last)}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(frames, LINES + 8);
  });
});
