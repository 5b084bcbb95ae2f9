// The log viewer over the agents' history, in Chromium, against the real control plane
// and two real agents (two hosts): scrolling back through rotated files, a jump to a time,
// a search with highlights over the whole rotated history (highlight and only-matches modes,
// n of m, a match in context, a bad regex), downloads checked line for line against what
// the agent's own Docker API says the container printed, a merged view across the two
// hosts, a removed container's log found under its name and searched, and the open page
// carrying on without a reload after a control-plane restart and an agent restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { readLogLines } from './support/log-lines';
import { signedInPage } from './support/pages';
import { cgroupParentFor } from '../../agent/engine/index';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually, ensureNextBuild, freePort, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';

const ADMIN = { email: 'hanna@example.test', name: 'Hanna History', password: 'history-pass-1234' };
const PATIENCE_MS = 60_000;
// The agent's reconnect back-off alone may take up to 45 s after the control plane is back.
const RECOVER_MS = 180_000;
const SHOTS = path.join(ROOT, 'test-results');
const ROWS = 3000;
const NEEDLE_EVERY = 300;
// Rows of ~60 bytes (~130 in json-file): 3000 of them fill about eight 50 kB files.
// Two pauses (before rows 1500 and 2500) give the since/until test whole seconds to cut at.
const ROTOR = `i=0; while [ $i -lt ${ROWS} ]; do n=$(printf %04d $i); if [ $i -eq 1500 ] || [ $i -eq 2500 ]; then sleep 2.2; fi; if [ $((i % ${NEEDLE_EVERY})) -eq 7 ]; then echo "row $n NEEDLE-$n the rare one"; else echo "row $n padding padding padding padding"; fi; i=$((i+1)); done; echo rotor-done; sleep 100000`;
const ticker = (word: string) => `i=0; while true; do echo "${word} $i"; i=$((i+1)); sleep 0.2; done`;

interface Host {
  root: string;
  socket: string;
  agent?: Child;
  id: string;
}

