import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags } from '../../agent/flags';
import { createSpec, filterTime } from '../../agent/dockerapi/containers';
import { pullRef, registryAuth } from '../../agent/dockerapi/images';
import { parseTarget } from '../../agent/dockerapi/server';
import { HttpError } from '../../agent/dockerapi/http';

describe('request paths', () => {
  it('accepts versioned and unversioned paths and decodes image names', () => {
    assert.equal(parseTarget('/v1.41/containers/json?all=1').path, '/containers/json');
    assert.equal(parseTarget('/v1.41/containers/json?all=1').q.get('all'), '1');
    assert.equal(parseTarget('/_ping').path, '/_ping');
    assert.equal(parseTarget('/v1.24/images/127.0.0.1%3A5000%2Fbusybox%3Alatest/json').path, '/images/127.0.0.1:5000/busybox:latest/json');
  });

  it('refuses API versions outside 1.24–1.50 with 400', () => {
    assert.throws(() => parseTarget('/v1.51/info'), (e: unknown) => e instanceof HttpError && e.status === 400 && /too new/.test(e.message));
    assert.throws(() => parseTarget('/v1.12/info'), (e: unknown) => e instanceof HttpError && e.status === 400 && /too old/.test(e.message));
  });

  it('refuses a malformed percent-encoding with 400, not an internal error', () => {
    assert.throws(() => parseTarget('/v1.41/containers/%zz/json'), (e: unknown) => e instanceof HttpError && e.status === 400 && /percent-encoding/.test(e.message));
  });
});

describe('create body → engine spec', () => {
  it('carries Config and HostConfig over', () => {
    const spec = createSpec(
      {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'echo $$'],
        Env: ['A=1'],
        Hostname: 'box',
        Labels: { team: 'a' },
        HostConfig: { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 5e8, CpuShares: 512, PidsLimit: 50, AutoRemove: true, NetworkMode: 'none' },
      },
      'web',
    );
    assert.deepEqual(spec, {
      name: 'web',
      image: 'busybox',
      labels: { team: 'a' },
      process: { cmd: ['sh', '-c', 'echo $$'], entrypoint: undefined, env: ['A=1'], workingDir: undefined, user: undefined },
      resources: { memory: 64 << 20, memorySwap: 128 << 20, nanoCpus: 5e8, cpuShares: 512, pidsLimit: 50 },
      network: { mode: 'none', hostname: 'box' },
      restart: { autoRemove: true },
    });
  });

  it('reads --entrypoint "" as clearing the entrypoint and bridge as the default network', () => {
    const spec = createSpec({ Image: 'x', Entrypoint: [''], HostConfig: { NetworkMode: 'bridge' } }, undefined);
    assert.deepEqual(spec.process?.entrypoint, []);
    assert.equal(spec.network?.mode, 'default');
  });

  it('reads a string Cmd or Entrypoint as one argument, as Docker\'s StrSlice does', () => {
    const spec = createSpec({ Image: 'x', Cmd: 'echo hi', Entrypoint: '/bin/tool' }, undefined);
    assert.deepEqual([spec.process?.cmd, spec.process?.entrypoint], [['echo hi'], ['/bin/tool']]);
  });

  it('refuses fields of the wrong type with a 400 that names the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ Image: 5 }, /Image/],
      [{ Image: 'x', HostConfig: { Memory: 'abc' } }, /HostConfig\.Memory/],
      [{ Image: 'x', Env: 'A=1' }, /Env/],
      [{ Image: 'x', Labels: { a: 1 } }, /Labels\.a/],
      [{ Image: 'x', Cmd: 5 }, /Cmd/],
      [[1, 2], /body/],
    ];
    for (const [body, field] of cases) {
      assert.throws(
        () => createSpec(body, undefined),
        (e: unknown) => e instanceof HttpError && e.status === 400 && /^invalid container config: /.test(e.message) && field.test(e.message),
        JSON.stringify(body),
      );
    }
  });

  it('rejects a missing image', () => {
    assert.throws(() => createSpec({}, undefined), (e: unknown) => e instanceof HttpError && e.status === 400 && /No image/.test(e.message));
  });
});

describe('time filter values (prune until=…)', () => {
  it('reads unix seconds, Go durations back from now, and dates; refuses the rest', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    assert.equal(filterTime('1700000000', now), 1_700_000_000_000);
    assert.equal(filterTime('24h', now), now - 86_400_000);
    assert.equal(filterTime('1h30m', now), now - 5_400_000);
    assert.equal(filterTime('2026-01-02T03:04:05Z', now), Date.parse('2026-01-02T03:04:05Z'));
    assert.throws(() => filterTime('soon', now), (e: unknown) => e instanceof HttpError && e.status === 400);
  });
});

describe('pull parameters', () => {
  it('joins fromImage with a tag or a digest', () => {
    assert.equal(pullRef('127.0.0.1:5000/busybox', 'latest'), '127.0.0.1:5000/busybox:latest');
    assert.equal(pullRef('busybox', 'sha256:abcd'), 'busybox@sha256:abcd');
    assert.equal(pullRef('busybox:1', null), 'busybox:1');
  });

  it('decodes X-Registry-Auth and treats an empty one as anonymous', () => {
    const h = Buffer.from(JSON.stringify({ username: 'u', password: 'p', serveraddress: 'r' })).toString('base64url');
    assert.deepEqual(registryAuth(h), { username: 'u', password: 'p', token: undefined });
    assert.equal(registryAuth(Buffer.from('{}').toString('base64url')), undefined);
    assert.equal(registryAuth(undefined), undefined);
  });
});

describe('agent flags', () => {
  it('has the documented defaults', () => {
    assert.deepEqual(parseFlags([]), { root: '/var/lib/berth', dockerSocket: '/run/berth/docker.sock', server: undefined, token: undefined, insecureRegistries: [] });
  });

  it('normalises the server URL and resolves paths', () => {
    const f = parseFlags(['--root', 'rel', '--docker-socket=/tmp/d.sock', '--server', 'http://127.0.0.1:3000/', '--token', 't']);
    assert.ok(f !== 'help');
    assert.equal(f.root, `${process.cwd()}/rel`);
    assert.equal(f.server, 'http://127.0.0.1:3000');
    assert.equal(f.token, 't');
  });

  it('explains bad flags', () => {
    assert.throws(() => parseFlags(['--bogus']), /Unknown option '--bogus'/);
    assert.throws(() => parseFlags(['--token', 'x']), /--token only makes sense with --server/);
    assert.throws(() => parseFlags(['--server', 'ftp://x']), /http:\/\/ or https:\/\//);
    assert.throws(() => parseFlags(['--server', 'not a url']), /must be a URL/);
    assert.throws(() => parseFlags(['--root']), /argument missing/);
    assert.equal(parseFlags(['--help']), 'help');
  });
});
