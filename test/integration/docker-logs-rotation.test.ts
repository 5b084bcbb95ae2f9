// Log rotation (--log-opt max-size / max-file) and --log-driver none, through the real docker
// CLI against a real agent: what stays on disk, what `docker logs` and `logs -f` print
// across rotations, a reader resuming by seq (what the control plane's live view does), and
// the refusals in dockerd's words (from dockerd's json-file driver and go-units, read in
// moby's source: daemon/logger/jsonfilelog/jsonfilelog.go, daemon/logger/factory.go).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readLogs } from '../../agent/engine/logs/index';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { collect } from '../fixtures/collect';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const LINES = 20_000;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';

/** The log's files in the container's directory: LOG and its rotated LOG.1, LOG.2 … (not the index). */
function logFiles(logPath: string): Array<{ name: string; size: number; ino: number }> {
  const base = path.basename(logPath);
  return readdirSync(path.dirname(logPath))
    .filter((n) => n === base || (n.startsWith(base + '.') && /^\d+$/.test(n.slice(base.length + 1))))
    .sort()
    .map((name) => {
      const st = statSync(path.join(path.dirname(logPath), name));
      return { name: name.slice(base.length) || 'LOG', size: st.size, ino: st.ino };
    });
}

/** Lines that must be the numbers from..to, each once, in order. */
function assertRun(lines: string[], to: number): number {
  assert.ok(lines.length > 0, 'no lines');
  const from = Number(lines[0]);
  assert.deepEqual(lines, Array.from({ length: to - from + 1 }, (_, i) => String(from + i)));
  return from;
}

