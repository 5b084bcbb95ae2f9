// Light and dark themes in Chromium, against the real control plane and a real agent (its own
// root and Docker socket on this machine), an image from a real registry on 127.0.0.1. Each main
// page is opened with the system set to light and to dark: the theme applied (the page and a card
// change colour between the two), every visible text on it reaches its contrast ratio against what
// is behind it (4.5:1, 3:1 for large text), its <title> names it, nothing breaks the CSP, and a
// screenshot of it lands in test-results/theme-<page>-<light|dark>.png. The choice in the header
// beats the system's and survives a reload, and is in force before the body is parsed (no flash).
// On a phone-sized screen in dark, the overview, a container's logs and the containers table do not
// scroll sideways, and the menu's Account link leads to the theme choice. From the keyboard: each tab stop shows a focus ring; a destructive action (Kill) asks
// first, the question holds the focus and Escape leaves it with nothing done.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage, watchedPage } from './support/pages';
import { removeAgentLeftovers } from './support/teardown';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { ensureNextBuild, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');
const HOST = 'host-a';
const PHONE = { width: 390, height: 844 };
type Scheme = 'light' | 'dark';

interface Sample {
  text: string;
  ratio: number;
  need: number;
  fg: string;
  bg: string;
}

interface Reading {
  theme: string | null;
  title: string;
  bodyBg: string;
  bodyFg: string;
  cardBg: string | null;
  samples: number;
  failures: Sample[];
}

/**
 * Runs in the page: the theme on <html>, the body's and the first card's colours as sRGB, and
 * each visible text's contrast against the colour actually behind it (ancestors' backgrounds
 * composited, opacity taken into account). Colours go through a canvas to come out as sRGB
 * bytes, whatever notation (oklch, color-mix) the style computed to.
 */
function readPage(): Reading {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const rgba = (css: string): [number, number, number, number] => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top: number[], under: number[]): number[] => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const lum = (c: number[]) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const hex = (c: number[]) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  /** What is painted behind `el`: its and its ancestors' backgrounds, nearest on top, white under all. */
  const backdrop = (el: Element | null): number[] => {
    const layers: number[][] = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
  };
  const opacity = (el: Element | null) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const failures: Sample[] = [];
  let samples = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set<Element>();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent?.trim()) continue;
    seen.add(el);
    // Not seen, or not text a user reads: hidden, clipped to nothing (screen-reader only),
    // decoration, inactive controls (WCAG leaves disabled controls out), the terminal's own canvas.
    if (el.closest('[aria-hidden=true], option, script, style, noscript, .xterm')) continue;
    if (el.closest('button:disabled, input:disabled, select:disabled, fieldset:disabled, label:has(:disabled), [aria-disabled=true]')) continue;
    if (!el.checkVisibility({ opacityProperty: false, visibilityProperty: true })) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width <= 1 || r.height <= 1 || cs.visibility !== 'visible' || cs.display === 'none') continue;
    const fg = rgba(cs.color);
    const bg = backdrop(el);
    fg[3] *= opacity(el);
    const seenFg = over(fg, bg);
    const [a, b] = [lum(seenFg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    samples++;
    if (ratio < need) failures.push({ text: n.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, need, fg: hex(seenFg), bg: hex(bg) });
  }
  const card = document.querySelector('main .card, main .bg-white');
  const body = getComputedStyle(document.body);
  return {
    theme: document.documentElement.getAttribute('data-theme'),
    title: document.title,
    bodyBg: hex(rgba(body.backgroundColor)),
    bodyFg: hex(rgba(body.color)),
    cardBg: card ? hex(backdrop(card)) : null,
    samples,
    failures,
  };
}

interface Host {
  root: string;
  socket: string;
  agent?: Child;
  id?: string;
}

