// `npm run bench`: each benchmark does the same work Berth's way and another way in the
// same run and prints the ratio, so a noisy machine shows as noise, not as a result.
import { benchLayerUnpack, type Shape } from './layer-unpack';

const shapes: Shape[] = [
  { name: '5,000 files of 4 KiB', files: 5000, fileBytes: 4096 },
  { name: '64 files of 1 MiB', files: 64, fileBytes: 1 << 20 },
];

console.log('layer unpack (gzip), median of 5: Berth extractor vs GNU tar -xzf');
for (const shape of shapes) {
  const r = await benchLayerUnpack(shape);
  console.log(`  ${shape.name.padEnd(24)} berth ${r.berthMs.toFixed(0).padStart(6)} ms   tar ${r.tarMs.toFixed(0).padStart(6)} ms   ratio ${r.ratio.toFixed(2)}`);
}