describe('log rotation and log drivers, through the docker CLI', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  before(async () => {
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'logs')).ref;
    agent = await startAgentProcess('log-rotation');
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    if (agent) {
      const left = agent.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (left.length) agent.docker(['rm', '-f', ...left]);
      await agent.stop();
    }
    await registry?.stop();
  });

  it('max-size=10k max-file=3 keeps three files of about 10 kB, and docker logs prints a gapless tail ending at the last line', () => {
    agent.ok(['run', '--name', 'rot', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=3', image, 'seq', '1', String(LINES)]);
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'rot']).trim();
    const files = logFiles(logPath);
    assert.deepEqual(files.map((f) => f.name), ['LOG', '.1', '.2']);
    assert.equal(new Set(files.map((f) => f.ino)).size, 3, 'three distinct files');
    // Docker's rule: a file is rotated before the write that finds it at max-size (10k is
    // 10,000 bytes), so a rotated file exceeds it by less than one line.
    for (const f of files.slice(1)) assert.ok(f.size >= 10_000 && f.size < 10_100, `${f.name} is ${f.size} bytes`);
    const total = files.reduce((a, f) => a + f.size, 0);
    assert.ok(total > 20_000 && total < 30_300, `${total} bytes kept`);
    assert.equal(agent.ok(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'rot']).trim(), '{"Type":"json-file","Config":{"max-file":"3","max-size":"10k"}}');

    const all = agent.ok(['logs', 'rot']).split('\n').slice(0, -1);
    const from = assertRun(all, LINES);
    console.log(`kept ${files.length} files, ${total} bytes: lines ${from}..${LINES} (${all.length} lines)`);
    assert.ok(from > 1 && all.length > 250, `kept from line ${from}`);

    // A tail that reaches back through all three files, one inside the newest, and one longer than what is kept.
    const newestLines = agent.ok(['logs', '--tail', String(all.length - 5), 'rot']).split('\n').slice(0, -1);
    assert.equal(assertRun(newestLines, LINES), from + 5);
    assert.equal(agent.ok(['logs', '--tail', '3', 'rot']), `${LINES - 2}\n${LINES - 1}\n${LINES}\n`);
    assert.equal(agent.ok(['logs', '--tail', '100000', 'rot']), all.join('\n') + '\n');
  });

  it('a reader that saw a seq resumes after it with exactly the lines that follow, across rotations', async () => {
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'rot']).trim();
    const src = { path: logPath, status: () => 'exited' as const };
    const entries = await collect(readLogs(src));
    const seqs = entries.map((e) => e.seq);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'seqs increase');
    // The first kept line does not start at 0: seqs count the whole log, rotated-away files included.
    assert.ok(seqs[0] > 20_000, `first seq ${seqs[0]}`);
    for (const i of [0, 1, Math.floor(entries.length / 3), Math.floor(entries.length / 2), entries.length - 2]) {
      const rest = await collect(readLogs(src, { afterSeq: entries[i].seq }));
      assert.deepEqual(rest.map((e) => [e.seq, e.line]), entries.slice(i + 1).map((e) => [e.seq, e.line]), `after line ${entries[i].line.trim()}`);
    }
    assert.deepEqual(await collect(readLogs(src, { afterSeq: seqs[seqs.length - 1] })), []);
    // A seq from lines rotated away: the reader goes on from the oldest line kept.
    assert.deepEqual((await collect(readLogs(src, { afterSeq: 100 }))).map((e) => e.seq), seqs);
  });

  it('docker logs -f started before the output sees every line once, in order, across rotations', async () => {
    // The container prints a hundred lines (about 7 kB) each time the test sends it a line on
    // stdin, and the test sends the next only once `logs -f` printed the last: the follower is
    // never more than one batch behind, so no line is rotated away before it is read and the
    // test does not depend on how fast the machine is.
    const script = 'n=1; while read go; do seq $n $((n+99)); n=$((n+100)); done';
    agent.ok(['create', '--name', 'fol', '-i', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=2', image, 'sh', '-c', script]);
    const dockerEnv = { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
    const follow = spawn('timeout', ['-k', '5', '200', 'docker', '-H', `unix://${agent.sock}`, 'logs', '-f', 'fol'], { env: dockerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    let followErr = '';
    follow.stdout.on('data', (d: Buffer) => (followed += d));
    follow.stderr.on('data', (d: Buffer) => (followErr += d));
    const followEnd = new Promise<number | null>((resolve) => follow.on('close', resolve));
    const writer = spawn('timeout', ['-k', '5', '200', 'docker', '-H', `unix://${agent.sock}`, 'start', '-ai', 'fol'], { env: dockerEnv, stdio: ['pipe', 'ignore', 'pipe'] });
    const writerEnd = new Promise<number | null>((resolve) => writer.on('close', resolve));
    const batches = LINES / 100;
    for (let b = 1; b <= batches; b++) {
      writer.stdin.write('go\n');
      await eventually(`logs -f to print ${b * 100}`, async () => followed.endsWith(`\n${b * 100}\n`), 30_000, 2).catch((err) => {
        throw new Error(`${(err as Error).message}; it printed ${JSON.stringify(followed.slice(-200))}, ${followErr}`);
      });
    }
    writer.stdin.end();
    assert.equal(await writerEnd, 0);
    assert.equal(await followEnd, 0, followErr);
    assertRun(followed.split('\n').slice(0, -1), LINES);
    assert.equal(assertRun(followed.split('\n').slice(0, -1), LINES), 1);
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'fol']).trim();
    assert.deepEqual(logFiles(logPath).map((f) => f.name), ['LOG', '.1']);
  });

  it('a container started again goes on counting where its log left off', async () => {
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'rot']).trim();
    const src = { path: logPath, status: () => 'exited' as const };
    const before = await collect(readLogs(src));
    agent.ok(['start', '-a', 'rot']);
    const now = await collect(readLogs(src));
    // The second run's lines come after the first's, with higher seqs, and what is still kept of the first keeps its seqs.
    const last = before[before.length - 1].seq;
    const common = now.filter((e) => e.seq <= last);
    assert.deepEqual(common, before.slice(before.length - common.length));
    const added = now.filter((e) => e.seq > last).map((e) => e.line.trim());
    assert.deepEqual(added, Array.from({ length: LINES - Number(added[0]) + 1 }, (_, i) => String(Number(added[0]) + i)));
    assert.equal(added[added.length - 1], String(LINES));
    assert.ok(logFiles(logPath).length <= 3);
  });

  it('max-size alone keeps one file, replaced when it is full (max-file defaults to 1)', () => {
    agent.ok(['run', '--name', 'one', '--log-opt', 'max-size=2k', image, 'seq', '1', '1000']);
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'one']).trim();
    const files = logFiles(logPath);
    assert.deepEqual(files.map((f) => f.name), ['LOG']);
    assert.ok(files[0].size <= 2_100, `${files[0].size} bytes`);
    assertRun(agent.ok(['logs', 'one']).split('\n').slice(0, -1), 1000);
  });

  it('sizes are read as dockerd reads them: decimal units, case and a b or ib suffix', () => {
    for (const [opt, shown] of [['1.5K', '1.5K'], ['3 kb', '3 kb'], ['2KiB', '2KiB'], ['1m', '1m']]) {
      agent.ok(['create', '--name', 'size', '--log-opt', `max-size=${opt}`, image, 'true']);
      assert.equal(agent.ok(['inspect', '-f', '{{index .HostConfig.LogConfig.Config "max-size"}}', 'size']).trim(), shown);
      agent.ok(['rm', 'size']);
    }
    // max-file without max-size: dockerd takes it (and never rotates); so does Berth.
    agent.ok(['run', '--rm', '--log-opt', 'max-file=5', image, 'true']);
  });

  it('refuses bad values and drivers it does not have, in dockerd\'s words, and creates nothing', () => {
    const cases: Array<[string[], string]> = [
      [['--log-opt', 'max-size=abc'], "failed to initialize logging driver: invalid size: 'abc'"],
      [['--log-opt', 'max-size=10x'], "failed to initialize logging driver: invalid suffix: 'x'"],
      [['--log-opt', 'max-size=10kbb'], "failed to initialize logging driver: invalid suffix: 'kbb'"],
      [['--log-opt', 'max-size=-1'], "failed to initialize logging driver: invalid size: '-1'"],
      [['--log-opt', 'max-size=1.2.3k'], 'failed to initialize logging driver: strconv.ParseFloat: parsing "1.2.3": invalid syntax'],
      [['--log-opt', 'max-size=0'], 'failed to initialize logging driver: max-size must be a positive number'],
      [['--log-opt', 'max-size=10k', '--log-opt', 'max-file=0'], 'failed to initialize logging driver: max-file cannot be less than 1'],
      [['--log-opt', 'max-size=10k', '--log-opt', 'max-file=three'], 'failed to initialize logging driver: strconv.Atoi: parsing "three": invalid syntax'],
      [['--log-opt', 'compress=true'], 'failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set'],
      [['--log-opt', 'max-size=10k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true'], 'Berth does not support --log-opt compress'],
      [['--log-opt', 'labels=a'], 'Berth does not support --log-opt labels'],
      [['--log-opt', 'nosuch=1'], "unknown log opt 'nosuch' for json-file log driver"],
      [['--log-opt', 'mode=fast'], 'logger: logging mode not supported: fast'],
      [['--log-opt', 'max-buffer-size=4m'], "logger: max-buffer-size option is only supported with 'mode=non-blocking'"],
      [['--log-opt', 'mode=non-blocking'], 'Berth does not support --log-opt mode=non-blocking'],
      [['--log-driver', 'syslog'], 'Berth does not support --log-driver syslog'],
      [['--log-driver', 'local'], 'Berth does not support --log-driver local'],
      [['--log-driver', 'nosuch'], "logger: no log driver named 'nosuch' is registered"],
    ];
    for (const [flags, message] of cases) {
      const r = agent.docker(['run', '--name', 'refused', ...flags, image, 'true']);
      assert.notEqual(r.status, 0, `${flags.join(' ')} was accepted`);
      assert.equal(r.stderr.trim().split('\n')[0], `docker: Error response from daemon: ${message}`, flags.join(' '));
    }
    // Options with the none driver: the CLI refuses them itself, and the agent in the same words.
    assert.equal(agent.docker(['run', '--log-driver', 'none', '--log-opt', 'max-size=1k', image, 'true']).stderr.trim().split('\n')[0], 'docker: invalid logging opts for driver none');
    assert.equal(agent.ok(['ps', '-aq', '--filter', 'name=refused']), '');
    // compress=false and mode=blocking are what Berth does anyway.
    agent.ok(['run', '--rm', '--log-opt', 'compress=false', '--log-opt', 'mode=blocking', image, 'true']);
  });

  it('--log-driver none keeps no log: the output still reaches the attached CLI, docker logs answers dockerd\'s error', () => {
    assert.equal(agent.ok(['run', '--name', 'nolog', '--log-driver', 'none', image, 'sh', '-c', 'echo out; echo err >&2']), 'out\n');
    const r = agent.docker(['logs', 'nolog']);
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim(), 'Error response from daemon: configured logging driver does not support reading');
    assert.equal(agent.ok(['inspect', '-f', '{{.LogPath}}|{{json .HostConfig.LogConfig}}', 'nolog']).trim(), '|{"Type":"none","Config":{}}');
    const dir = path.join(agent.root, 'containers', agent.ok(['inspect', '-f', '{{.Id}}', 'nolog']).trim());
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('json.log')), []);
    // start -a of a stopped container with no log: the new run's output, no past.
    const again = agent.docker(['start', '-a', 'nolog']);
    assert.deepEqual([again.status, again.stdout, again.stderr], [0, 'out\n', 'err\n']);
  });
});
