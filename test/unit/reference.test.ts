import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../agent/engine/errors';
import { familiarName, familiarString, fullName, parseReference } from '../../agent/engine/images/reference';

const D = 'sha256:' + 'ab'.repeat(32);

describe('image reference normalisation', () => {
  const cases: Array<[string, string, string]> = [
    // input, fully qualified, familiar
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:musl', 'docker.io/library/busybox:musl', 'busybox:musl'],
    ['someone/app:v2', 'docker.io/someone/app:v2', 'someone/app:v2'],
    ['127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest'],
    ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:1.0-rc_1', 'localhost:5000/a/b/c:1.0-rc_1', 'localhost:5000/a/b/c:1.0-rc_1'],
    [`host:5000/a/b@${D}`, `host:5000/a/b@${D}`, `host:5000/a/b@${D}`],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`, `busybox:1.36@${D}`],
    ['registry.example.com/team/my_app.x__y--z', 'registry.example.com/team/my_app.x__y--z:latest', 'registry.example.com/team/my_app.x__y--z:latest'],
    ['[::1]:5000/busybox', '[::1]:5000/busybox:latest', '[::1]:5000/busybox:latest'],
    // a lone "name:port" is a repository with a tag, as docker reads it
    ['localhost:5000', 'docker.io/library/localhost:5000', 'localhost:5000'],
  ];
  for (const [input, full, familiar] of cases) {
    it(`${input} → ${full}`, () => {
      const r = parseReference(input);
      assert.equal(fullName(r), full);
      assert.equal(familiarString(r), familiar);
    });
  }

  it('splits domain, path, tag and digest', () => {
    assert.deepEqual(parseReference('127.0.0.1:5000/busybox'), { domain: '127.0.0.1:5000', path: 'busybox', tag: 'latest' });
    assert.deepEqual(parseReference(`h.io/x/y@${D}`), { domain: 'h.io', path: 'x/y', digest: D });
    assert.equal(familiarName(parseReference('docker.io/library/x:tag')), 'x');
    assert.equal(familiarName(parseReference('docker.io/library/a/b')), 'library/a/b');
  });

  it('treats an uppercase first component as a registry host, like docker', () => {
    assert.equal(parseReference('MyHost/app').domain, 'MyHost');
  });
});

describe('invalid references', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /reference is empty/],
    ['Busybox', /must be lowercase/],
    ['127.0.0.1:5000/BusyBox:latest', /repository name \(BusyBox\) must be lowercase/],
    ['bad$name', /repository name component "bad\$name"/],
    ['a//b', /empty path component/],
    ['-leading', /component/],
    ['trailing-', /component/],
    ['busybox:', /bad tag ""/],
    ['busybox:-x', /bad tag "-x"/],
    ['busybox:' + 'a'.repeat(129), /bad tag/],
    ['busybox@sha256:abc', /bad digest "sha256:abc".*64 lowercase hex/],
    ['busybox@sha256:' + 'AB'.repeat(32), /bad digest/],
    ['busybox@md5:' + 'ab'.repeat(16), /unsupported digest algorithm/],
    ['busybox@', /bad digest/],
    ['busy box', /whitespace/],
    [' busybox', /whitespace/],
    [':latest', /no repository name/],
    ['h:5000/', /no repository name|empty path/],
    ['x/'.repeat(130) + 'y', /longer than 255/],
  ];
  for (const [input, msg] of bad) {
    it(`rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (e: unknown) => e instanceof EngineError && e.status === 400 && e.message.startsWith('invalid reference format: ') && msg.test(e.message),
      );
    });
  }
});
