// Reading a log view as a reader would. The viewer draws only the lines in view (and a
// margin), so "every line the page shows" is read by scrolling it from the top to the
// bottom a screen at a time; the view is left following at the bottom again (unless asked not to:
// in a stretch of history, "jump to latest" leaves it).
import type { Page } from 'playwright-core';

export interface ShownLine {
  seq: number;
  stream: string;
  text: string;
}

/** Two frames after a scroll: its event, then the rows it draws. */
const SETTLE = 'new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))';

export async function readLogLines(page: Page, { follow = true }: { follow?: boolean } = {}): Promise<ShownLine[]> {
  const box = page.getByTestId('log-viewer');
  await box.evaluate((el) => el.scrollTo({ top: 0 }));
  await page.evaluate(SETTLE);
  const bySeq = new Map<number, ShownLine>();
  for (let guard = 0; guard < 5000; guard++) {
    const rows = await page.getByTestId('log-line').evaluateAll((els) =>
      els.map((el) => ({ seq: Number(el.getAttribute('data-seq')), stream: el.getAttribute('data-stream') ?? '', text: (el.textContent ?? '').trim() })),
    );
    for (const r of rows) bySeq.set(r.seq, r);
    const moved = await box.evaluate((el) => {
      const before = el.scrollTop;
      el.scrollBy({ top: el.clientHeight });
      return el.scrollTop > before;
    });
    await page.evaluate(SETTLE);
    if (!moved) break;
  }
  const jump = page.getByTestId('log-jump');
  if (follow && (await jump.count())) await jump.click();
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** How many lines the view holds (drawn or not). */
export async function heldLines(page: Page): Promise<number> {
  return Number(await page.getByTestId('log-count').getAttribute('data-count'));
}

/** Until the view holds at least `n` lines. */
export async function untilHeld(page: Page, n: number, timeout?: number): Promise<void> {
  await page.waitForFunction((k) => Number(document.querySelector('[data-testid=log-count]')?.getAttribute('data-count')) >= k, n, timeout ? { timeout } : undefined);
}
