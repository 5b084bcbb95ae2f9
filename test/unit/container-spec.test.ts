import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerSpec } from '../../protocol/container';
import { resolvConf } from '../../agent/engine/containers/etc-files';
import { parseSignal } from '../../agent/engine/containers/signals';
import { checkSpec, mergeEnv, resolveSpec } from '../../agent/engine/containers/spec';
import { generateName, VALID_NAME } from '../../agent/engine/containers/names';
import { EngineError } from '../../agent/engine/errors';

const ID = 'abcdef0123456789'.repeat(4);
const is400 = (e: unknown) => e instanceof EngineError && e.status === 400;

test('Cmd and Entrypoint combine as Docker does', () => {
  const img = { Entrypoint: ['/entry'], Cmd: ['--default'] };
  assert.deepEqual(resolveSpec(ID, { image: 'x' }, img).process.cmd, ['--default']);
  assert.deepEqual(resolveSpec(ID, { image: 'x', process: { cmd: ['run'] } }, img).process, {
    ...resolveSpec(ID, { image: 'x' }, img).process,
    cmd: ['run'],
  });
  // A new entrypoint drops the image's Cmd.
  const e = resolveSpec(ID, { image: 'x', process: { entrypoint: ['/other'] } }, img).process;
  assert.deepEqual([e.entrypoint, e.cmd], [['/other'], []]);
  const cleared = resolveSpec(ID, { image: 'x', process: { entrypoint: [], cmd: ['ls'] } }, img).process;
  assert.deepEqual([cleared.entrypoint, cleared.cmd], [[], ['ls']]);
  assert.throws(() => resolveSpec(ID, { image: 'x' }, {}), is400);
});

test('env merges over the image, hostname defaults to the short id, labels merge', () => {
  const r = resolveSpec(ID, { image: 'x', process: { env: ['B=spec', 'C=new'] }, labels: { b: '2' } }, {
    Cmd: ['sh'],
    Env: ['PATH=/bin', 'A=1', 'B=image'],
    Labels: { a: '1', b: '1' },
    WorkingDir: '/w',
    User: 'nobody',
  });
  assert.deepEqual(r.process.env, ['PATH=/bin', 'A=1', 'B=spec', 'C=new']);
  assert.equal(r.network.hostname, ID.slice(0, 12));
  assert.deepEqual(r.labels, { a: '1', b: '2' });
  assert.equal(r.process.workingDir, '/w');
  assert.equal(r.process.user, 'nobody');
  const noPath = resolveSpec(ID, { image: 'x' }, { Cmd: ['sh'] }).process.env;
  assert.ok(noPath[0].startsWith('PATH=/usr/local/sbin:'));
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['A']), ['B=2']);
});

test('memory limits are checked and swap defaults to as much again', () => {
  const mb = 1024 * 1024;
  const swap = (resources: ContainerSpec['resources']) => resolveSpec(ID, { image: 'x', resources }, { Cmd: ['sh'] }).resources.memorySwap;
  assert.equal(swap({ memory: 64 * mb }), 128 * mb);
  assert.equal(swap({ memory: 64 * mb, memorySwap: -1 }), -1);
  assert.throws(() => swap({ memory: 1 * mb }), is400);
  assert.throws(() => swap({ memory: 64 * mb, memorySwap: 32 * mb }), is400);
  assert.throws(() => swap({ memorySwap: 32 * mb }), is400);
});

test('a spec from the network is checked whole: unknown keys and wrong types are refused by name', () => {
  assert.deepEqual(checkSpec({ image: 'x', process: { cmd: ['true'] } }), { image: 'x', process: { cmd: ['true'] } });
  const refusal = (raw: unknown) => {
    try {
      checkSpec(raw);
    } catch (e) {
      assert.ok(is400(e));
      return (e as Error).message;
    }
    assert.fail('accepted');
  };
  assert.match(refusal({ image: 'x', privileged: true }), /does not support privileged/);
  assert.match(refusal({ image: 'x', process: { cmd: ['a'], stdin: true } }), /does not support process\.stdin/);
  assert.match(refusal({ image: 'x', resources: { memory: '1g' } }), /resources\.memory/);
  assert.match(refusal({ image: 'x', network: { mode: 'mynet' } }), /network\.mode/);
  assert.match(refusal({ process: {} }), /image/);
});

test('signals by name, short name or number', () => {
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('term'), 15);
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('10'), 10);
  assert.throws(() => parseSignal('SIGNOPE'), is400);
  assert.throws(() => parseSignal('0'), is400);
});

test('loopback nameservers are dropped for a container with its own network namespace', () => {
  const host = 'search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n';
  assert.equal(resolvConf(host, true), 'nameserver 10.0.0.1\nsearch lan\n');
  assert.equal(resolvConf(host, false), host);
});

test('generated names look like Docker names and avoid taken ones', () => {
  const taken = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = generateName((x) => taken.has(x));
    assert.ok(!taken.has(n));
    assert.match(n, /^[a-z]+_[a-z]+\d*$/);
    assert.ok(VALID_NAME.test(n));
    taken.add(n);
  }
});
