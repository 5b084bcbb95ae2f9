// The log viewer in Chromium, against the real control plane and a real agent whose
// containers print what logs hold in the wild: ANSI colours and styles, JSON lines, stack
// traces, stderr, a million lines. What the page shows is checked against what the
// container printed (read back through the agent's own Docker API), and screenshots of
// each mode go to test-results/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { ensureNextBuild, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'lena@example.test', name: 'Lena Logs', password: 'logs-pass-1234' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');

// printf's \033 is ESC. One line per look, so each can be found by its text.
const ANSI_SCRIPT = [
  `printf '\\033[31mred-16\\033[0m plain\\n'`,
  `printf '\\033[1;32mbold-green\\033[0m\\n'`,
  `printf '\\033[38;5;208morange-256\\033[0m\\n'`,
  `printf '\\033[38;2;10;200;30mtrue-rgb\\033[0m\\n'`,
  `printf '\\033[4munder\\033[24m \\033[3mitalic\\033[23m \\033[2mdim\\033[22m \\033[7minverse\\033[27m\\n'`,
  `printf '\\033[44;97mwhite-on-blue\\033[0m <b>not-markup</b>\\n'`,
  `printf '\\033[2K\\033[1Gerased-then-text\\n'`,
  `echo '{"level":"info","msg":"service started","port":8080}'`,
  `echo '{"level":"error","msg":"disk full","disk":{"dev":"sda1","free":0}}'`,
  `echo '{"level":"error","msg":"timeout talking to db","db":"orders"}'`,
  `echo '{"level":"warn","msg":"slow request","ms":1500}'`,
  // One write, as a runtime prints a trace: stdout's lines cannot come between its lines.
  `printf 'Exception in thread "main" java.lang.IllegalStateException: boom\n\tat com.example.Main.run(Main.java:10)\n    at com.example.Main.main(Main.java:5)\nCaused by: java.io.IOException: disk\n\t... 2 more\n' >&2`,
  `echo 'after the trace'`,
  `echo "long-line $(seq -s x 1 90)"`,
  `i=0; while [ $i -lt 60 ]; do echo "filler $i"; i=$((i+1)); done`,
  `echo 'the end'`,
  `sleep 100000`,
].join('; ');

