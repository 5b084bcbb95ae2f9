// Stdin and TTYs through the real docker CLI against a real agent: `run -i` (stdin piped,
// its EOF reaching the container, StdinOnce), `-t` (a pty in the container's own devpts,
// its window size, Ctrl-C through the line discipline), `-it` shells driven in tmux,
// detach keys, `attach` and `start -ai`, and backpressure both ways with bounded buffers.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { slowClient, slowReader } from '../fixtures/backpressure';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { inScript, startTmux, type Tmux } from '../fixtures/terminal';
import { demux, hijack } from '../fixtures/hijack';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
const terminals: Tmux[] = [];

/** The docker CLI as a shell command line (for script and tmux), pointed at the agent. */
const cli = () => `env DOCKER_CONFIG=${path.join(agent.tmp, 'docker-config')} DOCKER_CLI_HINTS=false docker -H unix://${agent.sock}`;

/** busybox sh's prompt, on the last line of the screen. */
const PROMPT = /\/ #\s*$/;

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function tmux(label: string, args: string, size = { cols: 100, rows: 30 }): Tmux {
  const t = startTmux(label, `${cli()} ${args}`, size);
  terminals.push(t);
  return t;
}

describe('docker run -i, -t and attach through the CLI', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'stdio')).ref;
    agent = await startAgentProcess('stdio');
    agent.ok(['pull', '-q', image]);
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

  it('echo hi | docker run -i IMG cat prints hi, and the EOF ends cat', () => {
    const r = agent.docker(['run', '--rm', '-i', image, 'cat'], { input: 'hi\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  it('input sent before the container started reaches it whole, and the exit code passes through', () => {
    // The CLI writes stdin as soon as it has attached, before it starts the container.
    const data = randomBytes(4 << 20);
    const r = agent.docker(['run', '--rm', '-i', image, 'sh', '-c', 'md5sum; exit 3'], { input: data });
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, `${md5(data)}  -\n`);
    const code = agent.docker(['run', '--rm', '-i', image, 'sh', '-c', 'read x; exit $x'], { input: '42\n' });
    assert.equal(code.status, 42);
  });

  it('a container that reads slowly holds the input back: nothing lost, nothing piled up on the way', async (t) => {
    const data = randomBytes(64 << 20);
    const r = await slowReader(agent, ['run', '--rm', '-i', image, 'sh', '-c', 'sleep 2; echo reading >&2; md5sum'], data);
    t.diagnostic(`the CLI had read ${(r.readBefore / 1048576).toFixed(2)} MiB of the 64 MiB when the container began to read`);
    assert.ok(r.readBefore < 8 << 20, `the CLI could read ${r.readBefore >> 20} MiB of stdin while nothing in the container read it`);
    assert.equal(r.stdout, `${md5(data)}  -\n`);
  });

  it('a client that reads slowly holds the output back: all of it arrives, nothing piles up on the way', async (t) => {
    const r = await slowClient(agent, ['run', '--name', 'writer', image, 'head', '-c', '67108864', '/dev/zero'], () => Number(agent.ok(['inspect', '-f', '{{.State.Pid}}', 'writer']).trim()));
    t.diagnostic(`the container had written ${(r.writtenBefore / 1048576).toFixed(2)} MiB when the client began to read`);
    assert.ok(r.writtenBefore < 8 << 20, `the container wrote ${r.writtenBefore >> 20} MiB while its client read nothing`);
    assert.equal(r.bytes, 67108864);
    agent.ok(['rm', 'writer']);
  });

  it('without StdinOnce (run -d -i) an attached client\'s EOF leaves the container\'s stdin open', async () => {
    const id = agent.ok(['run', '-d', '-i', '--name', 'keeps-stdin', image, 'cat']).trim();
    assert.equal(agent.ok(['inspect', '-f', '{{.Config.OpenStdin}} {{.Config.StdinOnce}}', id]).trim(), 'true false');
    const attached = spawn('sh', ['-c', `printf 'one\\n' | ${cli()} attach keeps-stdin`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => attached.on('close', r));
    // What cat echoes after its client's EOF is not that client's any more (Docker ends its
    // output at its EOF), so the log tells that the line got through.
    await eventually('cat to echo what came through attach', () => agent.ok(['logs', id]) === 'one\n', 20_000, 50);
    // That client's EOF ended its attach's output, not cat's stdin: a second client still writes to cat.
    const second = await hijack(agent.sock, `/containers/${id}/attach?stream=1&stdin=1&stdout=1`);
    second.write('two\n');
    await eventually('the second line', () => demux(second.output()).stdout === 'two\n', 20_000, 50);
    second.end();
    await second.ended;
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Running}}', id]).trim(), 'true');
    assert.equal(agent.ok(['logs', id]), 'one\ntwo\n');
    // attach waits for the container's end, and gives its status.
    agent.ok(['stop', '-t', '1', id]);
    assert.equal(await exited, 137);
    agent.ok(['rm', id]);
  });

  it('docker start -ai feeds stdin again on each start', () => {
    agent.ok(['create', '-i', '--name', 'startai', image, 'sh', '-c', 'read x; echo "got $x"']);
    for (const word of ['first', 'second']) {
      const r = agent.docker(['start', '-ai', 'startai'], { input: `${word}\n` });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `got ${word}\n`);
    }
    agent.ok(['rm', 'startai']);
  });

  it('-t: a pty of the container\'s own devpts with the terminal\'s size, TERM, and the exit code', () => {
    const r = inScript(`stty rows 33 cols 111; ${cli()} run --rm -t ${image} sh -c 'tty; stty size; echo $TERM; ls -1 /dev/pts; exit 7'`);
    assert.equal(r.status, 7, r.output);
    assert.deepEqual(r.output.split(/\r*\n/).filter(Boolean), ['/dev/pts/0', '33 111', 'xterm', '0', 'ptmx']);
  });

  it('a TTY container\'s log is raw stdout, split into lines at \\n as Docker\'s json-file does', () => {
    const r = inScript(`${cli()} run -t --name ttylog ${image} sh -c 'printf "a\\nb"; sleep 0.2; printf "c\\n"; echo err >&2'`);
    assert.equal(r.status, 0, r.output);
    const logPath = agent.ok(['inspect', '-f', '{{.LogPath}}', 'ttylog']).trim();
    const lines = readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string });
    assert.deepEqual(lines.map((l) => [l.log, l.stream]), [['a\r\n', 'stdout'], ['bc\r\n', 'stdout'], ['err\r\n', 'stdout']]);
    // `docker logs` of a TTY container is one raw stream, as printed.
    assert.equal(agent.ok(['logs', 'ttylog']), 'a\r\nbc\r\nerr\r\n');
    agent.ok(['rm', 'ttylog']);
  });

  it('-it: an interactive shell follows window resizes, Ctrl-C reaches the foreground job, the exit code passes through', async () => {
    const t = tmux('it', `run --rm -it --name it-shell ${image} sh`);
    await t.waitFor(PROMPT);
    t.type('tty; stty size');
    await t.waitFor(/\/dev\/pts\/0\n30 100\n/);
    t.resize(120, 40);
    t.type('stty size');
    await t.waitFor(/\n40 120\n/);
    t.type('sleep 1000');
    await eventually('sleep to run in the shell', () => agent.docker(['exec', 'it-shell', 'pidof', 'sleep']).status === 0, 20_000, 50);
    t.keys('C-c');
    await t.waitFor(/\^C\n\/ #\s*$/);
    t.type('echo interrupted $?; exit 5');
    await t.waitFor(/interrupted 130\n\[exit 5\]/);
  });

  it('ctrl-p ctrl-q detaches and leaves the container running; docker attach comes back to it', async () => {
    const t = tmux('detach', `run -it --name detach-me ${image} sh`);
    await t.waitFor(PROMPT);
    t.type('echo before');
    await t.waitFor(/^before$/m);
    t.keys('C-p', 'C-q');
    await t.waitFor(/\[exit 0\]/);
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Running}}', 'detach-me']).trim(), 'true');
    const a = tmux('reattach', 'attach detach-me');
    a.type('echo after; exit 3');
    await a.waitFor(/^after\n\[exit 3\]/m);
    assert.match(agent.ok(['logs', 'detach-me']), /before\r\n[\s\S]*after\r\n/);
    agent.ok(['rm', 'detach-me']);
  });

  it('--detach-keys names other keys, and ctrl-p then passes through as input', async () => {
    const t = tmux('keys', `run -it --detach-keys ctrl-x,x --name other-keys ${image} sh`);
    await t.waitFor(PROMPT);
    // ctrl-p alone is the shell's: the line editor recalls the last command.
    t.type('echo one');
    await t.waitFor(/^one$/m);
    t.keys('C-p', 'Enter');
    await t.waitFor(/^one\n[\s\S]*^one\n\/ #\s*$/m);
    t.keys('C-x', 'x');
    await t.waitFor(/\[exit 0\]/);
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Running}}', 'other-keys']).trim(), 'true');
    agent.ok(['rm', '-f', 'other-keys']);
  });
});
