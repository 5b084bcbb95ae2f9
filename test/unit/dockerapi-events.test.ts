// The /events feed against a reader that stops reading. The engine here is a stand-in
// event source: what is under test is only the API's buffering, and a real engine cannot
// make thousands of events quickly.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startDockerApi } from '../../agent/dockerapi/server';
import { EngineError } from '../../agent/engine/errors';
import type { Engine, EngineEvents } from '../../agent/engine/types';

class EventSource extends EventEmitter<EngineEvents> {
  readonly images = { get: () => undefined };
  inspect(id: string): never {
    throw new EngineError(404, `No such container: ${id}`);
  }
}

describe('docker events', () => {
  it('cuts off a reader that stopped reading instead of buffering for it without bound', { timeout: 20_000 }, async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-events-'));
    const source = new EventSource();
    const api = await startDockerApi({ engine: source as unknown as Engine, socketPath: path.join(tmp, 'api.sock') });
    try {
      // The response's socket closing, wrapped so that awaiting the request does not also wait for it.
      const { closed } = await new Promise<{ closed: Promise<void> }>((resolve, reject) => {
        const req = http.get({ socketPath: api.socketPath, path: '/v1.41/events' }, (res) => {
          assert.equal(res.statusCode, 200);
          res.pause();
          resolve({ closed: new Promise((r) => res.socket.once('close', () => r())) });
        });
        req.on('error', reject);
        setTimeout(() => reject(new Error('no answer from /events')), 5000).unref();
      });
      assert.equal(source.listenerCount('container'), 1);
      const id = 'f'.repeat(64);
      for (let i = 0; i < 50_000 && source.listenerCount('container') > 0; i++) source.emit('container', { action: 'die', id, exitCode: i });
      assert.equal(source.listenerCount('container'), 0, 'the feed is still subscribed');
      assert.equal(source.listenerCount('image'), 0);
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), 5000).unref())]);
    } finally {
      await api.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
