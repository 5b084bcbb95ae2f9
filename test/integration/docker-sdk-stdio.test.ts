// attach and exec through the two SDKs people script Docker with: dockerode (npm) and
// Debian's python3-docker, against a real agent; plus what only a bare client can show:
// the server's own detach-key scanning, and several clients attached to one container.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { demux, hijack } from '../fixtures/hijack';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const PYTHON = '/usr/bin/python3'; // Debian's, with python3-docker

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
let docker: Docker;

const collectStream = (s: NodeJS.ReadableStream) =>
  new Promise<string>((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d));
    s.on('end', () => resolve(out));
  });

function demuxed(stream: NodeJS.ReadableStream): Promise<{ stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  const o = collectStream(out);
  const e = collectStream(err);
  return new Promise((resolve) =>
    stream.on('end', async () => {
      out.end();
      err.end();
      resolve({ stdout: await o, stderr: await e });
    }),
  );
}

describe('attach and exec through dockerode and python3-docker', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'sdk')).ref;
    agent = await startAgentProcess('sdk');
    agent.ok(['pull', '-q', image]);
    docker = new Docker({ socketPath: agent.sock });
  });

  after(async () => {
    if (agent) {
      const left = agent.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (left.length) agent.docker(['rm', '-f', ...left]);
      await agent.stop();
    }
    await registry?.stop();
  });

  it('dockerode: attach with stdin before the start, StdinOnce closing it at the end of input', async () => {
    const c = await docker.createContainer({ Image: image, Cmd: ['sh', '-c', 'cat; echo closed >&2; exit 4'], OpenStdin: true, StdinOnce: true, AttachStdin: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const out = demuxed(stream);
    await c.start();
    stream.write('first\n');
    stream.end('second\n');
    assert.deepEqual(await out, { stdout: 'first\nsecond\n', stderr: 'closed\n' });
    assert.equal((await c.wait()).StatusCode, 4);
    await c.remove();
  });

  it('dockerode: a TTY container attached with stdin, resized, its raw output', async () => {
    const c = await docker.createContainer({ Image: image, Cmd: ['sh', '-c', 'read x; stty size; exit 6'], Tty: true, OpenStdin: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const out = collectStream(stream);
    await c.start();
    await c.resize({ h: 7, w: 8 });
    stream.write('go\r');
    assert.equal((await c.wait()).StatusCode, 6);
    // The TTY echoes the input and turns \n into \r\n, as any terminal does.
    assert.equal(await out, 'go\r\n7 8\r\n');
    await c.remove();
  });

  it('dockerode: createContainer({ name }) names the container (dockerode sends the name in the query and the body alike)', async () => {
    const c = await docker.createContainer({ name: 'sdk-named', Image: image, Cmd: ['true'], Labels: { 'berth.test': 'named' } });
    const info = await c.inspect();
    assert.deepEqual([info.Name, info.Config.Labels['berth.test']], ['/sdk-named', 'named']);
    await c.remove();
  });

  it('dockerode: exec with stdin, stdout and stderr apart, the exit code in inspect; exec with a TTY, resized', async () => {
    const c = await docker.createContainer({ Image: image, Cmd: ['sleep', '100000'] });
    await c.start();
    const e = await c.exec({ Cmd: ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 5'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await e.start({ hijack: true, stdin: true });
    const out = demuxed(stream);
    stream.end('abc\n');
    assert.deepEqual(await out, { stdout: 'got abc\n', stderr: 'oops\n' });
    const info = await e.inspect();
    assert.deepEqual([info.Running, info.ExitCode, info.ContainerID, info.OpenStdin], [false, 5, c.id, true]);

    const t = await c.exec({ Cmd: ['sh', '-c', 'read x; stty size'], AttachStdin: true, AttachStdout: true, Tty: true });
    const ts = await t.start({ hijack: true, stdin: true, Tty: true });
    const tout = collectStream(ts);
    await t.resize({ h: 12, w: 34 });
    ts.write('\r');
    assert.equal(await tout, '\r\n12 34\r\n');
    assert.equal((await t.inspect()).ProcessConfig.tty, true);
    await c.remove({ force: true });
  });

  it('the server finds the detach keys itself, however the client splits them; the container runs on', async () => {
    const c = await docker.createContainer({ Image: image, Cmd: ['cat'], Tty: true, OpenStdin: true });
    await c.start();
    const a = await hijack(agent.sock, `/containers/${c.id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b`);
    a.write('typed\r');
    await eventually('the echo', () => a.output().toString().includes('typed'), 20_000, 50);
    // Both keys in one write: a client that does not scan for them itself (the CLI does) still detaches.
    a.write(Buffer.from([1, 98]));
    await a.ended;
    assert.equal((await c.inspect()).State.Running, true);
    // In writes of their own, after a ctrl-a that was input (the keys that follow it were not the sequence).
    const b = await hijack(agent.sock, `/containers/${c.id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b`);
    b.write(Buffer.from([1]));
    b.write('x\r');
    await eventually('ctrl-a and x echoed', () => b.output().toString().includes('^Ax'), 20_000, 50);
    b.write(Buffer.from([1]));
    b.write(Buffer.from([98]));
    await b.ended;
    assert.equal((await c.inspect()).State.Running, true);
    await c.remove({ force: true });
  });

  it('several clients attached to one container all see its output, and each may type', async () => {
    const c = await docker.createContainer({ Image: image, Cmd: ['cat'], OpenStdin: true });
    await c.start();
    const path = `/containers/${c.id}/attach?stream=1&stdin=1&stdout=1&stderr=1`;
    const [a, b] = await Promise.all([hijack(agent.sock, path), hijack(agent.sock, path)]);
    a.write('from a\n');
    await eventually('both to see a', () => [a, b].every((x) => demux(x.output()).stdout === 'from a\n'), 20_000, 50);
    b.write('from b\n');
    await eventually('both to see b', () => [a, b].every((x) => demux(x.output()).stdout === 'from a\nfrom b\n'), 20_000, 50);
    await c.kill();
    assert.deepEqual(await Promise.all([a.ended, b.ended].map(async (p) => demux(await p).stdout)), ['from a\nfrom b\n', 'from a\nfrom b\n']);
    await c.remove();
  });

  it('python3-docker: run with a user and group_add, exec_run demuxed and with a TTY, exec and attach sockets with stdin', () => {
    const script = String.raw`
import docker, json, os, socket
c = docker.DockerClient(base_url='unix://' + os.environ['SOCK'], version='1.41')
api = c.api
img = os.environ['IMG']
out = {}
out['run'] = c.containers.run(img, ['sh', '-c', 'id -u; id -G'], user='nobody', group_add=['4242'], remove=True).decode()
ctr = c.containers.run(img, ['sleep', '100000'], detach=True)
r = ctr.exec_run(['sh', '-c', 'echo out; echo err >&2; exit 4'], demux=True)
out['demux'] = [r.exit_code, r.output[0].decode(), r.output[1].decode()]
r = ctr.exec_run(['sh', '-c', 'tty; id -u; pwd; echo $A'], tty=True, user='nobody', workdir='/tmp', environment={'A': 'b'})
out['tty'] = [r.exit_code, r.output.decode()]
def drain(s):
    s.settimeout(20)
    data = b''
    while True:
        d = s.recv(65536)
        if not d:
            return data
        data += d
e = api.exec_create(ctr.id, ['sh', '-c', 'read x; echo got $x'], stdin=True)
s = api.exec_start(e['Id'], socket=True)
s._sock.sendall(b'hello\n')
out['exec_socket'] = drain(s._sock).hex()
out['exec_inspect'] = [api.exec_inspect(e['Id'])['ExitCode'], api.exec_inspect(e['Id'])['Running']]
ctr.remove(force=True)
ctr = c.containers.create(img, ['sh', '-c', 'cat; exit 3'], stdin_open=True)
s = api.attach_socket(ctr.id, params={'stdin': 1, 'stdout': 1, 'stderr': 1, 'stream': 1})
ctr.start()
s._sock.sendall(b'through attach\n')
s._sock.shutdown(socket.SHUT_WR)
out['attach_socket'] = drain(s._sock).hex()
out['wait'] = ctr.wait(timeout=20)['StatusCode']
ctr.remove()
ctr = c.containers.run(img, ['sh', '-c', 'sleep 1; stty size'], tty=True, detach=True)
api.resize(ctr.id, 9, 99)
out['resize'] = [ctr.wait(timeout=20)['StatusCode'], ctr.logs().decode()]
ctr.remove()
print(json.dumps(out))
`;
    const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', env: { ...process.env, SOCK: agent.sock, IMG: image }, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.run, '65534\n65534 4242\n');
    assert.deepEqual(out.demux, [4, 'out\n', 'err\n']);
    assert.deepEqual(out.tty, [0, '/dev/pts/0\r\n65534\r\n/tmp\r\nb\r\n']);
    assert.deepEqual(demux(Buffer.from(out.exec_socket as string, 'hex')), { stdout: 'got hello\n', stderr: '' });
    assert.deepEqual(out.exec_inspect, [0, false]);
    assert.deepEqual(demux(Buffer.from(out.attach_socket as string, 'hex')), { stdout: 'through attach\n', stderr: '' });
    assert.equal(out.wait, 3);
    assert.deepEqual(out.resize, [0, '9 99\r\n']);
  });
});
