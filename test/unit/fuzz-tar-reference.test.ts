// Property-based fuzzing (fast-check) of two parsers that read what others send: the tar
// reader (layers, archives, docker cp) and the image reference parser. In `npm test` a
// fixed seed and a few hundred runs each; `npm run fuzz` runs many more (FUZZ_RUNS,
// default 20000) from a fresh seed, printed so a failure can be replayed with FUZZ_SEED.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EngineError } from '../../agent/engine/errors';
import { familiarString, fullName, parseReference } from '../../agent/engine/images/reference';
import { extractLayer } from '../../agent/engine/layers/extract';
import { readTar, TarFormatError } from '../../agent/engine/layers/tar';
import { tarBuffer, type TarWriteEntry } from '../fixtures/tar';

const longRun = process.env.FUZZ_RUNS !== undefined;
const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : longRun ? Date.now() % 2 ** 31 : 20261201;
if (longRun) console.log(`fuzz: ${runs} runs per property, seed ${seed} (replay with FUZZ_SEED=${seed})`);
const params = (n = runs) => ({ seed, numRuns: n, endOnFailure: true });

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Reads every entry and body; returns the paths, or the error it stopped with. */
async function readAll(buf: Buffer, chunk: number): Promise<{ paths: string[] } | { error: unknown }> {
  const paths: string[] = [];
  try {
    for await (const e of readTar(chunks(buf, chunk))) {
      paths.push(e.header.path);
      if (e.buffered === undefined) for await (const _ of e.body) void _;
    }
    return { paths };
  } catch (error) {
    return { error };
  }
}

/** Re-stamps the checksum of the header block at `off`, so a mutated header gets past it. */
function fixChecksum(buf: Buffer, off: number): void {
  if (off + 512 > buf.length) return;
  buf.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += buf[off + i];
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', off + 148, 8, 'ascii');
}

const entryArb: fc.Arbitrary<TarWriteEntry> = fc.oneof(
  fc.record({ path: fc.stringMatching(/^[a-z0-9._/-]{1,120}$/), type: fc.constant('file' as const), data: fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)), mode: fc.integer({ min: 0, max: 0o7777 }) }),
  fc.record({ path: fc.stringMatching(/^[a-z0-9._/-]{1,120}$/), type: fc.constant('directory' as const), mode: fc.constant(0o755) }),
  fc.record({ path: fc.stringMatching(/^[a-z0-9._/-]{1,40}$/), type: fc.constant('symlink' as const), linkpath: fc.stringMatching(/^[a-z0-9./-]{0,150}$/) }),
  fc.record({ path: fc.stringMatching(/^[a-z0-9._/-]{1,40}$/), type: fc.constant('hardlink' as const), linkpath: fc.stringMatching(/^[a-z0-9./-]{1,40}$/) }),
);

describe('fuzzing the tar reader', () => {
  it('arbitrary bytes end in entries or a TarFormatError, never another error or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 1024 }), async (bytes, chunk) => {
        const r = await readAll(Buffer.from(bytes), chunk);
        if ('error' in r) assert.ok(r.error instanceof TarFormatError, String(r.error));
      }),
      params(),
    );
  });

  it('a valid archive reads back the same in any chunking; a mutated one fails only as a TarFormatError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 700 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        async (entries, chunk, flips) => {
          const tar = tarBuffer(entries);
          const clean = await readAll(tar, chunk);
          assert.ok('paths' in clean, 'error' in clean ? String(clean.error) : '');
          assert.equal(clean.paths.length, entries.length);
          const bad = Buffer.from(tar);
          for (const [pos, byte] of flips) {
            const at = pos % bad.length;
            bad[at] = byte;
            fixChecksum(bad, at - (at % 512));
          }
          const r = await readAll(bad, chunk);
          if ('error' in r) assert.ok(r.error instanceof TarFormatError, String(r.error));
        },
      ),
      params(),
    );
  });

  it('extracting a mutated archive writes nothing outside the layer root and fails only with the extractor\'s own errors', async () => {
    const base = mkdtempSync(join(tmpdir(), 'berth-fuzz-'));
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              entryArb,
              // The hostile shapes, more often than chance would give them.
              fc.record({ path: fc.constantFrom('../x', '/abs', 'a/../../x', 'ln/x', '.wh.a', '.wh..wh..opq', 'd/.wh..', './'), type: fc.constant('file' as const), data: fc.constant(Buffer.from('x')) }),
              fc.record({ path: fc.constant('ln'), type: fc.constant('symlink' as const), linkpath: fc.constantFrom('/', '..', '../..', '/etc') }),
            ),
            { minLength: 1, maxLength: 8 },
          ),
          async (entries) => {
            const dir = join(base, String(n++));
            const root = join(dir, 'root');
            const { mkdirSync } = await import('node:fs');
            mkdirSync(root, { recursive: true });
            try {
              await extractLayer(chunks(tarBuffer(entries), 333), root, { devices: 'refuse' });
            } catch (e) {
              assert.ok(e instanceof EngineError || e instanceof TarFormatError, String(e));
            }
            assert.deepEqual(readdirSync(dir), ['root'], 'nothing beside the layer root');
            rmSync(dir, { recursive: true, force: true });
          },
        ),
        params(Math.max(20, Math.floor(runs / 10))),
      );
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/).filter((s) => s.length > 0 && s.length <= 30);
const domainArb = fc.oneof(
  fc.constant('docker.io'),
  fc.constant('localhost'),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `127.0.0.${a}:${p}`),
  fc.tuple(component, component).map(([a, b]) => `${a.replace(/[_]/g, '')}.${b.replace(/[_]/g, '')}`).filter((d) => /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(d) && !d.includes('..') && !/-\.|\.-/.test(d)),
);

describe('fuzzing the reference parser', () => {
  it('any string parses to a reference or is refused as "invalid reference format", never anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^[a-zA-Z0-9:/@._-]{0,80}$/)), (s) => {
        try {
          const r = parseReference(s);
          assert.ok(r.domain && r.path && (r.tag || r.digest));
        } catch (e) {
          assert.ok(e instanceof EngineError && e.status === 400 && /^invalid reference format/.test(e.message), String(e));
        }
      }),
      params(runs * 5),
    );
  });

  it('a parsed reference prints back to the same reference, in full and in familiar form', () => {
    fc.assert(
      fc.property(
        domainArb,
        fc.array(component, { minLength: 1, maxLength: 3 }),
        fc.option(fc.stringMatching(/^\w[\w.-]{0,40}$/), { nil: undefined }),
        fc.option(fc.stringMatching(/^[a-f0-9]{64}$/), { nil: undefined }),
        (domain, parts, tag, hex) => {
          const input = `${domain}/${parts.join('/')}${tag ? `:${tag}` : ''}${hex ? `@sha256:${hex}` : ''}`;
          if (input.length > 255 + 200) return;
          let r;
          try {
            r = parseReference(input);
          } catch (e) {
            // Only length is allowed to refuse a name made of valid parts.
            assert.match((e as Error).message, /longer than 255/);
            return;
          }
          assert.deepEqual(parseReference(fullName(r)), r);
          assert.deepEqual(parseReference(familiarString(r)), r);
          if (tag) assert.equal(r.tag, tag);
          if (hex) assert.equal(r.digest, `sha256:${hex}`);
        },
      ),
      params(runs * 5),
    );
  });
});