describe('the log viewer over history, search, download, merged hosts, kept logs and outages', { timeout: 30 * 60_000 }, () => {
  const STEP = { timeout: 8 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let port: number;
  let tmp: string;
  let image: string;
  const hosts: Host[] = [];
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const made: Array<{ host: Host; id: string }> = [];
  const problems: string[] = [];
  let rotorId: string;

  function docker(h: Host, args: string[], timeoutSec = 60): string {
    const r = spawnSync('timeout', ['-k', '5', String(timeoutSec), 'docker', '-H', `unix://${h.socket}`, ...args], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  }
  function run(h: Host, name: string, script: string, extra: string[] = []): string {
    const id = docker(h, ['run', '-d', '--name', name, ...extra, image, 'sh', '-c', script]).trim();
    made.push({ host: h, id });
    return id;
  }
  const startAgent = (h: Host, extra: string[]) => spawnTsx(['agent/main.ts', '--root', h.root, '--docker-socket', h.socket, '--server', cp.url, ...extra], {}, 'agent');
  const agentConnected = (a: Child, from = 0) => eventually('the agent connected', () => a.lines.slice(from).some((l) => /connected to .* as host \S+/.test(l)), RECOVER_MS, 100);

  const newPage = (): Promise<Page> =>
    signedInPage(browser!, cp.url, ADMIN, { problems, contexts, timeoutMs: PATIENCE_MS, context: { acceptDownloads: true }, prepare: (c) => c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cp.url }) });
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.locator('[data-testid=log-panel]:visible').screenshot({ path: path.join(SHOTS, `logs-${name}.png`) });
  };
  const panel = (page: Page) => page.locator('[data-testid=log-panel]:visible');
  const line = (page: Page, text: string | RegExp) => panel(page).getByTestId('log-line').filter({ hasText: text });
  const viewer = (page: Page) => panel(page).getByTestId('log-viewer');
  const shownTexts = (page: Page) => panel(page).getByTestId('log-text').allTextContents();
  const count = async (page: Page) => Number(await panel(page).getByTestId('log-count').getAttribute('data-count'));

  /** What the container printed, by the agent's own Docker API (stdout and stderr, in order), one string a line. */
  const printed = (h: Host, id: string) => docker(h, ['logs', id], 120).split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');

  async function download(page: Page): Promise<string> {
    const [dl] = await Promise.all([page.waitForEvent('download'), panel(page).getByTestId('log-download').click()]);
    const file = path.join(tmp, `dl-${Date.now()}`);
    await dl.saveAs(file);
    return readFileSync(file, 'utf8');
  }
  async function openDownloads(page: Page) {
    const menu = panel(page).getByTestId('log-download-menu');
    if (!(await menu.evaluate((el) => (el as HTMLDetailsElement).open))) await menu.locator('summary').click();
  }

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'history/busybox', 'v1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-loghist-'));
    port = await freePort();
    cp = await startControlPlane(undefined, { port });
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    const api = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    for (const name of ['alpha', 'beta']) {
      const h: Host = { root: path.join(tmp, `${name}-root`), socket: path.join(tmp, `${name}.sock`), id: '' };
      const { token } = await api.hosts.createJoinToken.mutate({ name });
      h.agent = startAgent(h, ['--token', token]);
      h.id = /as host (\S+)/.exec(await h.agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
      docker(h, ['pull', image], 180);
      hosts.push(h);
    }
    rotorId = run(hosts[0], 'rotor', ROTOR, ['--log-opt', 'max-size=50k', '--log-opt', 'max-file=20']);
    await eventually('the rotor printed everything', () => docker(hosts[0], ['logs', '--tail', '1', rotorId]).includes('rotor-done'), 120_000, 200);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      for (const { host, id } of made) {
        try {
          docker(host, ['rm', '-f', id]);
        } catch (err) {
          if (!/No such container/.test((err as Error).message)) console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      for (const h of hosts) await h.agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      for (const h of hosts) {
        try {
          removeCgroupParent(cgroupParentFor(h.root));
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      if (tmp) {
        const left = mountsUnder(tmp);
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
      }
    }
  });

  test('scrolling up loads the rotated history page by page, to the very first line; a jump to a time lands there', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page, 'rotor-done').waitFor();
    assert.ok((await count(page)) < ROWS, 'the page opened with a tail, not the whole log');
    for (let i = 0; i < 20 && !(await line(page, 'row 0000').count()); i++) {
      await viewer(page).evaluate((el) => el.scrollTo({ top: 0 }));
      await page.waitForFunction(() => !document.querySelector('[data-testid=log-loading-older]'));
      await page.waitForTimeout(100);
    }
    await line(page, 'row 0000 padding').waitFor();
    assert.equal(await count(page), ROWS + 1, 'every line once: the rows and rotor-done');
    // What the page holds is what the container printed, in order: read it back a screen at a time.
    const bySeq = new Map<number, string>();
    for (let guard = 0; guard < 400; guard++) {
      const rows = await panel(page).getByTestId('log-line').evaluateAll((els) => els.map((el) => ({ seq: Number(el.getAttribute('data-seq')), text: el.querySelector('[data-testid=log-text]')?.textContent ?? '' })));
      for (let i = 1; i < rows.length; i++) assert.ok(rows[i].seq > rows[i - 1].seq, 'the lines drawn are in order');
      for (const r of rows) bySeq.set(r.seq, r.text);
      const moved = await viewer(page).evaluate(
        (el) =>
          new Promise<boolean>((resolve) => {
            const before = el.scrollTop;
            el.scrollBy({ top: el.clientHeight });
            // Two frames: the scroll event, then the lines it draws.
            requestAnimationFrame(() => requestAnimationFrame(() => resolve(el.scrollTop > before)));
          }),
      );
      if (!moved) break;
    }
    const seen = [...bySeq].sort((a, b) => a[0] - b[0]).map(([, t]) => t);
    assert.deepEqual(seen, printed(hosts[0], rotorId), 'the page shows every line the agent kept, once, in order');
    await viewer(page).evaluate((el) => el.scrollTo({ top: el.scrollHeight / 3 }));
    await shot(page, 'history-scrolled');

    // Jump to the time of row 1500 (as the agent recorded it).
    const stamped = docker(hosts[0], ['logs', '-t', rotorId]).split('\n');
    const at = stamped.find((l) => l.includes('row 1500 '))!.split(' ')[0];
    const local = new Date(Date.parse(at));
    const pad = (n: number) => String(n).padStart(2, '0');
    // datetime-local is to the second: the first line of that second comes first.
    const value = `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())}T${pad(local.getHours())}:${pad(local.getMinutes())}:${pad(local.getSeconds())}`;
    const page2 = await newPage();
    await page2.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page2, 'rotor-done').waitFor();
    await panel(page2).getByTestId('log-jump-time').fill(value);
    await panel(page2).getByTestId('log-jump-go').click();
    await page2.locator('[data-testid=log-status][data-state=history]').waitFor();
    const firstOfSecond = stamped.find((l) => Date.parse(l.split(' ')[0]) >= Math.floor(Date.parse(at) / 1000) * 1000)!;
    const want = firstOfSecond.slice(firstOfSecond.indexOf(' ') + 1);
    await page2.waitForFunction((w) => {
      const box = document.querySelector('[data-testid=log-viewer]')!;
      const top = box.getBoundingClientRect().top;
      const first = [...box.querySelectorAll('[data-testid=log-line]')].find((el) => el.getBoundingClientRect().bottom > top + 2);
      return first?.querySelector('[data-testid=log-text]')?.textContent === w;
    }, want);
    await shot(page2, 'history-jump');
    // Back to the newest lines.
    await panel(page2).getByTestId('log-follow').click();
    await line(page2, 'rotor-done').waitFor();
  });

  test('since/until shows just that stretch of the history; clearing it follows the newest lines again', STEP, async () => {
    const stamped = docker(hosts[0], ['logs', '-t', rotorId]).trim().split('\n');
    const timeOf = (row: string) => Date.parse(stamped.find((l) => l.includes(`row ${row} `))!.split(' ')[0]);
    const pad = (n: number) => String(n).padStart(2, '0');
    // datetime-local is to the second, in the browser's zone (this machine's).
    const local = (ms: number) => {
      const d = new Date(ms);
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    };
    const since = Math.floor(timeOf('1500') / 1000) * 1000;
    const until = Math.floor(timeOf('2500') / 1000) * 1000;
    const want = stamped.filter((l) => Date.parse(l.split(' ')[0]) >= since && Date.parse(l.split(' ')[0]) < until).map((l) => l.slice(l.indexOf(' ') + 1));
    assert.equal(want.length, 1000, 'rows 1500 to 2499 (the pauses put whole seconds around them)');
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page, 'rotor-done').waitFor();
    await panel(page).getByTestId('log-since').fill(local(since));
    await panel(page).getByTestId('log-until').fill(local(until));
    await panel(page).getByTestId('log-range-apply').click();
    await page.locator('[data-testid=log-status][data-state=history]').waitFor();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=log-count]')?.getAttribute('data-count')) === n, want.length);
    const shown = (await readLogLines(page, { follow: false })).map((l) => l.text);
    assert.deepEqual(shown, want, 'exactly the lines printed in the range');
    await shot(page, 'range');
    await panel(page).getByTestId('log-range-clear').click();
    await line(page, 'rotor-done').waitFor();
    await page.locator('[data-testid=log-status][data-state=following]').waitFor();
  });

  test('search over the whole rotated history: highlights, n of m, next into history, only-matches, a match in context, a bad regex', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page, 'rotor-done').waitFor();
    const expected = printed(hosts[0], rotorId).filter((l) => l.includes('NEEDLE'));
    assert.equal(expected.length, ROWS / NEEDLE_EVERY);
    await panel(page).getByTestId('log-search').fill('needle-');
    await panel(page).getByTestId('log-search').press('Enter');
    await panel(page).locator('[data-testid=log-search-count][data-done=true]').waitFor();
    assert.equal(await panel(page).getByTestId('log-search-count').getAttribute('data-found'), String(expected.length));
    // The first match is far back in the rotated files: next goes there.
    await panel(page).getByTestId('log-search-next').click();
    assert.match((await panel(page).getByTestId('log-search-count').textContent()) ?? '', new RegExp(`^1 of ${expected.length}`));
    await line(page, 'NEEDLE-0007').waitFor();
    const mark = line(page, 'NEEDLE-0007').getByTestId('log-match');
    assert.equal(await mark.textContent(), 'NEEDLE-', 'the matched text is marked, case-insensitively');
    assert.equal(await mark.getAttribute('data-current'), 'true');
    // Its neighbours are there: it is shown in context.
    await line(page, 'row 0006 padding').waitFor();
    await line(page, 'row 0008 padding').waitFor();
    await shot(page, 'search-highlight');
    await panel(page).getByTestId('log-search-next').click();
    await line(page, 'NEEDLE-0307').waitFor();
    assert.match((await panel(page).getByTestId('log-search-count').textContent()) ?? '', new RegExp(`^2 of ${expected.length}`));

    // Only the matches.
    await panel(page).getByTestId('log-search-mode').selectOption('filter');
    await page.waitForFunction((n) => {
      const p = [...document.querySelectorAll('[data-testid=log-panel]')].find((el) => (el as HTMLElement).offsetParent !== null);
      return p?.querySelectorAll('[data-testid=log-line]').length === n;
    }, expected.length);
    assert.deepEqual(await shownTexts(page), expected);
    assert.equal(await panel(page).getByTestId('log-match').count(), expected.length);
    await shot(page, 'search-filter');
    // A match clicked: back among its neighbours.
    await line(page, 'NEEDLE-2107').getByTestId('log-context').click();
    await line(page, 'row 2106 padding').waitFor();
    await line(page, 'row 2108 padding').waitFor();
    assert.equal(await line(page, 'NEEDLE-2107').getByTestId('log-match').getAttribute('data-current'), 'true');

    // Case: NEEDLE in capitals only with the toggle on; a regex; a bad regex is said and nothing is searched.
    await panel(page).getByTestId('log-search-case').check();
    await panel(page).getByTestId('log-search').fill('needle-');
    await panel(page).getByTestId('log-search').press('Enter');
    await panel(page).locator('[data-testid=log-search-count][data-done=true]').waitFor();
    assert.equal(await panel(page).getByTestId('log-search-count').getAttribute('data-found'), '0');
    await panel(page).getByTestId('log-search-case').uncheck();
    await panel(page).getByTestId('log-search-regex').check();
    await panel(page).getByTestId('log-search').fill('NEEDLE-(00|27)07');
    await panel(page).getByTestId('log-search').press('Enter');
    try {
      await panel(page).locator('[data-testid=log-search-count][data-done=true][data-found="2"]').waitFor({ timeout: 20_000 });
    } catch (err) {
      await shot(page, 'debug-regex');
      throw err;
    }
    await panel(page).getByTestId('log-search').fill('row (');
    const err = panel(page).getByTestId('log-search-error');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /bad regular expression: .*(Unterminated group|missing \))/i);
    await shot(page, 'search-bad-regex');
  });

  test('downloads: the whole log, JSON lines, the selected lines and the matches, each line for line as printed', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page, 'rotor-done').waitFor();
    const want = printed(hosts[0], rotorId);
    await openDownloads(page);
    const text = await download(page);
    assert.deepEqual(text.split('\n').slice(0, -1), want, 'the text download is the log as printed');
    await openDownloads(page);
    await panel(page).getByTestId('log-download-jsonl').check();
    const jsonl = (await download(page)).trim().split('\n').map((l) => JSON.parse(l) as { line: string; stream: string; time: string; seq: number });
    assert.deepEqual(jsonl.map((e) => e.line.replace(/\n$/, '')), want);
    assert.ok(jsonl.every((e, i) => e.stream === 'stdout' && (i === 0 || e.seq > jsonl[i - 1].seq)));

    // Select four lines of the tail (a click, then a shift-click) and download just those.
    await line(page, 'row 2990 ').getByTestId('log-select').click();
    await line(page, 'row 2993 ').getByTestId('log-select').click({ modifiers: ['Shift'] });
    assert.match((await panel(page).getByTestId('log-selection').textContent()) ?? '', /4 lines selected/);
    await panel(page).getByTestId('log-copy').click();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert.deepEqual(clip.split('\n'), want.slice(2990, 2994), 'copy gives the selected lines');
    await openDownloads(page);
    await panel(page).getByTestId('log-download-text').check();
    await panel(page).getByTestId('log-download-selection').check();
    assert.deepEqual((await download(page)).split('\n').slice(0, -1), want.slice(2990, 2994));
    // The matches of a search.
    await panel(page).getByTestId('log-search').fill('NEEDLE');
    await panel(page).getByTestId('log-search').press('Enter');
    await panel(page).locator('[data-testid=log-search-count][data-done=true]').waitFor();
    await openDownloads(page);
    await panel(page).getByTestId('log-download-matches').check();
    await shot(page, 'download-menu');
    assert.deepEqual((await download(page)).split('\n').slice(0, -1), want.filter((l) => l.includes('NEEDLE')));
  });

  test('a link to a range of lines opens scrolled there with them selected', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}`);
    await line(page, 'rotor-done').waitFor();
    await line(page, 'row 2995 ').getByTestId('log-select').click();
    await line(page, 'row 2997 ').getByTestId('log-select').click({ modifiers: ['Shift'] });
    await panel(page).getByTestId('log-copy-link').click();
    const link = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(link, /#logs=\d+-\d+$/);
    const other = await newPage();
    await other.goto(link);
    await other.locator('[data-testid=log-line][data-selected=true]').first().waitFor();
    const selected = await other.locator('[data-testid=log-line][data-selected=true] [data-testid=log-text]').allTextContents();
    assert.deepEqual(selected.map((t) => t.slice(0, 8)), ['row 2995', 'row 2996', 'row 2997']);
    assert.ok(await other.locator('[data-testid=log-line][data-selected=true]').first().isVisible());
    // A range far back in the rotated files: the page fetches the lines around it.
    const firstSeq = Number(new URL(link).hash.split('=')[1].split('-')[0]);
    const deep = await newPage();
    const printedSeqs = (await trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password)).logs.page.query({ source: { hostId: hosts[0].id, containerId: rotorId }, after: 0, limit: 20 })).entries;
    assert.ok(printedSeqs[10].seq < firstSeq);
    await deep.goto(`${cp.url}/hosts/${hosts[0].id}/containers/${rotorId}#logs=${printedSeqs[10].seq}-${printedSeqs[12].seq}`);
    await deep.locator('[data-testid=log-line][data-selected=true]').first().waitFor();
    assert.deepEqual((await deep.locator('[data-testid=log-line][data-selected=true] [data-testid=log-text]').allTextContents()).map((t) => t.slice(0, 8)), ['row 0010', 'row 0011', 'row 0012']);
    await shot(deep, 'link-range');
  });

  test('a merged view of containers on two hosts: interleaved by time, a coloured prefix each', STEP, async () => {
    const a = run(hosts[0], 'alpha-ticker', ticker('alpha'));
    const b = run(hosts[1], 'beta-ticker', ticker('beta'));
    const page = await newPage();
    await page.goto(`${cp.url}/logs`);
    await page.locator(`[data-testid=log-pick][data-source="${hosts[0].id}/${a}"] input`).check();
    await page.locator(`[data-testid=log-pick][data-source="${hosts[1].id}/${b}"] input`).check();
    // Any line of each: the view follows the newest, so on a slow machine an early line may
    // already be above the rows it draws (the list is virtual) by the time the page is open.
    await line(page, /alpha \d+$/).first().waitFor({ timeout: RECOVER_MS });
    await line(page, /beta \d+$/).first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-prefix]').length >= 20);
    await panel(page).getByTestId('log-time-mode').selectOption('utc');
    const rows = await panel(page).getByTestId('log-line').evaluateAll((els) =>
      els.map((el) => ({ prefix: el.querySelector('[data-testid=log-prefix]')?.textContent ?? '', cls: el.querySelector('[data-testid=log-prefix]')?.className ?? '', time: el.querySelector('[data-testid=log-time]')?.textContent ?? '', text: el.querySelector('[data-testid=log-text]')?.textContent ?? '' })),
    );
    const alpha = rows.filter((r) => r.text.startsWith('alpha'));
    const beta = rows.filter((r) => r.text.startsWith('beta'));
    assert.ok(alpha.length >= 5 && beta.length >= 5, JSON.stringify(rows.slice(0, 5)));
    assert.ok(alpha.every((r) => r.prefix === 'alpha/alpha-ticker'), alpha[0].prefix);
    assert.ok(beta.every((r) => r.prefix === 'beta/beta-ticker'), beta[0].prefix);
    assert.notEqual(alpha[0].cls, beta[0].cls, 'each container its own colour');
    // Interleaved: the times never go back, and the two alternate rather than come in blocks.
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i].time >= rows[i - 1].time, `${rows[i - 1].time} then ${rows[i].time}`);
    let switches = 0;
    for (let i = 1; i < rows.length; i++) if (rows[i].text.split(' ')[0] !== rows[i - 1].text.split(' ')[0]) switches++;
    assert.ok(switches >= 6, `the hosts' lines interleave (${switches} switches)`);
    // Each host's own lines stay complete and in order.
    for (const [list, word] of [[alpha, 'alpha'], [beta, 'beta']] as const) {
      const nums = list.map((r) => Number(r.text.split(' ')[1]));
      for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1, `${word} ${nums[i - 1]} then ${nums[i]}`);
    }
    await shot(page, 'merged-two-hosts');
    // A search of the merged view goes to both agents.
    await panel(page).getByTestId('log-search').fill(' 3$');
    await panel(page).getByTestId('log-search-regex').check();
    await panel(page).getByTestId('log-search').press('Enter');
    await panel(page).locator('[data-testid=log-search-count][data-done=true]').waitFor();
    await panel(page).getByTestId('log-search-mode').selectOption('filter');
    try {
      await page.waitForFunction(() => {
        const p = [...document.querySelectorAll('[data-testid=log-panel]')].find((el) => (el as HTMLElement).offsetParent !== null);
        const t = [...(p?.querySelectorAll('[data-testid=log-text]') ?? [])].map((e) => e.textContent);
        return t.includes('alpha 3') && t.includes('beta 3');
      }, undefined, { timeout: 20_000 });
      // The matches keep their containers' prefixes, host and all.
      assert.deepEqual(new Set(await panel(page).getByTestId('log-prefix').allTextContents()), new Set(['alpha/alpha-ticker', 'beta/beta-ticker']));
    } catch (err) {
      await shot(page, 'debug-merged-search');
      throw err;
    }
    await shot(page, 'merged-search');
  });

  test('a stack\'s logs from the host page: its containers (by compose project) merged on the host\'s Logs page', STEP, async () => {
    const web = run(hosts[0], 'shop-web', ticker('web'), ['--label', 'com.docker.compose.project=shop']);
    const db = run(hosts[0], 'shop-db', ticker('db'), ['--label', 'com.docker.compose.project=shop']);
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}`);
    await page.getByTestId('host-stack-logs').filter({ hasText: /^shop$/ }).click();
    await page.waitForURL(/\/logs\?project=shop$/);
    await panel(page).getByTestId('log-text').filter({ hasText: /^web \d+$/ }).first().waitFor();
    await panel(page).getByTestId('log-text').filter({ hasText: /^db \d+$/ }).first().waitFor();
    const picked = await page.locator('[data-testid=log-pick] input:checked').evaluateAll((els) => els.map((el) => el.closest('[data-testid=log-pick]')!.getAttribute('data-source')));
    assert.deepEqual(picked.sort(), [`${hosts[0].id}/${web}`, `${hosts[0].id}/${db}`].sort(), 'the stack\'s containers, and only them');
    const prefixes = new Set(await panel(page).getByTestId('log-prefix').allTextContents());
    assert.deepEqual([...prefixes].sort(), ['alpha/shop-db', 'alpha/shop-web']);
    await shot(page, 'stack');
    docker(hosts[0], ['rm', '-f', web, db]);
  });

  test('a removed container\'s log stays listed under its name on the host page, readable and searchable', STEP, async () => {
    const id = run(hosts[0], 'ghost', `echo ghost says hello; echo GHOST-NEEDLE in the log; echo ghost says goodbye`);
    await eventually('ghost printed', () => docker(hosts[0], ['logs', id]).includes('goodbye'), 30_000, 100);
    const want = printed(hosts[0], id);
    docker(hosts[0], ['rm', '-f', id]);
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[0].id}`);
    const row = page.locator(`[data-testid=kept-log-row][data-container-name=ghost]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-container-id'), id);
    await row.getByTestId('kept-log-open').click();
    await line(page, 'ghost says goodbye').waitFor();
    assert.deepEqual(await shownTexts(page), want);
    await panel(page).getByTestId('log-search').fill('ghost-needle');
    await panel(page).getByTestId('log-search').press('Enter');
    await panel(page).locator('[data-testid=log-search-count][data-done=true][data-found="1"]').waitFor();
    assert.equal(await line(page, 'GHOST-NEEDLE').getByTestId('log-match').textContent(), 'GHOST-NEEDLE');
    await shot(page, 'kept-log');
  });

  test('the open page carries on after a control-plane restart and after an agent restart, without a reload, nothing lost or doubled', STEP, async () => {
    const id = run(hosts[1], 'steady', ticker('tick'));
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hosts[1].id}/containers/${id}`);
    await line(page, /^tick 3$/).waitFor();
    await page.evaluate(() => ((window as unknown as { __same: boolean }).__same = true));
    const ticks = async () => (await shownTexts(page)).map((t) => Number(/^tick (\d+)$/.exec(t)?.[1] ?? NaN));
    const unbroken = (nums: number[], what: string) => {
      for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1, `${what}: tick ${nums[i]} right after tick ${nums[i - 1]}`);
    };
    const latest = () => Number(/tick (\d+)/.exec(docker(hosts[1], ['logs', '--tail', '1', id]))![1]);

    const mark = hosts.map((h) => h.agent!.lines.length);
    await cp.stop();
    cp = await startControlPlane(cp.dataDir, { port });
    await Promise.all(hosts.map((h, i) => agentConnected(h.agent!, mark[i])));
    let target = latest();
    await line(page, new RegExp(`^tick ${target}$`)).waitFor({ timeout: RECOVER_MS });
    await page.locator('[data-testid=log-status][data-state=following]').waitFor({ timeout: RECOVER_MS });
    unbroken(await ticks(), 'after the control-plane restart');
    await shot(page, 'after-cp-restart');

    await hosts[1].agent!.kill('SIGTERM');
    await page.locator('[data-testid=log-status][data-state=host-offline]').waitFor({ timeout: RECOVER_MS });
    hosts[1].agent = startAgent(hosts[1], []);
    await agentConnected(hosts[1].agent);
    target = latest() + 2;
    await line(page, new RegExp(`^tick ${target}$`)).waitFor({ timeout: RECOVER_MS });
    unbroken(await ticks(), 'after the agent restart');
    assert.equal(await page.evaluate(() => (window as unknown as { __same?: boolean }).__same), true, 'no reload');
    assert.deepEqual(problems, [], 'no CSP violation or page error on any page');
  });
});
