// Unpacking a gzip layer: Berth's extractor (streaming tar reader + safety checks)
// against GNU tar doing the same work on the same file, interleaved so that machine
// noise hits both alike. Prints medians and the ratio (>1 = Berth is slower).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decompress, extractLayer } from '../agent/engine/layers/extract';
import { tarBuffer, type TarWriteEntry } from '../test/fixtures/tar';

export interface Shape {
  name: string;
  files: number;
  fileBytes: number;
}

function layer(shape: Shape): Buffer {
  const entries: TarWriteEntry[] = [];
  const dirs = Math.max(1, Math.ceil(shape.files / 100));
  for (let d = 0; d < dirs; d++) entries.push({ path: `d${d}/`, type: 'directory', mode: 0o755 });
  for (let i = 0; i < shape.files; i++) {
    // Half random, half zeros: gzip has real work to do and the files are not all alike.
    const data = Buffer.concat([randomBytes(shape.fileBytes >> 1), Buffer.alloc(shape.fileBytes - (shape.fileBytes >> 1))]);
    entries.push({ path: `d${i % dirs}/f${i}`, type: 'file', mode: 0o644, data, mtime: 1_700_000_000 });
  }
  return gzipSync(tarBuffer(entries));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function benchLayerUnpack(shape: Shape, rounds = 5): Promise<{ berthMs: number; tarMs: number; ratio: number }> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  try {
    const file = join(work, 'layer.tar.gz');
    writeFileSync(file, layer(shape));
    const berth: number[] = [];
    const tar: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = join(work, `berth-${r}`);
      mkdirSync(a);
      let t = performance.now();
      await extractLayer(decompress(createReadStream(file)), a);
      berth.push(performance.now() - t);

      const b = join(work, `tar-${r}`);
      mkdirSync(b);
      t = performance.now();
      const res = spawnSync('tar', ['-xzf', file, '-C', b, '--same-owner', '--preserve-permissions'], { stdio: 'inherit' });
      tar.push(performance.now() - t);
      if (res.status !== 0) throw new Error(`GNU tar failed (exit ${res.status})`);
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
    const berthMs = median(berth);
    const tarMs = median(tar);
    return { berthMs, tarMs, ratio: berthMs / tarMs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
