// The all-containers table's confirmation: what it names for each action, the update with
// each container's image and what the update will do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bulkSentence, type Picked } from '../../app/lib/fleet';

const picked: Picked[] = [
  { hostId: 'h1', id: 'a', name: 'web', hostName: 'one', image: 'reg:5000/web:stable' },
  { hostId: 'h1', id: 'b', name: 'db', hostName: 'one', image: 'reg:5000/db:16' },
  { hostId: 'h2', id: 'c', name: 'cache', hostName: 'two', image: 'reg:5000/cache:7' },
];

test('stop names the containers by host, without images', () => {
  assert.equal(bulkSentence('stop', picked), 'Stop 3 containers on 2 hosts: web, db on one; cache on two');
});

test('update names each container with its image, and says it pulls, keeps the old image and rolls back', () => {
  const s = bulkSentence('update', picked);
  assert.ok(s.startsWith('Update 3 containers on 2 hosts: web (reg:5000/web:stable), db (reg:5000/db:16) on one; cache (reg:5000/cache:7) on two. '), s);
  assert.match(s, /pulls its image's tag again/);
  assert.match(s, /the old image kept until the new container runs/);
  assert.match(s, /rolled back if it does not$/);
});
