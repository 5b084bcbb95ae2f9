// A unified diff of two texts by lines (longest common subsequence), as `diff -u` prints it:
// for the audit trail of a stack's compose file and the stack page's "what changes".
// Pure, no Node imports.

/** Cells of the LCS table beyond which the diff is given up for a plain "replaced" note. */
const MAX_CELLS = 4_000_000;

export function unifiedDiff(before: string, after: string, opts: { from?: string; to?: string; context?: number } = {}): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const head = `--- ${opts.from ?? 'a'}\n+++ ${opts.to ?? 'b'}\n`;
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) return `${head}@@ the whole file changed (${a.length} → ${b.length} lines; too large to compare line by line) @@\n`;
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  const w = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
  const ops: Array<{ t: ' ' | '-' | '+'; line: string; ai: number; bi: number }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ t: ' ', line: a[i++], ai: i, bi: ++j });
    // Deletions before insertions, as diff prints a changed line.
    else if (i < a.length && (j >= b.length || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) ops.push({ t: '-', line: a[i++], ai: i, bi: j });
    else ops.push({ t: '+', line: b[j++], ai: i, bi: j });
  }
  const ctx = opts.context ?? 3;
  let out = head;
  for (let k = 0; k < ops.length; ) {
    if (ops[k].t === ' ') {
      k++;
      continue;
    }
    // A hunk: from `ctx` lines before this change to `ctx` lines after the last change closer than 2*ctx.
    const start = Math.max(0, k - ctx);
    let end = k;
    for (let m = k; m < ops.length; m++) {
      if (ops[m].t !== ' ') end = m;
      else if (m - end > 2 * ctx) break;
    }
    const stop = Math.min(ops.length, end + ctx + 1);
    const slice = ops.slice(start, stop);
    const aStart = countBefore(ops, start, '+');
    const bStart = countBefore(ops, start, '-');
    const aLen = slice.filter((o) => o.t !== '+').length;
    const bLen = slice.filter((o) => o.t !== '-').length;
    // As diff writes a range: "start,len", "start" alone for one line, the line before for none.
    const range = (from: number, len: number) => (len === 1 ? `${from + 1}` : `${len ? from + 1 : from},${len}`);
    out += `@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@\n`;
    for (const o of slice) out += `${o.t}${o.line}\n`;
    k = stop;
  }
  return out;
}

function countBefore(ops: Array<{ t: string }>, upto: number, skip: string): number {
  let n = 0;
  for (let k = 0; k < upto; k++) if (ops[k].t !== skip) n++;
  return n;
}

function splitLines(s: string): string[] {
  if (!s) return [];
  const lines = s.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
