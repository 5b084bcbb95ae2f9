// Loaded into each control-plane process by bench/fleet.ts (node --import, with
// BERTH_BENCH_LOOP_DIR set): how late the event loop ran, one line a second to
// DIR/<pid>.log ("<epoch ms> <p99 ms> <max ms>"), so that the bench can tell a delivery that
// waited for a stalled process from one that waited in a queue. Not part of the product:
// plain JavaScript, as it loads before tsx does.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dir = process.env.BERTH_BENCH_LOOP_DIR;
if (dir) {
  const file = `${dir}/${process.pid}.log`;
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  setInterval(() => {
    appendFileSync(file, `${Date.now()} ${(h.percentile(99) / 1e6).toFixed(1)} ${(h.max / 1e6).toFixed(1)}\n`);
    h.reset();
  }, 1000).unref();
}
