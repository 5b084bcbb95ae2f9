// `docker build` through the real CLI, which falls back to the classic builder protocol
// (no buildx plugin, Builder-Version 1 in /_ping): a multi-stage Dockerfile with ARGs, RUN
// in real containers, COPY --from, the layer cache on a rebuild and after a change, a
// failing step, build args, .dockerignore (the CLI's and the agent's own), the instructions
// that only set the config, ONBUILD, ADD of a local tar, -f, --target, --label, -q, and
// what is refused by name.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { tarBuffer } from '../fixtures/tar';

const isRoot = process.getuid?.() === 0;

interface Inspected {
  Id: string;
  RootFS: { Layers: string[] };
  Config: Record<string, unknown> & { Env: string[]; Cmd: string[] | null; Labels: Record<string, string> | null };
}

/** A context directory: name → content (a trailing "/" makes a directory). */
function context(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    const p = path.join(dir, name);
    if (name.endsWith('/')) mkdirSync(p, { recursive: true });
    else {
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, data);
    }
  }
  return dir;
}

describe('docker build (the classic builder)', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  let agent: AgentProcess;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = '';
  const build = (args: string[], opts: { input?: string | Buffer } = {}) => agent.docker(['build', ...args], { ...opts, timeoutSec: 180 });
  const okBuild = (args: string[]) => {
    const r = build(args);
    if (r.status !== 0) throw new Error(`docker build ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}\nagent log:\n${agent.log()}`);
    return r.stdout;
  };
  const inspect = (ref: string) => JSON.parse(agent.ok(['image', 'inspect', ref]))[0] as Inspected;

  before(async () => {
    agent = await startAgentProcess('build');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'build')).ref;
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    for (const id of agent?.ok(['ps', '-aq']).split('\n').filter(Boolean) ?? []) agent.docker(['rm', '-f', id]);
    await agent?.stop();
    await registry?.stop();
  });

  let multi = '';
  it('builds a multi-stage Dockerfile with the plain `docker build`: RUN in a container, COPY --from, the steps as dockerd prints them', () => {
    multi = context(path.join(agent.tmp, 'multi'), {
      Dockerfile: [
        'ARG BASE',
        'FROM $BASE AS builder',
        'ARG GREETING=hello',
        'ENV WHO=world',
        'WORKDIR /src',
        'COPY hello.txt ./',
        'RUN echo "$GREETING $WHO from $(cat hello.txt)" > /src/out.txt && echo "ran in $(pwd)"',
        '',
        'FROM scratch',
        'COPY --from=builder /bin/busybox /bin/',
        'COPY --from=builder /src/out.txt /',
        'ENTRYPOINT ["/bin/busybox"]',
        'CMD ["cat", "/out.txt"]',
        '',
      ].join('\n'),
      'hello.txt': 'the context',
    });
    const out = okBuild(['--build-arg', `BASE=${image}`, '-t', 'multi:v1', multi]);
    const steps = out.split('\n').filter((l) => l.startsWith('Step '));
    assert.deepEqual(steps, [
      'Step 1/12 : ARG BASE',
      'Step 2/12 : FROM $BASE AS builder',
      'Step 3/12 : ARG GREETING=hello',
      'Step 4/12 : ENV WHO=world',
      'Step 5/12 : WORKDIR /src',
      'Step 6/12 : COPY hello.txt ./',
      'Step 7/12 : RUN echo "$GREETING $WHO from $(cat hello.txt)" > /src/out.txt && echo "ran in $(pwd)"',
      'Step 8/12 : FROM scratch',
      'Step 9/12 : COPY --from=builder /bin/busybox /bin/',
      'Step 10/12 : COPY --from=builder /src/out.txt /',
      'Step 11/12 : ENTRYPOINT ["/bin/busybox"]',
      'Step 12/12 : CMD ["cat", "/out.txt"]',
    ]);
    assert.match(out, / ---> Running in [0-9a-f]{12}\nran in \/src\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
    const id = /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
    assert.ok(id, out);
    assert.match(out, /Successfully tagged multi:v1/);
    assert.equal(agent.ok(['run', '--rm', 'multi:v1']), 'hello world from the context\n');
    const img = inspect('multi:v1');
    assert.equal(img.Id.slice(7, 19), id);
    assert.equal(img.RootFS.Layers.length, 2, 'scratch plus two COPY layers');
    assert.deepEqual(img.Config.Entrypoint, ['/bin/busybox']);
    // No intermediate image is left listed and no build container is left.
    const listed = agent.ok(['images', '-a', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['multi:v1', image].sort());
    assert.equal(agent.ok(['ps', '-aq']), '');
  });

  it('a rebuild takes every step from the cache and gives the same image; a changed file rebuilds from its COPY on; --no-cache rebuilds all', () => {
    const first = inspect('multi:v1').Id;
    const again = okBuild(['--build-arg', `BASE=${image}`, '-t', 'multi:v1', multi]);
    assert.equal((again.match(/---> Using cache/g) ?? []).length, 9, again);
    assert.doesNotMatch(again, /Running in/);
    assert.equal(inspect('multi:v1').Id, first);

    writeFileSync(path.join(multi, 'hello.txt'), 'a changed context');
    const changed = okBuild(['--build-arg', `BASE=${image}`, '-t', 'multi:v2', multi]);
    const cached = changed.split('Step ').filter((s) => s.includes('Using cache')).map((s) => s.split('\n')[0]);
    assert.deepEqual(cached, ['3/12 : ARG GREETING=hello', '4/12 : ENV WHO=world', '5/12 : WORKDIR /src', '9/12 : COPY --from=builder /bin/busybox /bin/']);
    assert.equal(agent.ok(['run', '--rm', 'multi:v2']), 'hello world from a changed context\n');

    const fresh = okBuild(['--no-cache', '--build-arg', `BASE=${image}`, '-t', 'multi:v3', multi]);
    assert.doesNotMatch(fresh, /Using cache/);
    assert.equal(agent.ok(['run', '--rm', 'multi:v3']), 'hello world from a changed context\n');
  });

  it('a failing RUN shows its output and dockerd\'s message, exits with its code, and leaves no image or container', () => {
    const dir = context(path.join(agent.tmp, 'failing'), { Dockerfile: `FROM ${image}\nRUN echo first-step > /x\nRUN echo failing-output; exit 3\nRUN echo never\n` });
    const before = agent.ok(['images', '-aq']);
    const r = build(['-t', 'failing:v1', dir]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /failing-output\n/);
    assert.doesNotMatch(r.stdout, /Step 4\/4/);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo failing-output; exit 3' returned a non-zero code: 3/);
    assert.equal(agent.ok(['images', '-aq']), before);
    assert.equal(agent.ok(['ps', '-aq']), '');
    // -q prints nothing on success but the id; on failure what the build printed.
    const q = build(['-q', dir]);
    assert.equal(q.status, 3);
    assert.match(q.stdout + q.stderr, /failing-output/);
  });

  it('build args: defaults, overrides, ARG in RUN\'s environment and history, predefined ones, and the warning for unused ones', () => {
    const dir = context(path.join(agent.tmp, 'args'), {
      Dockerfile: [`FROM ${image}`, 'ARG FLAVOUR=plain', 'ARG SIZE', 'ENV SIZE_ENV=${SIZE:-unset}', 'RUN echo "$FLAVOUR/$SIZE/$SIZE_ENV/$HTTP_PROXY" > /args.txt', 'CMD ["cat", "/args.txt"]', ''].join('\n'),
    });
    okBuild(['-t', 'args:default', dir]);
    assert.equal(agent.ok(['run', '--rm', 'args:default']), 'plain//unset/\n');
    const out = okBuild(['--build-arg', 'FLAVOUR=spicy', '--build-arg', 'SIZE=large', '--build-arg', 'HTTP_PROXY=http://127.0.0.1:9', '--build-arg', 'UNUSED=1', '-t', 'args:set', dir]);
    assert.match(out, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
    assert.equal(agent.ok(['run', '--rm', 'args:set']), 'spicy/large/large/http://127.0.0.1:9\n');
    const img = inspect('args:set');
    assert.ok(img.Config.Env.includes('SIZE_ENV=large'));
    assert.ok(!img.Config.Env.some((e) => e.startsWith('FLAVOUR=')), 'an ARG is not in the image\'s env');
    const history = agent.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args:set']);
    assert.match(history, /\|2 FLAVOUR=spicy SIZE=large \/bin\/sh -c echo/);
    assert.doesNotMatch(history, /HTTP_PROXY=/, 'predefined args stay out of the history');
  });

  it('.dockerignore keeps files out of the context, an exception brings one back; the agent applies it to raw API contexts too', async () => {
    const dir = context(path.join(agent.tmp, 'ignore'), {
      Dockerfile: `FROM ${image}\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n`,
      '.dockerignore': '*.log\nsecret/\n!secret/public.txt\n',
      'keep.txt': 'k',
      'debug.log': 'l',
      'secret/key': 'k',
      'secret/public.txt': 'p',
    });
    const out = okBuild(['--no-cache', dir]);
    const files = out.split('\n').filter((l) => l.startsWith('/ctx/'));
    assert.deepEqual(files, ['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/keep.txt', '/ctx/secret/public.txt']);

    // The same context sent as a tar straight to the API, nothing left out by a client.
    const tar = tarBuffer([
      { path: 'Dockerfile', type: 'file', data: `FROM ${image}\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n` },
      { path: '.dockerignore', type: 'file', data: '*.log\n' },
      { path: 'debug.log', type: 'file', data: 'l' },
      { path: 'keep.txt', type: 'file', data: 'k' },
    ]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: agent.sock, path: '/v1.41/build?nocache=1', method: 'POST', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end(tar);
    });
    const stream = body
      .split('\r\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { stream?: string }).stream ?? '')
      .join('');
    assert.match(stream, /\/ctx\/keep\.txt/);
    assert.doesNotMatch(stream, /debug\.log/);
    assert.match(body, /"aux":\{"ID":"sha256:[0-9a-f]{64}"\}/);
  });

  it('sets the config as the instructions say, runs ONBUILD triggers in a child build, unpacks a local tar with ADD, and copies wildcards with --chown', () => {
    const payload = context(path.join(agent.tmp, 'payload'), { 'hello.txt': 'from the tar\n' });
    execFileSync('tar', ['-czf', path.join(agent.tmp, 'payload.tgz'), '-C', payload, 'hello.txt']);
    const dir = context(path.join(agent.tmp, 'config'), {
      'Dockerfile.custom': [
        `FROM ${image}`,
        'SHELL ["/bin/sh", "-c"]',
        'LABEL org.example.team=berth "with space"="a b"',
        'EXPOSE 8080 53/udp',
        'ENV A=1 B="two words"',
        'ADD payload.tgz /payload/',
        'COPY --chown=nobody:nobody *.conf /etc/app/',
        'RUN ls -n /etc/app | awk \'NR>1 {print $3":"$4" "$9}\' > /owners.txt && cat /payload/hello.txt',
        'USER nobody',
        'WORKDIR /home/app',
        'VOLUME /data',
        'STOPSIGNAL SIGQUIT',
        'HEALTHCHECK --interval=10s --retries=2 CMD test -e /owners.txt',
        'ONBUILD RUN echo "triggered" > /tmp/onbuild.txt',
        'ENTRYPOINT ["sh", "-c"]',
        'CMD ["cat /owners.txt"]',
        '',
      ].join('\n'),
      'a.conf': 'a',
      'b.conf': 'b',
      'other.txt': 'o',
    });
    execFileSync('cp', [path.join(agent.tmp, 'payload.tgz'), dir]);
    const out = okBuild(['-f', path.join(dir, 'Dockerfile.custom'), '--label', 'built.by=test', '-t', 'configured:v1', dir]);
    assert.match(out, /from the tar\n/, 'the ADDed tar was unpacked');
    const c = inspect('configured:v1').Config;
    assert.deepEqual(c.Labels, { 'org.example.team': 'berth', 'with space': 'a b', 'built.by': 'test' });
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    assert.ok(c.Env.includes('A=1') && c.Env.includes('B=two words'));
    assert.equal(c.User, 'nobody');
    assert.equal(c.WorkingDir, '/home/app');
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGQUIT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'test -e /owners.txt'], Interval: 10e9, Retries: 2 });
    assert.deepEqual(c.OnBuild, ['RUN echo "triggered" > /tmp/onbuild.txt']);
    assert.deepEqual(c.Entrypoint, ['sh', '-c']);
    assert.deepEqual(c.Cmd, ['cat /owners.txt']);
    assert.equal(agent.ok(['run', '--rm', 'configured:v1']), '65534:65534 a.conf\n65534:65534 b.conf\n');
    assert.equal(agent.ok(['run', '--rm', 'configured:v1', 'pwd']), '/home/app\n', 'WORKDIR made its directory');

    const child = context(path.join(agent.tmp, 'child'), { Dockerfile: 'FROM configured:v1\n' });
    const childOut = okBuild(['-t', 'child:v1', child]);
    assert.match(childOut, /# Executing 1 build trigger/);
    assert.equal(agent.ok(['run', '--rm', 'child:v1', 'cat /tmp/onbuild.txt']), 'triggered\n');
    assert.equal(inspect('child:v1').Config.OnBuild ?? null, null, 'triggers do not pass on to grandchildren');
  });

  it('COPY puts files where dockerd would: a new name, into an existing directory, a directory\'s content, relative to WORKDIR, with variables', () => {
    const dir = context(path.join(agent.tmp, 'copies'), {
      Dockerfile: [
        `FROM ${image}`,
        'ENV DEST=/from-env',
        'COPY a.txt /new/name.txt',
        'COPY a.txt /tmp',
        'COPY tree /tree',
        'COPY a.txt $DEST/',
        'WORKDIR /work',
        'COPY tree/sub ./rel/',
        'COPY ["a.txt", "b.txt", "/json/"]',
        'RUN find /new /tmp /tree /from-env /work /json -type f | sort',
        '',
      ].join('\n'),
      'a.txt': 'a',
      'b.txt': 'b',
      'tree/top.txt': 't',
      'tree/sub/deep.txt': 'd',
    });
    const out = okBuild(['--no-cache', dir]);
    const files = out.split('\n').filter((l) => l.startsWith('/'));
    assert.deepEqual(files, ['/from-env/a.txt', '/json/a.txt', '/json/b.txt', '/new/name.txt', '/tmp/a.txt', '/tree/sub/deep.txt', '/tree/top.txt', '/work/rel/deep.txt']);
  });

  it('--target stops at a stage, -q prints only the id, a Dockerfile from stdin works', () => {
    const dir = context(path.join(agent.tmp, 'target'), { Dockerfile: `FROM ${image} AS one\nRUN echo one > /stage\nFROM one AS two\nRUN echo two > /stage\n` });
    okBuild(['--target', 'one', '-t', 'target:one', dir]);
    assert.equal(agent.ok(['run', '--rm', 'target:one', 'cat', '/stage']), 'one\n');
    const q = okBuild(['-q', '-t', 'target:two', dir]);
    assert.match(q, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(inspect('target:two').Id, q.trim());
    assert.equal(agent.ok(['run', '--rm', 'target:two', 'cat', '/stage']), 'two\n');
    const r = build(['-t', 'stdin:v1', '-'], { input: `FROM ${image}\nCMD ["echo", "from stdin"]\n` });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(agent.ok(['run', '--rm', 'stdin:v1']), 'from stdin\n');
    const bad = build(['--target', 'nope', dir]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /failed to reach build target nope in Dockerfile/);
  });

  it('docker builder prune forgets the cache: the next build runs every step again', () => {
    const dir = context(path.join(agent.tmp, 'prune'), { Dockerfile: `FROM ${image}\nRUN echo pruned > /p\n` });
    okBuild(['-t', 'prune:v1', dir]);
    assert.match(okBuild(['-t', 'prune:v1', dir]), /Using cache/);
    const r = agent.docker(['builder', 'prune', '-f']);
    assert.equal(r.status, 0, r.stderr);
    const again = okBuild(['-t', 'prune:v1', dir]);
    assert.doesNotMatch(again, /Using cache/);
    assert.match(again, /Running in/);
    assert.equal(agent.ok(['run', '--rm', 'prune:v1', 'cat', '/p']), 'pruned\n');
  });

  it('refuses unknown instructions, BuildKit-only features and options Berth does not have, by name, and makes no image', () => {
    const before = agent.ok(['images', '-aq']);
    const dir = path.join(agent.tmp, 'refused');
    const cases: Array<[string, string[], RegExp]> = [
      [`FROM ${image}\nFOO bar\n`, [], /dockerfile parse error on line 2: unknown instruction: FOO/],
      [`FROM ${image}\nRUN --mount=type=cache,target=/c true\n`, [], /the --mount option requires BuildKit/],
      [`FROM ${image}\nCOPY --chmod=755 Dockerfile /\n`, [], /the --chmod option requires BuildKit/],
      [`FROM ${image}\nCOPY --bogus=1 Dockerfile /\n`, [], /Unknown flag: bogus/],
      [`FROM ${image}\nADD http://127.0.0.1:9/x /x\n`, [], /Berth does not support ADD from a URL yet/],
      [`FROM ${image}\nCOPY missing.txt /\n`, [], /file not found in build context or excluded by \.dockerignore: stat missing\.txt: file does not exist/],
      [`FROM ${image}\nCOPY ../outside /\n`, [], /forbidden path outside the build context/],
      [`FROM ${image}\n`, ['--memory', '64m'], /Berth does not support -m\/--memory for build yet/],
      [`FROM ${image}\n`, ['--platform', 'linux/s390x'], /does not support --platform for build yet/],
      [`FROM ${image}\n`, ['--network', 'host'], /Berth does not support --network for build yet/],
    ];
    for (const [df, args, words] of cases) {
      context(dir, { Dockerfile: df });
      const r = build([...args, dir]);
      assert.equal(r.status, 1, `accepted or odd exit status: ${df} ${args.join(' ')}: ${r.status}`);
      assert.match(r.stderr, words, `${df} ${args.join(' ')}`);
    }
    assert.equal(agent.ok(['images', '-aq']), before);
    assert.equal(agent.ok(['ps', '-aq']), '');
  });
});