describe('light and dark themes', { timeout: 20 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image: string;
  let cp: ControlPlane;
  let tmp: string;
  let browser: Browser | undefined;
  let webId = '';
  const host: Host = { root: '', socket: '' };
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  function docker(args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${host.socket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** The main pages, each with what shows it has loaded and the title it must have. */
  const pages = () => {
    const h = `/hosts/${host.id}`;
    return [
      { name: 'overview', path: '/', title: 'Hosts · Berth', ready: (p: Page) => p.locator(`[data-testid=host-row][data-host-name="${HOST}"]`) },
      { name: 'host', path: h, title: `${HOST} · Berth`, ready: (p: Page) => p.locator('[data-testid=container-row][data-container-name="web-1"]') },
      { name: 'container', path: `${h}/containers/${webId}`, title: `web-1 · ${HOST} · Berth`, ready: (p: Page) => p.locator('[data-testid=log-line]').filter({ hasText: 'tick' }).first() },
      { name: 'host-logs', path: `${h}/logs`, title: `Logs · ${HOST} · Berth`, ready: (p: Page) => p.getByRole('heading').first() },
      { name: 'logs', path: '/logs', title: 'Logs · Berth', ready: (p: Page) => p.getByRole('heading', { name: 'Logs across hosts' }) },
      { name: 'images', path: '/images', title: 'Images · Berth', ready: (p: Page) => p.getByTestId('fleet-image-row').first() },
      { name: 'host-images', path: `${h}/images`, title: `Images · ${HOST} · Berth`, ready: (p: Page) => p.getByTestId('image-row').first() },
      { name: 'volumes', path: '/resources', title: 'Volumes & networks · Berth', ready: (p: Page) => p.getByTestId('resource-item').first() },
      { name: 'stacks', path: `${h}/stacks`, title: `Stacks · ${HOST} · Berth`, ready: (p: Page) => p.getByRole('link', { name: 'shop' }).first() },
      { name: 'stack', path: `${h}/stacks/shop`, title: `shop · Stacks · ${HOST} · Berth`, ready: (p: Page) => p.getByTestId('stack-service').first() },
      { name: 'containers', path: '/containers', title: 'Containers · Berth', ready: (p: Page) => p.getByTestId('container-row').first() },
      { name: 'alerts', path: '/alerts', title: 'Alerts · Berth', ready: (p: Page) => p.getByTestId('alert-rule-row').first() },
      { name: 'team', path: '/team', title: 'Team · Berth', ready: (p: Page) => p.getByTestId('member-row').first() },
      { name: 'audit', path: '/audit', title: 'Audit log · Berth', ready: (p: Page) => p.getByTestId('audit-row').first() },
      { name: 'account', path: '/account', title: 'Account · Berth', ready: (p: Page) => p.getByTestId('session-row').first() },
      { name: 'registries', path: '/registries', title: 'Registries · Berth', ready: (p: Page) => p.getByTestId('registry-row').first() },
      { name: 'add-host', path: '/hosts/new', title: 'Add host · Berth', ready: (p: Page) => p.getByRole('heading').first() },
    ];
  };

  const shoot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `theme-${name}.png`), fullPage: true });
  };
  /** Waits until the page has loaded what it shows: its own marker, and no "Loading…" left. */
  const settle = async (page: Page, ready: (p: Page) => ReturnType<Page['locator']>) => {
    await ready(page).waitFor({ timeout: PATIENCE_MS });
    await page.waitForFunction(() => ![...document.querySelectorAll('main *')].some((e) => e.childElementCount === 0 && /^Loading…?$/.test(e.textContent?.trim() ?? '')), undefined, { timeout: PATIENCE_MS });
  };
  /** readPage in the page; tsx names its inner functions with a helper the page lacks, so it gets one. */
  const readIn = async (page: Page): Promise<Reading> => {
    await page.evaluate('globalThis.__name ??= (f) => f');
    // Colours read halfway through a transition (buttons fade on a click) are neither theme's.
    await page.evaluate('Promise.all(document.getAnimations().filter((a) => a instanceof CSSTransition).map((a) => a.finished.catch(() => {})))');
    return page.evaluate(readPage);
  };
  const contrastReport = (r: Reading) => r.failures.map((f) => `  "${f.text}" ${f.fg} on ${f.bg}: ${f.ratio} < ${f.need}`).join('\n');

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'e2e/busybox', 'themes')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-themes-e2e-'));
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    const owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    host.root = path.join(tmp, 'root');
    host.socket = path.join(tmp, 'docker.sock');
    const { token } = await owner.hosts.createJoinToken.mutate({ name: HOST });
    host.agent = spawnTsx(['agent/main.ts', '--root', host.root, '--docker-socket', host.socket, '--server', cp.url, '--token', token], {}, HOST);
    host.id = /as host (\S+)/.exec(await host.agent.waitFor(/connected to .* as host \S+/, PATIENCE_MS))![1];
    docker(['pull', image]);
    // A log with ordinary lines, stderr and colours, for the log viewer in both themes.
    const script = 'i=0; while true; do echo "tick $i"; printf "\\033[31merror\\033[0m \\033[32mok\\033[0m line %s\\n" $i >&2; i=$((i+1)); sleep 1; done';
    webId = docker(['run', '-d', '--network', 'none', '--name', 'web-1', '-l', 'tier=web', image, 'sh', '-c', script]);
    docker(['create', '--network', 'none', '--name', 'idle-1', image, 'true']);
    // Containers with compose's labels are a stack to Berth, as one started by docker-compose is.
    for (const svc of ['web', 'db']) {
      docker(['run', '-d', '--network', 'none', '--name', `shop-${svc}-1`, '-l', 'com.docker.compose.project=shop', '-l', `com.docker.compose.service=${svc}`, '-l', 'com.docker.compose.container-number=1', image, 'sleep', '1000']);
    }
    docker(['volume', 'create', 'data']);
    await owner.alerts.createRule.mutate({ name: 'web died', kind: 'container.died', options: {}, hostIds: [host.id], containers: { names: ['web-1'] }, quietSeconds: 300, enabled: true, webhook: null });
    await owner.registries.add.mutate({ server: registry.url, username: 'robot', secret: 'not-a-real-secret' });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (host.agent) {
        try {
          for (const id of docker(['ps', '-aq']).split('\n').filter(Boolean)) docker(['rm', '-f', id]);
          docker(['volume', 'rm', 'data']);
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
        await host.agent.kill('SIGTERM');
      }
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(host.root || undefined, tmp);
    }
  });

  test('each main page in light and in dark: the theme applies, text has contrast, the title names the page, no CSP violation', async () => {
    const read: Record<Scheme, Record<string, Reading>> = { light: {}, dark: {} };
    const failed: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      // Signed out first: the sign-in page.
      const out = await watchedPage(browser!, { problems, contexts, timeoutMs: PATIENCE_MS, context: { colorScheme: scheme } });
      await out.goto(`${cp.url}/login`);
      await out.getByRole('button', { name: 'Sign in' }).waitFor();
      read[scheme]['sign-in'] = await readIn(out);
      assert.equal(read[scheme]['sign-in'].title, 'Sign in · Berth');
      await shoot(out, `sign-in-${scheme}`);

      const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS, context: { colorScheme: scheme } });
      for (const p of pages()) {
        await page.goto(cp.url + p.path);
        await settle(page, p.ready);
        // The title is set once the names have loaded.
        await page.waitForFunction((t) => document.title === t, p.title, { timeout: PATIENCE_MS }).catch(() => {});
        const r = await readIn(page);
        read[scheme][p.name] = r;
        await shoot(page, `${p.name}-${scheme}`);
        assert.equal(r.title, p.title, `the title of ${p.name}`);
        if (p.name === 'container') {
          // The record as readable facts and as raw JSON (the code view), then a question before a kill.
          await page.getByTestId('tab-inspect').click();
          await page.getByTestId('inspect-readable').waitFor();
          await page.getByTestId('inspect-raw').locator('summary').click();
          read[scheme]['container-inspect'] = await readIn(page);
          await shoot(page, `container-inspect-${scheme}`);
          await page.getByTestId('container-kill').click();
          await page.locator('dialog[open]').waitFor();
          read[scheme]['kill-dialog'] = await readIn(page);
          await page.screenshot({ path: path.join(SHOTS, `theme-kill-dialog-${scheme}.png`) });
          await page.keyboard.press('Escape');
        }
        if (p.name === 'volumes') {
          // The same page shows networks at a click.
          await page.getByTestId('kind-networks').click();
          await page.getByTestId('resource-item').first().waitFor();
          read[scheme].networks = await readIn(page);
          await shoot(page, `networks-${scheme}`);
        }
      }
      for (const [name, r] of Object.entries(read[scheme])) {
        assert.equal(r.theme, scheme, `${name} in ${scheme}: data-theme`);
        assert.ok(r.samples >= 5, `${name} in ${scheme}: only ${r.samples} texts sampled`);
        if (r.failures.length) failed.push(`${name} in ${scheme} (${r.failures.length} of ${r.samples} texts):\n${contrastReport(r)}`);
      }
    }
    for (const name of Object.keys(read.light)) {
      const [l, d] = [read.light[name], read.dark[name]];
      assert.notEqual(l.bodyBg, d.bodyBg, `${name}: the page's background is the same in both themes`);
      assert.notEqual(l.bodyFg, d.bodyFg, `${name}: the text colour is the same in both themes`);
      if (l.cardBg && d.cardBg) assert.notEqual(l.cardBg, d.cardBg, `${name}: a card's background is the same in both themes`);
    }
    // One card at least on most pages: the card check did run.
    assert.ok(Object.values(read.dark).filter((r) => r.cardBg).length >= 10, 'cards found on the pages');
    assert.deepEqual(failed, [], `texts under their contrast ratio:\n${failed.join('\n')}`);
    assert.deepEqual(problems, [], 'CSP violations or page errors');
  });

  test('the choice in the header beats the system, survives a reload and is in force before the body is parsed', async () => {
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS, context: { colorScheme: 'dark' } });
    // What data-theme said when <body> came into the document: set by then, or the page flashed.
    await page.context().addInitScript(() => {
      new MutationObserver((_, obs) => {
        if (!document.body) return;
        (window as unknown as { __themeAtBody: string | null }).__themeAtBody = document.documentElement.getAttribute('data-theme');
        obs.disconnect();
      }).observe(document, { childList: true, subtree: true });
    });
    const themeAtBody = () => page.evaluate(() => (window as unknown as { __themeAtBody?: string | null }).__themeAtBody);
    const bodyBg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.reload();
    await page.getByTestId('theme-switcher').waitFor();
    assert.equal(await themeAtBody(), 'dark');
    assert.equal(await page.getByTestId('theme-switcher').inputValue(), 'system');
    const darkBg = await bodyBg();

    await page.getByTestId('theme-switcher').selectOption('light');
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'light');
    const lightBg = await bodyBg();
    assert.notEqual(lightBg, darkBg);
    await page.reload();
    await page.getByTestId('theme-switcher').waitFor();
    assert.equal(await themeAtBody(), 'light', 'the stored choice applied before the body');
    assert.equal(await page.getByTestId('theme-switcher').inputValue(), 'light');
    assert.equal(await bodyBg(), lightBg);

    // Dark chosen on a light system, and back to following the system.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.getByTestId('theme-switcher').selectOption('dark');
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'dark');
    await page.getByTestId('theme-switcher').selectOption('system');
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'light');
    // Following the system live: it turns dark, so does the page, with no reload.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'dark');
    assert.equal(await bodyBg(), darkBg);
    assert.equal(await page.evaluate(() => localStorage.getItem('berth-theme')), null, 'System leaves nothing stored');
    assert.deepEqual(problems, []);
  });

  test('on a phone in dark, the overview, a container\'s logs and the containers table do not scroll sideways; the theme is chosen through the menu\'s Account link', async () => {
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS, context: { colorScheme: 'dark', viewport: PHONE, isMobile: true, hasTouch: true } });
    const wide: string[] = [];
    const byName = Object.fromEntries(pages().map((p) => [p.name, p]));
    for (const name of ['overview', 'container', 'containers']) {
      const p = byName[name];
      await page.goto(cp.url + p.path);
      await settle(page, p.ready);
      // Against the phone's width, not innerWidth: a mobile viewport widens to fit a page that overflows.
      const innerWidth = PHONE.width;
      const scrollWidth = await page.evaluate(() => document.scrollingElement!.scrollWidth);
      await shoot(page, `phone-${name}-dark`);
      if (scrollWidth > innerWidth) wide.push(`${name}: ${scrollWidth} > ${innerWidth}`);
      // Sign out is on screen.
      const box = await page.getByRole('button', { name: 'Sign out' }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= innerWidth, `${name}: Sign out on screen (${JSON.stringify(box)})`);
    }
    assert.deepEqual(wide, [], 'pages wider than the phone');
    // The header has no theme switch on a phone: the menu's Account link leads to the one on the account page.
    assert.equal(await page.getByTestId('theme-switcher').isVisible(), false);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    await page.waitForURL(`${cp.url}/account`);
    await page.getByTestId('theme-switcher-page').selectOption('light');
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'light');
    await page.getByTestId('theme-switcher-page').selectOption('system');
    await page.waitForFunction(() => document.documentElement.getAttribute('data-theme') === 'dark');
    assert.deepEqual(problems, []);
  });

  test('from the keyboard: every tab stop shows a focus ring; killing a container asks first, keeps the focus in the question, and Escape leaves it; so does removing a registry login', async () => {
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS, context: { colorScheme: 'dark' } });
    const ringless: string[] = [];
    const byName = Object.fromEntries(pages().map((p) => [p.name, p]));
    // The container page last: the kill below starts from it.
    for (const name of ['overview', 'containers', 'stack', 'alerts', 'container']) {
      const p = byName[name];
      await page.goto(cp.url + p.path);
      await settle(page, p.ready);
      const stops: string[] = [];
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          if (!el || el === document.body) return null;
          const cs = getComputedStyle(el);
          // Inside a date or time field the focus is on one of its parts, which Chromium marks itself
          // (the part is drawn in the highlight colour); the field then does not match :focus.
          const datePart = el instanceof HTMLInputElement && /^(date|datetime-local|time)$/.test(el.type) && !el.matches(':focus');
          const ring = datePart || (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || /rgb|oklch|oklab|color/.test(cs.boxShadow);
          const label = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('placeholder') || '').trim().slice(0, 30);
          return { what: `${el.tagName.toLowerCase()}${el.getAttribute('type') ? `[${el.getAttribute('type')}]` : ''} "${label}" (${el.getAttribute('data-testid') ?? el.className}; outline ${cs.outlineStyle} ${cs.outlineWidth}, shadow ${cs.boxShadow})`, ring };
        });
        if (!f) continue;
        stops.push(f.what);
        if (!f.ring) ringless.push(`${name}: ${f.what}`);
      }
      assert.ok(stops.length >= 10, `${name}: tab stops: ${stops.join(', ')}`);
    }
    assert.deepEqual(ringless, [], 'tab stops with no visible focus ring');

    // Kill, from the keyboard.
    await page.getByTestId('container-kill').focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]')), true, 'the focus moved into the question');
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      const inside = await page.evaluate(() => !!document.activeElement?.closest('dialog[open]') || document.activeElement === document.body);
      assert.ok(inside, `Tab ${i + 1} left the question for ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80))}`);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' }).catch(async () => dialog.waitFor({ state: 'hidden' }));
    // A kill sent by mistake could still be on its way: it is given time to land.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(docker(['inspect', '-f', '{{.State.Status}}', 'web-1']), 'running', 'Escape killed nothing');

    // Removing a registry login asks too, naming it; Cancel keeps it.
    await page.goto(`${cp.url}/registries`);
    await page.getByTestId('registry-remove').click();
    await page.locator('dialog[open]').getByText(`Remove the login for ${registry.url.replace(/^https?:\/\//, '')}?`).or(page.locator('dialog[open]').getByText(`Remove the login for ${registry.url}?`)).waitFor();
    await page.getByTestId('confirm-dialog-cancel').click();
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
    await page.reload();
    await page.getByTestId('registry-row').waitFor();
    assert.deepEqual(problems, []);
  });
});