describe('the log viewer: rendering, virtualization, copy and links', { timeout: 20 * 60_000 }, () => {
  const STEP = { timeout: 8 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let image: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const made: string[] = [];
  const problems: string[] = [];
  let ansiId: string;

  function docker(args: string[], timeoutSec = 60): string {
    const r = spawnSync('timeout', ['-k', '5', String(timeoutSec), 'docker', '-H', `unix://${dockerSocket}`, ...args], {
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  }
  function run(name: string, script: string, extra: string[] = []): string {
    const id = docker(['run', '-d', '--name', name, ...extra, image, 'sh', '-c', script]).trim();
    made.push(id);
    return id;
  }

  const newPage = (): Promise<Page> =>
    signedInPage(browser!, cp.url, ADMIN, { problems, contexts, timeoutMs: PATIENCE_MS, prepare: (c) => c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cp.url }) });
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.getByTestId('log-panel').screenshot({ path: path.join(SHOTS, `logs-${name}.png`) });
  };
  const line = (page: Page, text: string | RegExp) => page.getByTestId('log-line').filter({ hasText: text });
  /** Scrolls from the top down, a screen at a time as a reader would, until a line with `text` is drawn (the viewer draws only what is in view). */
  async function scrollTo(page: Page, text: string): Promise<void> {
    await toTop(page);
    for (let i = 0; i < 1000; i++) {
      if (await line(page, text).count()) {
        await line(page, text).first().scrollIntoViewIfNeeded();
        // Two frames: the scroll event, then the rows it draws around the line.
        await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
        return;
      }
      const more = await page.getByTestId('log-viewer').evaluate((el) => {
        const before = el.scrollTop;
        el.scrollBy({ top: el.clientHeight });
        return el.scrollTop > before;
      });
      if (!more) break;
      await page.waitForTimeout(50);
    }
    throw new Error(`no line with ${JSON.stringify(text)} in the log`);
  }
  /** Scrolls the log to its top as a reader would (the viewer draws only the lines in view). */
  async function toTop(page: Page): Promise<void> {
    await page.getByTestId('log-viewer').evaluate((el) => el.scrollTo({ top: 0 }));
    await page.locator('[data-testid=log-viewer][data-following=false]').waitFor();
  }

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'logs/busybox', 'v1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-logview-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    const api = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'logs-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    docker(['pull', image], 180);
    ansiId = run('ansi', ANSI_SCRIPT);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      for (const id of made) {
        try {
          docker(['rm', '-f', id]);
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('ANSI colours and styles are drawn, never shown as escape codes, and can be stripped', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${ansiId}`);
    await line(page, 'the end').waitFor();
    await toTop(page);
    const colourOf = (text: string) =>
      line(page, text).locator('[data-ansi]').first().evaluate((el) => {
        const cs = getComputedStyle(el);
        return { color: cs.color, bg: cs.backgroundColor, weight: cs.fontWeight, deco: cs.textDecorationLine, style: cs.fontStyle, opacity: cs.opacity };
      });
    assert.equal((await colourOf('red-16')).color, 'rgb(248, 113, 113)');
    const bold = await colourOf('bold-green');
    assert.equal(bold.weight, '700');
    assert.equal(bold.color, 'rgb(134, 239, 172)', 'bold shows the bright green');
    assert.equal((await colourOf('orange-256')).color, 'rgb(255, 135, 0)');
    assert.equal((await colourOf('true-rgb')).color, 'rgb(10, 200, 30)');
    const wob = await colourOf('white-on-blue');
    assert.equal(wob.bg, 'rgb(96, 165, 250)');
    assert.equal(wob.color, 'rgb(255, 255, 255)');
    const styles = await line(page, 'italic').locator('[data-ansi]').evaluateAll((els) =>
      els.map((el) => ({ text: el.textContent, deco: getComputedStyle(el).textDecorationLine, style: getComputedStyle(el).fontStyle, opacity: getComputedStyle(el).opacity, bg: getComputedStyle(el).backgroundColor })),
    );
    assert.deepEqual(
      styles.map((s) => s.text),
      ['under', 'italic', 'dim', 'inverse'],
    );
    assert.equal(styles[0].deco, 'underline');
    assert.equal(styles[1].style, 'italic');
    assert.equal(styles[2].opacity, '0.6');
    assert.equal(styles[3].bg, 'rgb(226, 232, 240)', 'inverse: the default foreground becomes the background');
    // The markup a container printed is text.
    assert.equal(await line(page, 'not-markup').locator('b').count(), 0);
    const texts = await page.getByTestId('log-text').allTextContents();
    assert.ok(texts.includes('white-on-blue <b>not-markup</b>'), JSON.stringify(texts));
    assert.ok(texts.includes('erased-then-text'));
    assert.ok(!texts.some((t) => t.includes('\x1b') || /\[\d+(;\d+)*m/.test(t)), `no escape code is shown: ${JSON.stringify(texts.filter((t) => t.includes('[')))}`);
    await shot(page, 'ansi');

    await page.getByTestId('log-colours').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line] [data-ansi]').length === 0);
    assert.equal(await line(page, 'red-16').textContent(), 'red-16 plain');
    await shot(page, 'ansi-stripped');
    await page.getByTestId('log-colours').check();
  });

  test('JSON lines show their fields, fold open, and filter by field', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${ansiId}`);
    await line(page, 'the end').waitFor();
    await toTop(page);
    const disk = line(page, 'disk full');
    assert.equal(await disk.getByTestId('log-json').count(), 1);
    assert.match((await disk.textContent()) ?? '', /error.*disk full.*disk\.dev=sda1.*disk\.free=0/);
    await disk.getByTestId('log-json-toggle').click();
    const fields = disk.getByTestId('log-json-field');
    assert.deepEqual(await fields.allTextContents(), ['level', 'msg', 'disk.dev', 'disk.free']);
    await shot(page, 'json-open');

    await page.getByTestId('log-field-filter').fill('level=error');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length === 2);
    assert.deepEqual(
      (await page.getByTestId('log-line').allTextContents()).map((t) => /disk full|timeout talking to db/.exec(t)?.[0]),
      ['disk full', 'timeout talking to db'],
    );
    assert.match((await page.getByTestId('log-count').textContent()) ?? '', /^2 of \d+ lines/);
    await shot(page, 'json-filter');
    // A field clicked narrows further.
    await line(page, 'timeout talking to db').getByTestId('log-json-toggle').click();
    await line(page, 'timeout talking to db').locator('[data-testid=log-json-field][data-key=db]').click();
    assert.equal(await page.getByTestId('log-field-filter').inputValue(), 'level=error db=orders');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length === 1);
    // A filter that cannot be read says why and keeps nothing hidden by mistake.
    await page.getByTestId('log-field-filter').fill('level');
    assert.match((await page.getByTestId('log-field-filter-error').textContent()) ?? '', /cannot read "level"/);
    await page.getByTestId('log-field-filter').fill('');
    await page.waitForFunction(() => {
      const c = document.querySelector('[data-testid=log-count]');
      return c && c.getAttribute('data-shown') === c.getAttribute('data-count');
    });
  });

  test('a stack trace is one entry that folds; stderr is told apart; time in UTC and local; wrap', STEP, async () => {
    const page = await newPage();
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${ansiId}`);
    await line(page, 'the end').waitFor();
    await scrollTo(page, 'IllegalStateException');
    const head = line(page, 'IllegalStateException');
    assert.equal(await head.getAttribute('data-stream'), 'stderr');
    const conts = page.locator('[data-testid=log-line][data-continuation=true]');
    assert.deepEqual((await conts.allTextContents()).map((t) => t.trim()), ['at com.example.Main.run(Main.java:10)', 'at com.example.Main.main(Main.java:5)', 'Caused by: java.io.IOException: disk', '... 2 more']);
    const border = (stream: string) =>
      page.evaluate((st) => {
        const el = document.querySelector(`[data-testid=log-line][data-stream=${st}]`);
        return el ? getComputedStyle(el).borderLeftColor : 'no such line';
      }, stream);
    assert.equal(await border('stdout'), 'rgba(0, 0, 0, 0)', 'stdout lines have no mark');
    assert.match(await border('stderr'), /^(lab|oklch|rgb)\(/, 'stderr lines have a coloured mark');
    assert.notEqual(await border('stderr'), await border('stdout'));
    await head.getByTestId('log-group-toggle').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line][data-continuation=true]').length === 0);
    assert.match((await head.getByTestId('log-group-toggle').textContent()) ?? '', /\+4/);
    await shot(page, 'stack-folded');
    await head.getByTestId('log-group-toggle').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line][data-continuation=true]').length === 4);

    // Back to the newest lines (the trace may be among them, and the view following already).
    if (await page.getByTestId('log-jump').count()) await page.getByTestId('log-jump').click();
    await page.locator('[data-testid=log-viewer][data-following=true]').waitFor();
    await page.getByTestId('log-time-mode').selectOption('utc');
    const utc = (await line(page, 'the end').getByTestId('log-time').textContent()) ?? '';
    assert.match(utc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Not `--tail 1`: the trace went to stderr and the monitor reads the two pipes apart, so the
    // log's last entry may be a stderr line, which the CLI prints on its stderr.
    const ended = docker(['logs', '-t', ansiId]).split('\n').find((l) => l.endsWith(' the end'));
    assert.ok(ended, 'docker logs -t has the line "the end"');
    const printed = ended.split(' ')[0];
    assert.equal(utc, new Date(printed).toISOString(), 'the time the agent recorded, to the millisecond');
    await page.getByTestId('log-time-mode').selectOption('local');
    assert.match((await line(page, 'the end').getByTestId('log-time').textContent()) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    await shot(page, 'time-local');
    await page.getByTestId('log-time-mode').selectOption('off');
    assert.equal(await page.getByTestId('log-time').count(), 0);

    // Wrap: a long line is one row high until wrap is on.
    await scrollTo(page, 'long-line');
    const height = () => line(page, 'long-line').evaluate((el) => el.getBoundingClientRect().height);
    assert.equal(await height(), 20);
    const box = await page.getByTestId('log-viewer').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    assert.ok(box.scroll > box.client, 'unwrapped, the long line scrolls sideways');
    await page.getByTestId('log-wrap').check();
    await page.waitForFunction(() => {
      const el = [...document.querySelectorAll('[data-testid=log-line]')].find((e) => e.textContent?.includes('long-line'));
      return !!el && el.getBoundingClientRect().height >= 40;
    });
    await line(page, 'long-line').scrollIntoViewIfNeeded();
    await shot(page, 'wrap');
    await page.getByTestId('log-wrap').uncheck();
  });

  test('a million lines: all held, only the lines in view drawn, any part reached by scrolling', { timeout: 15 * 60_000 }, async (t) => {
    const N = 1_000_000;
    // It waits a little so the page is following before the first line.
    const id = run('million', `sleep 4; seq 1 ${N}; echo million-done; sleep 100000`);
    const page = await newPage();
    const t0 = Date.now();
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${id}`);
    await line(page, 'million-done').waitFor({ timeout: 12 * 60_000 });
    t.diagnostic(`${N} lines reached the page ${((Date.now() - t0) / 1000).toFixed(1)} s after it opened`);
    assert.equal(Number(await page.getByTestId('log-count').getAttribute('data-count')), N + 1);
    const drawn = await page.getByTestId('log-line').count();
    assert.ok(drawn < 200, `only the lines in view (and a margin) are in the page: ${drawn}`);
    // The middle, by scrolling: the line there is the one printed there.
    await page.getByTestId('log-viewer').evaluate((el) => el.scrollTo({ top: (el.scrollHeight - el.clientHeight) / 2 }));
    await page.waitForFunction(() => document.querySelector('[data-testid=log-viewer]')?.getAttribute('data-following') === 'false');
    const topLine = () =>
      page.getByTestId('log-viewer').evaluate((box) => {
        const top = box.getBoundingClientRect().top;
        const first = [...box.querySelectorAll('[data-testid=log-line]')].find((el) => el.getBoundingClientRect().bottom > top + 2);
        return Number(first?.querySelector('[data-testid=log-text]')?.textContent);
      });
    const mid = await topLine();
    assert.ok(Math.abs(mid - N / 2) < N / 100, `the middle of the scroll shows the middle of the log: line ${mid}`);
    // Contiguous where it lands: the lines drawn are consecutive numbers.
    const nums = (await page.getByTestId('log-text').allTextContents()).map(Number);
    for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1);
    // Frame times while scrolling a screen a frame for two seconds (reported, not asserted: the machine's speed is not the product's).
    // A string, not a function: the test's compiler would name its inner functions with a helper the page does not have.
    const frames = (await page.evaluate(`new Promise((resolve) => {
      const el = document.querySelector('[data-testid=log-viewer]');
      const out = [];
      let last = performance.now();
      const end = last + 2000;
      requestAnimationFrame(function step(now) {
        out.push(now - last);
        last = now;
        el.scrollTop += el.clientHeight;
        if (now < end) requestAnimationFrame(step);
        else resolve(out);
      });
    })`)) as number[];
    frames.sort((a, b) => a - b);
    const heap = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
    t.diagnostic(`scrolling ${frames.length} frames: p50 ${frames[Math.floor(frames.length / 2)].toFixed(1)} ms, p95 ${frames[Math.floor(frames.length * 0.95)].toFixed(1)} ms, max ${frames[frames.length - 1].toFixed(1)} ms; JS heap ${(heap / 1048576).toFixed(0)} MiB`);
    assert.ok((await page.getByTestId('log-line').count()) < 200);
    await shot(page, 'million');
    // Searching a million lines is the agent's: the first match of a rare number comes back.
    await page.getByTestId('log-search').fill('^777777$');
    await page.getByTestId('log-search-regex').check();
    await page.getByTestId('log-search').press('Enter');
    await page.locator('[data-testid=log-search-count][data-done=true][data-found="1"]').waitFor({ timeout: 120_000 });
    await page.getByTestId('log-search-next').click();
    await line(page, /^777777$/).waitFor();
    assert.equal(await line(page, /^777777$/).getByTestId('log-match').textContent(), '777777');
    await shot(page, 'million-search');
    assert.deepEqual(problems, [], 'no CSP violation or page error');
  });
});
