import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { humanDuration, humanStatus } from '../../protocol/docker-words';
import { STDERR, STDOUT } from '../../agent/dockerapi/mux';
import { MuxDecoder, muxFrame } from '../fixtures/mux-decoder';
import { encodeEntries } from '../../agent/dockerapi/logs';
import type { ContainerRecord } from '../../agent/engine/types';

describe('multiplexed stream framing', () => {
  it('puts the stream id and big-endian length in an 8-byte header', () => {
    const f = muxFrame(STDERR, 'héllo\n');
    assert.equal(f[0], 2);
    assert.deepEqual([...f.subarray(1, 4)], [0, 0, 0]);
    assert.equal(f.readUInt32BE(4), Buffer.byteLength('héllo\n'));
    assert.equal(f.subarray(8).toString(), 'héllo\n');
  });

  it('decodes frames split at any byte boundary', () => {
    const wire = Buffer.concat([muxFrame(STDOUT, 'one\n'), muxFrame(STDERR, ''), muxFrame(STDERR, 'two\n'), muxFrame(STDOUT, 'x'.repeat(70000))]);
    for (const step of [1, 3, 7, 8, 9, 1000, wire.length]) {
      const d = new MuxDecoder();
      const got: Array<[number, string]> = [];
      for (let i = 0; i < wire.length; i += step) {
        for (const fr of d.push(wire.subarray(i, i + step))) got.push([fr.stream, fr.payload.toString()]);
      }
      assert.deepEqual(got, [[1, 'one\n'], [2, ''], [2, 'two\n'], [1, 'x'.repeat(70000)]], `step ${step}`);
      assert.equal(d.buffered, 0);
    }
  });

  it('rejects a header with an unknown stream byte', () => {
    const bad = muxFrame(STDOUT, 'a');
    bad[0] = 7;
    assert.throws(() => new MuxDecoder().push(bad), /stream byte 7/);
  });

  it('frames log entries unless the container has a TTY, and prefixes timestamps on request', () => {
    const e = { seq: 3, stream: 'stderr' as const, time: '2026-01-02T03:04:05.123456789Z', line: 'oops\n' };
    const framed = encodeEntries([e], false, true);
    assert.equal(framed[0], STDERR);
    assert.equal(framed.subarray(8).toString(), '2026-01-02T03:04:05.123456789Z oops\n');
    assert.equal(encodeEntries([e], true, false).toString(), 'oops\n');
  });

  it('frames a batch of entries one frame per line, each with its own stream and byte length', () => {
    const at = (seq: number, stream: 'stdout' | 'stderr', line: string) => ({ seq, stream, time: '2026-01-02T03:04:05Z', line });
    const batch = [at(10, 'stdout', 'héllo\n'), at(20, 'stderr', ''), at(30, 'stderr', 'two\n'), at(40, 'stdout', 'x'.repeat(70000))];
    const frames = new MuxDecoder().push(encodeEntries(batch, false, false));
    assert.deepEqual(frames.map((f) => [f.stream, f.payload.toString()]), batch.map((e) => [e.stream === 'stderr' ? STDERR : STDOUT, e.line]));
    assert.equal(encodeEntries(batch, true, false).toString(), batch.map((e) => e.line).join(''));
    assert.equal(encodeEntries([], false, false).length, 0);
  });
});

/** An engine container state: what the agent hands to humanStatus. */
function rec(state: Partial<ContainerRecord['state']>): ContainerRecord['state'] {
  return {
    status: 'created',
    running: false,
    paused: false,
    pid: 0,
    exitCode: 0,
    startedAt: '0001-01-01T00:00:00Z',
    finishedAt: '0001-01-01T00:00:00Z',
    error: '',
    oomKilled: false,
    ...state,
  };
}

describe('human status strings (as docker ps prints them)', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();

  it('follows go-units HumanDuration', () => {
    const cases: Array<[number, string]> = [
      [0, 'Less than a second'],
      [999, 'Less than a second'],
      [1000, '1 second'],
      [3500, '3 seconds'],
      [59_999, '59 seconds'],
      [60_000, 'About a minute'],
      [119_000, 'About a minute'],
      [120_000, '2 minutes'],
      [59 * 60_000, '59 minutes'],
      [60 * 60_000, 'About an hour'],
      [89 * 60_000, 'About an hour'],
      [91 * 60_000, '2 hours'],
      [47 * 3_600_000, '47 hours'],
      [48 * 3_600_000, '2 days'],
      [15 * 86_400_000, '2 weeks'],
      [61 * 86_400_000, '2 months'],
      [800 * 86_400_000, '2 years'],
    ];
    for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
  });

  it('describes each state', () => {
    assert.equal(humanStatus(rec({}), now), 'Created');
    assert.equal(humanStatus(rec({ status: 'running', running: true, startedAt: ago(3_200) }), now), 'Up 3 seconds');
    assert.equal(humanStatus(rec({ status: 'paused', running: true, paused: true, startedAt: ago(150_000) }), now), 'Up 2 minutes (Paused)');
    assert.equal(
      humanStatus(rec({ status: 'exited', exitCode: 137, startedAt: ago(600_000), finishedAt: ago(125_000) }), now),
      'Exited (137) 2 minutes ago',
    );
    assert.equal(humanStatus(rec({ status: 'exited', exitCode: 0, startedAt: ago(2000), finishedAt: ago(1000) }), now), 'Exited (0) 1 second ago');
    assert.equal(humanStatus(rec({ status: 'dead', startedAt: ago(2000), finishedAt: ago(1000) }), now), 'Dead');
    assert.equal(humanStatus(rec({ status: 'removing', startedAt: ago(2000) }), now), 'Removal In Progress');
  });
});
