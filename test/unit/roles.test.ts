import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessTo, hasRole, ROLES } from '../../protocol/roles';
import { runSpec } from '../../server/trpc/routers/containers';
import { parseMemorySize } from '../../server/parse/size';

test('each role can do what the roles below it can, and nothing above', () => {
  const table: Record<string, Record<string, boolean>> = {
    viewer: { viewer: true, operator: false, admin: false, owner: false },
    operator: { viewer: true, operator: true, admin: false, owner: false },
    admin: { viewer: true, operator: true, admin: true, owner: false },
    owner: { viewer: true, operator: true, admin: true, owner: true },
  };
  for (const role of ROLES) for (const min of ROLES) assert.equal(hasRole(role, min), table[role][min], `${role} ≥ ${min}`);
});

test('unknown or missing roles grant nothing', () => {
  for (const r of [undefined, null, '', 'root', 'Owner', 'superadmin']) assert.equal(hasRole(r, 'viewer'), false, String(r));
});

test('a non-member is told the host does not exist; a member with too small a role is forbidden', () => {
  assert.equal(accessTo(null, 'viewer'), 'none');
  assert.equal(accessTo(undefined, 'operator'), 'none');
  assert.equal(accessTo('viewer', 'operator'), 'forbidden');
  assert.equal(accessTo('viewer', 'viewer'), 'ok');
  assert.equal(accessTo('operator', 'admin'), 'forbidden');
  assert.equal(accessTo('owner', 'admin'), 'ok');
});

test('memory sizes parse like docker: binary units, optional b suffix', () => {
  assert.equal(parseMemorySize('64m'), 64 * 1024 * 1024);
  assert.equal(parseMemorySize('1g'), 1024 ** 3);
  assert.equal(parseMemorySize('1G'), 1024 ** 3);
  assert.equal(parseMemorySize('512kb'), 512 * 1024);
  assert.equal(parseMemorySize('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(parseMemorySize('4096'), 4096);
  for (const bad of ['', 'm', '-1m', '64x', '1 2m', 'lots']) assert.throws(() => parseMemorySize(bad), RangeError, bad);
});

test('the run form turns into an engine spec, and bad fields are the caller\'s error', () => {
  assert.deepEqual(runSpec({ image: 'busybox', command: `sh -c 'echo hi; sleep 1'`, name: 'web-1', memory: '64m' }), {
    image: 'busybox',
    process: { cmd: ['sh', '-c', 'echo hi; sleep 1'] },
    name: 'web-1',
    resources: { memory: 64 * 1024 * 1024 },
  });
  assert.deepEqual(runSpec({ image: 'busybox', command: '  ', name: '', memory: '' }), { image: 'busybox' });
  assert.throws(() => runSpec({ image: 'b', command: `echo 'x` }), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /quote/.test(e.message));
  assert.throws(() => runSpec({ image: 'b', memory: '12q' }), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /memory/.test(e.message));
  // Whether a name is valid is the engine's to say (tested with the real agent), not copied here.
  assert.equal(runSpec({ image: 'b', name: ' bad name ' }).name, 'bad name');
});
