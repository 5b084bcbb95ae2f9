import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveConfig, mergeEnv, parseSignal, resolvConf } from '../../agent/engine/containers/config';
import { generateName, VALID_NAME } from '../../agent/engine/containers/names';
import { EngineError } from '../../agent/engine/errors';

const ID = 'abcdef0123456789'.repeat(4);
const is400 = (e: unknown) => e instanceof EngineError && e.status === 400;

test('Cmd and Entrypoint combine as Docker does', () => {
  const img = { Entrypoint: ['/entry'], Cmd: ['--default'] };
  assert.deepEqual(effectiveConfig(ID, { image: 'x' }, img).config.cmd, ['--default']);
  assert.deepEqual(effectiveConfig(ID, { image: 'x', cmd: ['run'] }, img).config, {
    ...effectiveConfig(ID, { image: 'x' }, img).config,
    cmd: ['run'],
  });
  // A new entrypoint drops the image's Cmd.
  const e = effectiveConfig(ID, { image: 'x', entrypoint: ['/other'] }, img).config;
  assert.deepEqual([e.entrypoint, e.cmd], [['/other'], []]);
  const cleared = effectiveConfig(ID, { image: 'x', entrypoint: [], cmd: ['ls'] }, img).config;
  assert.deepEqual([cleared.entrypoint, cleared.cmd], [[], ['ls']]);
  assert.throws(() => effectiveConfig(ID, { image: 'x' }, {}), is400);
});

test('env merges over the image, hostname defaults to the short id, labels merge', () => {
  const c = effectiveConfig(ID, { image: 'x', env: ['B=spec', 'C=new'], labels: { b: '2' } }, {
    Cmd: ['sh'],
    Env: ['PATH=/bin', 'A=1', 'B=image'],
    Labels: { a: '1', b: '1' },
    WorkingDir: '/w',
    User: 'nobody',
  }).config;
  assert.deepEqual(c.env, ['PATH=/bin', 'A=1', 'B=spec', 'C=new']);
  assert.equal(c.hostname, ID.slice(0, 12));
  assert.deepEqual(c.labels, { a: '1', b: '2' });
  assert.equal(c.workingDir, '/w');
  assert.equal(c.user, 'nobody');
  const noPath = effectiveConfig(ID, { image: 'x' }, { Cmd: ['sh'] }).config.env;
  assert.ok(noPath[0].startsWith('PATH=/usr/local/sbin:'));
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['A']), ['B=2']);
});

test('memory limits are checked and swap defaults to as much again', () => {
  const mb = 1024 * 1024;
  assert.equal(effectiveConfig(ID, { image: 'x', memory: 64 * mb }, { Cmd: ['sh'] }).hostConfig.memorySwap, 128 * mb);
  assert.equal(effectiveConfig(ID, { image: 'x', memory: 64 * mb, memorySwap: -1 }, { Cmd: ['sh'] }).hostConfig.memorySwap, -1);
  assert.throws(() => effectiveConfig(ID, { image: 'x', memory: 1 * mb }, { Cmd: ['sh'] }), is400);
  assert.throws(() => effectiveConfig(ID, { image: 'x', memory: 64 * mb, memorySwap: 32 * mb }, { Cmd: ['sh'] }), is400);
  assert.throws(() => effectiveConfig(ID, { image: 'x', memorySwap: 32 * mb }, { Cmd: ['sh'] }), is400);
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
  assert.equal(resolvConf(host, true), 'search lan\nnameserver 10.0.0.1\n');
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
