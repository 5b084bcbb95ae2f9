// `docker commit` and `docker diff` through the real CLI: a container that added, changed and
// deleted files and replaced a directory (an opaque one) becomes an image whose layer holds
// exactly that (as `.wh.` entries), which runs, keeps the -c changes, -m and -a, pushes to a
// real registry that skopeo reads back, and pulls back to run again.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';

const isRoot = process.getuid?.() === 0;
const haveSkopeo = existsSync('/usr/bin/skopeo');

function skopeo(args: string[]): string {
  const r = spawnSync('timeout', ['-k', '5', '120', 'skopeo', ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

interface Inspected {
  Id: string;
  Author: string;
  Comment: string;
  RootFS: { Layers: string[] };
  Config: Record<string, unknown> & { Env: string[]; Cmd: string[] | null; Entrypoint: string[] | null };
}

describe('docker commit and docker diff', { skip: (!isRoot && 'needs root') || (!haveSkopeo && 'skopeo is not installed (node scripts/setup.mjs --test)'), timeout: 300_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';

  before(async () => {
    agent = await startAgentProcess('commit');
    registry = await startRegistry();
    // A second layer with a directory of its own, so the container can replace it whole.
    image = (
      await pushBusyboxImage(registry.url, 'busybox', 'commit', {
        extraLayers: [
          [
            { path: 'srv', type: 'directory', mode: 0o755 },
            { path: 'srv/old.txt', type: 'file', mode: 0o644, data: 'old\n' },
            { path: 'etc/motd', type: 'file', mode: 0o644, data: 'motd\n' },
          ],
        ],
      })
    ).ref;
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
  });

  it('diff of a container that changed nothing is empty: the runtime\'s /etc mount targets are not its changes', () => {
    agent.ok(['run', '--name', 'untouched', image, 'true']);
    assert.equal(agent.ok(['diff', 'untouched']), '');
  });

  it('diff lists what was added, changed and deleted as Docker does, parents first', () => {
    agent.ok(['run', '--name', 'changed', image, 'sh', '-c', 'echo new > /added.txt && echo more >> /etc/motd && rm /bin/ls && rm -rf /srv && mkdir /srv && echo fresh > /srv/fresh.txt']);
    assert.equal(agent.ok(['diff', 'changed']), ['A /added.txt', 'C /bin', 'D /bin/ls', 'C /etc', 'C /etc/motd', 'D /srv', 'A /srv/fresh.txt', ''].join('\n'));
    const r = agent.docker(['diff', 'no-such']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No such container: no-such/);
  });

  it('commit makes one new layer holding exactly those changes, with whiteouts and an opaque directory', () => {
    const id = agent.ok(['commit', '-m', 'the commit test', '-a', 'Berth Tester <t@example.com>', 'changed', 'committed:v1']).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const base = JSON.parse(agent.ok(['image', 'inspect', image]))[0] as Inspected;
    const img = JSON.parse(agent.ok(['image', 'inspect', 'committed:v1']))[0] as Inspected;
    assert.equal(img.Id, id);
    assert.equal(img.RootFS.Layers.length, base.RootFS.Layers.length + 1);
    assert.deepEqual(img.RootFS.Layers.slice(0, -1), base.RootFS.Layers);
    assert.equal(img.Author, 'Berth Tester <t@example.com>');
    assert.equal(img.Comment, 'the commit test');
    // The container's own command, as dockerd keeps it.
    assert.deepEqual(img.Config.Cmd, ['sh', '-c', 'echo new > /added.txt && echo more >> /etc/motd && rm /bin/ls && rm -rf /srv && mkdir /srv && echo fresh > /srv/fresh.txt']);
    const history = agent.ok(['history', '--no-trunc', '--format', '{{.Comment}}|{{.CreatedBy}}', 'committed:v1']).split('\n');
    assert.match(history[0], /^the commit test\|sh -c echo new/);

    // The layer as it leaves: docker save, then the new layer's tar listing.
    const dir = path.join(agent.tmp, 'saved');
    mkdirSync(dir);
    agent.ok(['save', '-o', path.join(dir, 'img.tar'), 'committed:v1']);
    execFileSync('tar', ['-xf', 'img.tar'], { cwd: dir });
    const manifest = JSON.parse(execFileSync('cat', [path.join(dir, 'manifest.json')], { encoding: 'utf8' })) as Array<{ Layers: string[] }>;
    const top = manifest[0].Layers.at(-1)!;
    const names = execFileSync('tar', ['-tf', path.join(dir, top)], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, ['added.txt', 'bin/', 'bin/.wh.ls', 'etc/', 'etc/motd', 'srv/', 'srv/.wh..wh..opq', 'srv/fresh.txt'].sort());
  });

  it('the committed image runs and shows the changes', () => {
    const out = agent.ok(['run', '--rm', 'committed:v1', 'sh', '-c', 'cat /added.txt /etc/motd; ls /srv; test -e /bin/ls || echo "ls gone"']);
    assert.equal(out, 'new\nmotd\nmore\nfresh.txt\nls gone\n');
  });

  it('commit -c sets the config as dockerd parses the changes, and the image runs with it', () => {
    agent.ok(['run', '--name', 'base', '-e', 'FROM_RUN=1', image, 'sh', '-c', `mkdir -p /app && printf '#!/bin/sh\\necho "app $* in $(pwd) as $(id -u) with $GREETING"\\n' > /app/run && chmod +x /app/run`]);
    const changes = [
      'ENTRYPOINT ["/app/run"]',
      'CMD ["one", "two"]',
      'ENV GREETING="hello world" OTHER=x',
      'EXPOSE 8080 53/udp',
      'LABEL org.example.team="berth" version=1',
      'USER nobody',
      'WORKDIR /app',
      'VOLUME ["/data"]',
      'STOPSIGNAL SIGINT',
      'HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD test -x /app/run',
      'ONBUILD RUN echo triggered',
    ];
    agent.ok(['commit', ...changes.flatMap((c) => ['-c', c]), 'base', 'committed:config']);
    const c = (JSON.parse(agent.ok(['image', 'inspect', 'committed:config']))[0] as Inspected).Config;
    assert.deepEqual(c.Entrypoint, ['/app/run']);
    assert.deepEqual(c.Cmd, ['one', 'two']);
    assert.ok(c.Env.includes('GREETING=hello world') && c.Env.includes('OTHER=x') && c.Env.includes('FROM_RUN=1'), c.Env.join(' '));
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Labels, { 'org.example.team': 'berth', version: '1' });
    assert.equal(c.User, 'nobody');
    assert.equal(c.WorkingDir, '/app');
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGINT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'test -x /app/run'], Interval: 5e9, Timeout: 2e9, Retries: 3 });
    assert.deepEqual(c.OnBuild, ['RUN echo triggered']);
    assert.equal(agent.ok(['run', '--rm', 'committed:config']), 'app one two in /app as 65534 with hello world\n');
  });

  it('a running container is committed frozen and runs on afterwards; --pause=false commits without freezing', async () => {
    agent.ok(['run', '-d', '--name', 'live', image, 'sh', '-c', 'echo started > /live.txt; while true; do sleep 1; done']);
    for (let i = 0; i < 100 && !agent.ok(['diff', 'live']).includes('A /live.txt'); i++) await new Promise((r) => setTimeout(r, 100));
    agent.ok(['commit', 'live', 'committed:live']);
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Status}}', 'live']).trim(), 'running', 'thawed after the commit');
    agent.ok(['commit', '--pause=false', 'live', 'committed:live2']);
    assert.equal(agent.ok(['run', '--rm', 'committed:live', 'cat', '/live.txt']), 'started\n');
    assert.equal(agent.ok(['run', '--rm', 'committed:live2', 'cat', '/live.txt']), 'started\n');
    // A paused container stays paused: commit does not thaw what the user froze.
    agent.ok(['pause', 'live']);
    agent.ok(['commit', 'live', 'committed:live3']);
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Status}}', 'live']).trim(), 'paused');
    agent.ok(['unpause', 'live']);
    agent.ok(['rm', '-f', 'live']);
  });

  it('the committed image pushes to a registry, skopeo reads it as docker inspect shows it, and it pulls back and runs', () => {
    const target = `${registry.url}/committed:v1`;
    agent.ok(['tag', 'committed:v1', target]);
    const out = agent.ok(['push', target]);
    const digest = /v1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out)?.[1];
    assert.ok(digest, out);
    const inspected = JSON.parse(agent.ok(['image', 'inspect', target]))[0] as Inspected;
    const skConfig = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${target}`])) as { rootfs: { diff_ids: string[] }; config: { Cmd: string[] }; author: string; history: Array<{ comment?: string }> };
    assert.deepEqual(skConfig.rootfs.diff_ids, inspected.RootFS.Layers);
    assert.deepEqual(skConfig.config.Cmd, inspected.Config.Cmd);
    assert.equal(skConfig.author, 'Berth Tester <t@example.com>');
    assert.equal(skConfig.history.at(-1)?.comment, 'the commit test');
    const sk = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${target}`])) as { Digest: string };
    assert.equal(sk.Digest, digest);

    agent.ok(['rm', '-f', 'changed']);
    agent.ok(['rmi', target, 'committed:v1']);
    assert.equal(agent.docker(['image', 'inspect', inspected.Id]).status, 1, 'gone before the pull');
    agent.ok(['pull', '-q', target]);
    assert.equal((JSON.parse(agent.ok(['image', 'inspect', target]))[0] as Inspected).Id, inspected.Id);
    assert.equal(agent.ok(['run', '--rm', target, 'cat', '/srv/fresh.txt']), 'fresh\n');
  });

  it('refuses what it cannot commit, naming it, and makes no image', () => {
    const before = agent.ok(['images', '-q']);
    const cases: Array<[string[], RegExp]> = [
      [['commit', '-c', 'RUN echo hi', 'untouched', 'bad:run'], /RUN is not a valid change command/],
      [['commit', '-c', 'HEALTHCHECK --interval=1us CMD true', 'untouched', 'bad:hc'], /interval cannot be less than 1ms/],
      [['commit', '-c', 'ONBUILD FROM x', 'untouched', 'bad:onbuild'], /FROM isn't allowed as an ONBUILD trigger/],
      [['commit', 'untouched', 'Bad Name'], /invalid reference format/],
      [['commit', 'no-such', 'bad:missing'], /No such container: no-such/],
    ];
    for (const [args, words] of cases) {
      const r = agent.docker(args);
      assert.notEqual(r.status, 0, `accepted: docker ${args.join(' ')}`);
      assert.match(r.stderr, words, `docker ${args.join(' ')}`);
    }
    assert.equal(agent.ok(['images', '-q']), before);
  });
});
