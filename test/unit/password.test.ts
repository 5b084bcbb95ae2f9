import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword } from '../../server/auth/password';

test('a password verifies against its own hash and no other password does', async () => {
  const h = await hashPassword('correct horse battery staple');
  assert.equal(await verifyPassword('correct horse battery staple', h), true);
  assert.equal(await verifyPassword('correct horse battery stapl', h), false);
  assert.equal(await verifyPassword('', h), false);
});

test('hashes are salted scrypt with N of at least 2^15 and never contain the password', async () => {
  const a = await hashPassword('same password');
  const b = await hashPassword('same password');
  assert.notEqual(a, b, 'two hashes of one password must differ (random salt)');
  const [kind, n, r, p, salt, key] = a.split('$');
  assert.equal(kind, 'scrypt');
  assert.ok(Number(n) >= 2 ** 15, `N=${n}`);
  assert.ok(Number(r) >= 8 && Number(p) >= 1);
  assert.ok(Buffer.from(salt, 'base64url').length >= 16);
  assert.ok(Buffer.from(key, 'base64url').length >= 32);
  assert.ok(!a.includes('same password'));
  assert.equal(await verifyPassword('same password', b), true);
});

test('malformed or foreign stored hashes are refused, not thrown on', async () => {
  for (const stored of ['', 'plain', 'scrypt$x$8$1$abc$def', '$2b$10$abcdefghijklmnopqrstuv', 'scrypt$32768$8$1$c2FsdA$']) {
    assert.equal(await verifyPassword('anything', stored), false, stored);
  }
});

test('unicode passwords are normalised, so the same text typed differently still matches', async () => {
  const composed = 'caf\u00e9-passw0rd';
  const decomposed = 'cafe\u0301-passw0rd';
  const h = await hashPassword(composed);
  assert.equal(await verifyPassword(decomposed, h), true);
});
