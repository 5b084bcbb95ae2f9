import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { EngineError } from '../../agent/engine/errors';
import { domainListed, hostPlatform, MAX_MANIFEST_BYTES, MEDIA, RegistryClient, sha256Digest, verifyingStream } from '../../agent/engine/images/registry';

describe('registry client basics', () => {
  it('uses plain http only for loopback hosts or registries marked insecure', () => {
    assert.equal(new RegistryClient('127.0.0.1:5000').base, 'http://127.0.0.1:5000');
    assert.equal(new RegistryClient('127.9.8.7:1').base, 'http://127.9.8.7:1');
    assert.equal(new RegistryClient('localhost:5000').base, 'http://localhost:5000');
    assert.equal(new RegistryClient('[::1]:5000').base, 'http://[::1]:5000');
    assert.equal(new RegistryClient('registry.example.com').base, 'https://registry.example.com');
    assert.equal(new RegistryClient('128.0.0.1:5000').base, 'https://128.0.0.1:5000');
    assert.equal(new RegistryClient('docker.io').base, 'https://registry-1.docker.io');
    assert.equal(new RegistryClient('10.0.0.2:5000', {}, true).base, 'http://10.0.0.2:5000');
  });

  it('matches insecure-registry entries by host:port or bare host', () => {
    assert.ok(domainListed('10.0.0.2:5000', ['10.0.0.2:5000']));
    assert.ok(domainListed('10.0.0.2:5000', ['10.0.0.2']));
    assert.ok(!domainListed('10.0.0.2:5001', ['10.0.0.2:5000']));
    assert.ok(!domainListed('10.0.0.20:5000', ['10.0.0.2']));
  });

  it('maps the host architecture to an OCI platform', () => {
    const p = hostPlatform();
    assert.equal(p.os, 'linux');
    if (process.arch === 'x64') assert.equal(p.architecture, 'amd64');
    if (process.arch === 'arm64') assert.equal(p.architecture, 'arm64');
  });

  it('verifies a stream by digest and size only at its end', async () => {
    const data = Buffer.from('some blob content');
    const good = sha256Digest(data);
    const out: Buffer[] = [];
    await pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), verifyingStream(good, 'blob', data.length), async function* (src) {
      for await (const c of src) out.push(c as Buffer);
    });
    assert.deepEqual(Buffer.concat(out), data);
    await assert.rejects(pipeline(Readable.from([Buffer.from('tampered content!')]), verifyingStream(good, 'blob x'), async function* (src) {
      for await (const _ of src) void _;
    }), /blob x: digest mismatch: expected sha256:/);
    await assert.rejects(pipeline(Readable.from([data, Buffer.from('more')]), verifyingStream(good, 'blob y', data.length), async function* (src) {
      for await (const _ of src) void _;
    }), /more than the 17 bytes/);
    assert.throws(() => verifyingStream('md5:abc', 'z'), /unsupported digest/);
  });
});

describe('registry client limits', () => {
  it('refuses a manifest over 4 MiB, whether or not the registry declares its length', async () => {
    const { createServer } = await import('node:http');
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [], pad: 'x'.repeat(MAX_MANIFEST_BYTES) }));
    const small = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { digest: 'sha256:' + 'a'.repeat(64) }, layers: [] }));
    const server = createServer((req, res) => {
      res.setHeader('content-type', MEDIA.dockerManifest);
      if (req.url === '/v2/r/manifests/declared') res.setHeader('content-length', big.length);
      if (req.url === '/v2/r/manifests/small') return res.end(small);
      // Chunked when no length is set: the client must count as it reads.
      res.write(big.subarray(0, 1 << 20));
      res.end(big.subarray(1 << 20));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new RegistryClient(`127.0.0.1:${(server.address() as { port: number }).port}`);
      for (const tag of ['declared', 'chunked'])
        await assert.rejects(client.getManifest('r', tag), (e: unknown) => e instanceof EngineError && e.status === 502 && /larger than 4194304 bytes/.test(e.message));
      const ok = await client.getManifest('r', 'small');
      assert.deepEqual(ok.bytes, small);
      assert.equal(ok.digest, sha256Digest(small));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
