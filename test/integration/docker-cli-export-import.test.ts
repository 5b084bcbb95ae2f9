// `docker export`, `docker import` and `docker tag` through the real CLI: a container's
// filesystem comes out as the container sees it, goes back in as an image with a config of
// its own, and runs; what cannot be imported is refused and leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { tarBuffer } from '../fixtures/tar';

const isRoot = process.getuid?.() === 0;

describe('docker export, import and tag', { skip: !isRoot && 'needs root', timeout: 180_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';
  let archive = '';

  before(async () => {
    agent = await startAgentProcess('export');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'export')).ref;
    agent.ok(['pull', '-q', image]);
    archive = path.join(agent.tmp, 'exported.tar');
  });

  after(async () => {
    for (const id of agent.ok(['ps', '-aq']).split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
  });

  it('export writes the container\'s files as it sees them: its own changes in, what it deleted out', () => {
    agent.ok(['run', '--name', 'ex', image, 'sh', '-c', 'mkdir -p /srv && echo data > /srv/new.txt && rm /bin/ls && echo changed > /etc/motd']);
    agent.ok(['export', '-o', archive, 'ex']);
    const names = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n');
    assert.ok(names.includes('srv/new.txt'), 'a file the container wrote');
    assert.ok(names.includes('bin/busybox'), 'a file of the image');
    assert.ok(!names.includes('bin/ls'), 'a file the container deleted');
    assert.ok(!names.some((n) => n.includes('.wh.')), 'no whiteout entries: the view is merged');
    assert.equal(execFileSync('tar', ['-xOf', archive, 'srv/new.txt'], { encoding: 'utf8' }), 'data\n');
    assert.deepEqual(mountsUnder(agent.root), [], 'the export mount is gone');
  });

  it('export of an unknown container is the CLI\'s "No such container"', () => {
    const r = agent.docker(['export', '-o', path.join(agent.tmp, 'none.tar'), 'no-such']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No such container: no-such/);
  });

  it('import makes a one-layer image with the given changes and message, and it runs', () => {
    const id = agent
      .ok(['import', '-c', 'CMD ["/bin/cat", "/srv/new.txt"]', '-c', 'ENV GREETING="hello there"', '-c', 'WORKDIR /srv', '-m', 'from the export test', archive, 'imported:v1'])
      .trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(agent.ok(['run', '--rm', 'imported:v1']), 'data\n');
    assert.equal(agent.ok(['run', '--rm', 'imported:v1', 'sh', '-c', 'echo "$GREETING in $(pwd)"; ls /bin/ls 2>&1 || true']).split('\n')[0], 'hello there in /srv');
    const inspected = JSON.parse(agent.ok(['image', 'inspect', 'imported:v1']))[0] as { Id: string; RootFS: { Layers: string[] }; Config: { Cmd: string[]; WorkingDir: string } };
    assert.equal(inspected.Id, id);
    assert.equal(inspected.RootFS.Layers.length, 1);
    assert.deepEqual(inspected.Config.Cmd, ['/bin/cat', '/srv/new.txt']);
    assert.equal(inspected.Config.WorkingDir, '/srv');
  });

  it('import reads the archive from stdin too, and a gzipped one', () => {
    const gz = execFileSync('gzip', ['-c', archive]);
    agent.ok(['import', '-', 'fromstdin:gz'], { input: gz });
    assert.equal(agent.ok(['run', '--rm', 'fromstdin:gz', 'cat', '/etc/motd']), 'changed\n');
  });

  it('tag adds a name, rmi of that name only untags', () => {
    agent.ok(['tag', 'imported:v1', 'other/name:v2']);
    const tags = agent.ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).split('\n');
    const idOf = (t: string) => tags.find((l) => l.startsWith(`${t} `))?.split(' ')[1];
    assert.ok(idOf('other/name:v2'), tags.join('\n'));
    assert.equal(idOf('other/name:v2'), idOf('imported:v1'));
    assert.match(agent.ok(['rmi', 'other/name:v2']), /Untagged: other\/name:v2/);
    assert.equal(agent.ok(['run', '--rm', 'imported:v1']), 'data\n', 'the image is still there under its first name');
    const bad = agent.docker(['tag', 'no-such:image', 'x:y']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /No such image: no-such:image/);
  });

  it('refuses what it cannot import, naming it, and leaves no image behind', () => {
    const before = agent.ok(['images', '-q']);
    const cases: Array<[string[], RegExp]> = [
      [['import', '-c', 'RUN echo hi', archive, 'bad:run'], /RUN is not a valid change command/],
      [['import', '-c', 'ONBUILD ONBUILD RUN true', archive, 'bad:onbuild'], /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/],
      [['import', 'http://127.0.0.1:1/x.tar', 'bad:url'], /does not support importing from a URL/],
      [['import', archive, 'Bad Name'], /invalid reference format/],
    ];
    for (const [args, words] of cases) {
      const r = agent.docker(args);
      assert.notEqual(r.status, 0, `accepted: docker ${args.join(' ')}`);
      assert.match(r.stderr, words, `docker ${args.join(' ')}`);
    }
    // A layer that tries to climb out of its directory is refused like a pulled one would be.
    const hostile = path.join(agent.tmp, 'hostile.tar');
    writeFileSync(hostile, tarBuffer([{ path: '../escaped', type: 'file', data: 'x' }]));
    const r = agent.docker(['import', hostile, 'bad:escape']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\.\.\/escaped|escape|outside/i);
    assert.equal(agent.ok(['images', '-q']), before);
  });
});
