// The create body's Tty, OpenStdin, StdinOnce, AttachStdin, ConsoleSize and GroupAdd into
// the engine's spec; Docker's detach key notation; the detach sequence found however the
// client's input was split.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSpec } from '../../agent/dockerapi/containers';
import { HttpError } from '../../agent/dockerapi/http';
import { DetachScanner, parseDetachKeys } from '../../agent/engine/containers/stdio';

describe('stdin, TTY and group fields of the create body', () => {
  it('docker run -it --group-add as the CLI sends it', () => {
    const spec = createSpec(
      { Image: 'x', Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: true, HostConfig: { ConsoleSize: [33, 111], GroupAdd: ['audio', '4242'] } },
      undefined,
    );
    assert.deepEqual(
      { tty: spec.process?.tty, openStdin: spec.process?.openStdin, stdinOnce: spec.process?.stdinOnce, attachStdin: spec.process?.attachStdin, size: spec.process?.consoleSize, groups: spec.process?.groupAdd },
      { tty: true, openStdin: true, stdinOnce: true, attachStdin: true, size: { rows: 33, cols: 111 }, groups: ['audio', '4242'] },
    );
  });

  it('a gid given as a JSON number is a gid; a console size without a TTY or of 0x0 is no size', () => {
    assert.deepEqual(createSpec({ Image: 'x', HostConfig: { GroupAdd: [29] } }, undefined).process?.groupAdd, ['29']);
    assert.equal(createSpec({ Image: 'x', HostConfig: { ConsoleSize: [24, 80] } }, undefined).process?.consoleSize, undefined);
    assert.equal(createSpec({ Image: 'x', Tty: true, HostConfig: { ConsoleSize: [0, 0] } }, undefined).process?.consoleSize, undefined);
  });

  it('wrong types are a 400 naming the field', () => {
    for (const [body, field] of [
      [{ Image: 'x', Tty: 'yes' }, /Tty/],
      [{ Image: 'x', HostConfig: { GroupAdd: 'audio' } }, /HostConfig\.GroupAdd/],
      [{ Image: 'x', HostConfig: { ConsoleSize: [1, 2, 3] } }, /HostConfig\.ConsoleSize/],
    ] as const) {
      assert.throws(() => createSpec(body, undefined), (e: unknown) => e instanceof HttpError && e.status === 400 && field.test(e.message));
    }
  });
});

describe('detach keys', () => {
  it('reads Docker\'s notation and refuses what it cannot read', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')!], [16, 17]);
    assert.deepEqual([...parseDetachKeys('ctrl-x,x')!], [24, 120]);
    assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-_,DEL')!], [0, 27, 31, 127]);
    assert.equal(parseDetachKeys('ctrl-P'), undefined);
    assert.equal(parseDetachKeys('alt-x'), undefined);
    assert.equal(parseDetachKeys('ab'), undefined);
  });

  it('finds the sequence whether it comes whole, split, or after other input; a lone first key passes on', () => {
    const keys = Buffer.from([16, 17]);
    const feedAll = (chunks: number[][]) => {
      const s = new DetachScanner(keys);
      const passed: number[] = [];
      for (const c of chunks) {
        const r = s.feed(Buffer.from(c));
        passed.push(...r.pass);
        if (r.detached) return { passed, detached: true };
      }
      return { passed, detached: false };
    };
    assert.deepEqual(feedAll([[97, 16, 17, 98]]), { passed: [97], detached: true });
    assert.deepEqual(feedAll([[97, 16], [17]]), { passed: [97], detached: true });
    // ctrl-p then something else: both are input (ctrl-p is the shell's "previous line").
    assert.deepEqual(feedAll([[16], [98], [99]]), { passed: [16, 98, 99], detached: false });
    assert.deepEqual(feedAll([[16, 16, 17]]), { passed: [16], detached: true });
  });
});
