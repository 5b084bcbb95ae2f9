// The images page, in Chromium, against the real control plane, a real agent and a real
// registry on 127.0.0.1: an operator pulls a two-layer image and watches a bar per layer reach
// 100%, searches, inspects its layers and history, tags it for a second registry and pushes it
// there with a bar per layer (checked with that registry's own HTTP API), downloads it as an
// archive (a docker-archive whose manifest.json lists both tags), untags one name, is refused
// removing the last one while a container uses it (the engine's words, the same as its Docker
// API gives), forces it, prunes the dangling image, uploads the archive again (the same image id
// with both names comes back), prunes all unused; the audit log has each step. A viewer sees the list, the fleet view and the inspect view but no buttons, and
// crafted calls as the viewer (tRPC, the save download, the load upload) are refused and audited.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');

interface DockerImage {
  Id: string;
  RepoTags: string[] | null;
}

describe('the images page', { timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  /** An empty one, so the push uploads every layer (the same registry would mount them). */
  let target: Awaited<ReturnType<typeof startRegistry>>;
  let src: Awaited<ReturnType<typeof pushBusyboxImage>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];

  function dockerApi(method: string, urlPath: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: dockerSocket, method, path: urlPath, timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }
  const agentImages = async () => {
    const r = await dockerApi('GET', '/images/json');
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as DockerImage[];
  };

  function docker(args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${dockerSocket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }

  const newPage = (who: { email: string; password: string }): Promise<Page> => signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS, context: { acceptDownloads: true } });


  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `images-${name}.png`), fullPage: true });
  };
  const rowById = (page: Page, id: string) => page.locator(`[data-testid=image-row][data-image-id="${id}"]`);
  const rowByTag = (page: Page, tag: string) => page.locator(`[data-testid=image-row][data-image-tags~="${tag}"]`);
  /** Every layer bar of the transfer at 100% with the final word, one per layer the image has. */
  async function barsDone(page: Page, layerIds: string[], finals: RegExp): Promise<Array<{ id: string; percent: string; status: string }>> {
    const bars = page.getByTestId('image-progress').getByTestId('layer-progress');
    const read = async () =>
      bars.evaluateAll((els) => els.map((e) => ({ id: e.getAttribute('data-layer-id') ?? '', percent: e.getAttribute('data-percent') ?? '', status: e.getAttribute('data-status') ?? '' })));
    await eventually('every layer bar to reach 100%', async () => {
      const now = await read();
      return now.length === layerIds.length && now.every((b) => b.percent === '100' && finals.test(b.status));
    }, PATIENCE_MS);
    const got = await read();
    assert.deepEqual(got.map((b) => b.id).sort(), [...layerIds].sort());
    // The <progress> elements themselves say 100 of 100.
    assert.deepEqual(await bars.locator('progress').evaluateAll((els) => els.map((e) => `${(e as HTMLProgressElement).value}/${(e as HTMLProgressElement).max}`)), layerIds.map(() => '100/100'));
    return got;
  }

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    target = await startRegistry();
    // Two layers, so two bars.
    src = await pushBusyboxImage(registry.url, 'e2e/busybox', 'v1', {
      extraLayers: [[{ path: 'srv/hello.txt', type: 'file', data: 'hello from the second layer\n', mode: 0o644 }]],
    });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-imgpage-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'img-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (agent) for (const id of docker(['ps', '-aq']).split('\n').filter(Boolean)) docker(['rm', '-f', id]);
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      await target?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('an operator pulls with a bar per layer, inspects, tags, pushes to another registry, saves, untags, is refused removing an image in use then forces it, prunes, loads the archive back; the audit log has it all', STEP, async () => {
    const page = await newPage(OPERATOR);
    try {
      await operatorSteps(page);
    } catch (err) {
      await shot(page, 'operator-failure').catch(() => {});
      throw err;
    }
  });

  async function operatorSteps(page: Page): Promise<void> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Images' }).click();
    await page.waitForURL(`${cp.url}/images`);
    await page.getByTestId('fleet-images-table').getByText('No images on any online host.').waitFor();
    await page.goto(`${cp.url}/hosts/${hostId}/images`);
    await page.getByTestId('images-table').getByText('No images.').waitFor();

    // Pull: one bar per layer (the blobs' short digests), each at 100% with "Pull complete".
    await page.getByLabel('Image to pull').fill(src.ref);
    await page.getByRole('button', { name: 'Pull', exact: true }).click();
    const layerIds = src.layerDigests.map((d) => d.replace(/^sha256:/, '').slice(0, 12));
    await barsDone(page, layerIds, /^Pull complete$/);
    const imageId = `sha256:${src.configDigest.replace(/^sha256:/, '')}`;
    await page.getByTestId('image-transfer-result').getByText(`Pulled ${src.ref} (${imageId.slice(7, 19)})`).waitFor();
    assert.ok(await page.getByTestId('image-progress-message').filter({ hasText: /^Digest: sha256:/ }).count(), 'the pull\'s own lines are shown too');
    await shot(page, 'pulled');
    assert.deepEqual((await agentImages()).map((i) => [i.Id, i.RepoTags]), [[imageId, [src.ref]]]);
    await rowById(page, imageId).waitFor();
    assert.equal(await rowById(page, imageId).getByTestId('image-in-use').textContent(), 'unused');

    // Search is the server's: a part of the tag finds it, anything else nothing.
    await page.getByLabel('Search (tag, id)').fill('e2e/busy');
    await rowById(page, imageId).waitFor();
    await page.getByLabel('Search (tag, id)').fill('no-such-thing');
    await page.getByTestId('images-table').getByText('No image matches.').waitFor();
    await page.getByLabel('Search (tag, id)').fill('');
    await rowById(page, imageId).waitFor();

    // Inspect: the record, two layers with their sizes, the history newest first.
    await rowById(page, imageId).getByTestId('image-inspect').click();
    const view = page.getByTestId('image-inspect-view');
    assert.equal(await view.getByTestId('image-inspect-id').textContent(), imageId);
    assert.equal(await view.getByTestId('image-layer').count(), 2);
    const history = JSON.parse((await dockerApi('GET', `/images/${imageId}/history`)).body) as Array<{ CreatedBy: string }>;
    assert.deepEqual(await view.getByTestId('image-history-created-by').allTextContents(), history.map((h) => h.CreatedBy || '—'));
    await rowById(page, imageId).getByTestId('image-inspect').click();

    // Tag it for the other registry, and push that tag.
    const pushedRef = `${target.url}/e2e/pushed:v2`;
    await rowById(page, imageId).getByTestId('image-tag').click();
    await page.getByTestId('image-tag-panel').getByLabel('New tag').fill(pushedRef);
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.getByTestId('image-tagged').getByText(`Tagged ${pushedRef}`).waitFor();
    await eventually('the row to show both tags', async () => (await rowById(page, imageId).getAttribute('data-image-tags')) === [src.ref, pushedRef].sort().join(' ') || (await rowById(page, imageId).getAttribute('data-image-tags')) === [pushedRef, src.ref].sort().join(' '), PATIENCE_MS);
    await rowById(page, imageId).getByTestId('image-push').click();
    await page.getByTestId('image-push-panel').getByLabel(/Tag to push/).selectOption(pushedRef);
    await page.getByTestId('image-push-panel').getByRole('button', { name: 'Push' }).click();
    const pushBars = await barsDone(page, layerIds, /^Pushed$/);
    await page.getByTestId('image-transfer-result').getByText(`Pushed ${pushedRef} (${src.manifestDigest})`).waitFor();
    await shot(page, 'pushed');
    // The registry's own word: the manifest is there under the new name, with the same digest.
    const res = await fetch(`http://${target.url}/v2/e2e/pushed/manifests/v2`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.status, 200, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), src.manifestDigest);
    const tags = (await (await fetch(`http://${target.url}/v2/e2e/pushed/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v2']);
    for (const d of src.layerDigests) assert.equal((await fetch(`http://${target.url}/v2/e2e/pushed/blobs/${d}`, { method: 'HEAD' })).status, 200, `layer ${d} is in the registry`);
    console.log(`push bars: ${JSON.stringify(pushBars)}`);

    // Save: a file download streamed from the agent, a docker-archive listing both tags.
    const [download] = await Promise.all([page.waitForEvent('download'), rowById(page, imageId).getByTestId('image-save').click()]);
    const archive = path.join(tmp, 'saved.tar');
    await download.saveAs(archive);
    assert.equal(await download.failure(), null);
    assert.match(download.suggestedFilename(), /\.tar$/);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    assert.equal(manifest.length, 1);
    assert.deepEqual([...manifest[0].RepoTags].sort(), [src.ref, pushedRef].sort());
    assert.equal(manifest[0].Layers.length, 2);
    const members = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const m of [manifest[0].Config, ...manifest[0].Layers]) assert.ok(members.includes(m), `${m} is in the archive: ${members.join(' ')}`);
    console.log(`saved archive: ${statSync(archive).size} bytes, ${members.length} members`);

    // Untag one name: the image stays under the other.
    await rowById(page, imageId).getByTestId('image-remove').click();
    await page.getByTestId('image-remove-dialog').getByLabel(`Untag ${pushedRef}`, { exact: true }).check();
    await page.getByTestId('image-remove-dialog').getByTestId('image-remove-dialog-confirm').click();
    // With its repository's last tag goes its digest name there, as in Docker.
    await page.getByTestId('image-removed').getByText(`Untagged ${pushedRef}; Untagged ${target.url}/e2e/pushed@${src.manifestDigest}`, { exact: true }).waitFor();
    assert.deepEqual((await agentImages()).map((i) => i.RepoTags), [[src.ref]]);
    await eventually('the row to show one tag', async () => (await rowById(page, imageId).getAttribute('data-image-tags')) === src.ref, PATIENCE_MS);

    // A container made from it: in use, and removing its last tag is the engine's 409, in the
    // words its Docker API gives for the same request.
    const user = docker(['create', '--name', 'img-user', src.ref, 'true']);
    await eventually('the row to say 1 container', async () => (await rowById(page, imageId).getByTestId('image-in-use').textContent()) === '1 container', PATIENCE_MS);
    const refusal = JSON.parse((await dockerApi('DELETE', `/images/${encodeURIComponent(src.ref)}`)).body) as { message: string };
    assert.match(refusal.message, /^conflict: unable to remove repository reference .* \(must force\) - container is using its referenced image \w{12}$/);
    await rowById(page, imageId).getByTestId('image-remove').click();
    const dialog = page.getByTestId('image-remove-dialog');
    await dialog.getByLabel(`Untag ${src.ref} (its only tag: the image goes with it)`, { exact: true }).check();
    await dialog.getByTestId('image-remove-dialog-confirm').click();
    await page.getByTestId('image-remove-error').getByText(refusal.message, { exact: true }).waitFor();
    assert.deepEqual((await agentImages()).map((i) => i.RepoTags), [[src.ref]], 'still there, still tagged');
    await shot(page, 'refused');
    // Force is asked apart: the name goes; the image stays (dangling) while the container needs it.
    await page.getByTestId('image-force-remove').click();
    await page.getByTestId('image-force-dialog').getByText(`Force remove ${src.ref}?`).waitFor();
    await page.getByTestId('image-force-dialog').getByTestId('image-force-dialog-confirm').click();
    await page.getByTestId('image-removed').getByText(`Untagged ${src.ref}; Untagged ${registry.url}/e2e/busybox@${src.manifestDigest}`, { exact: true }).waitFor();
    await eventually('the row to be <none>', async () => (await rowById(page, imageId).getByTestId('image-tags').textContent()) === '<none>:<none>', PATIENCE_MS);

    // Without the container it is dangling and unused: Prune dangling takes it.
    docker(['rm', user]);
    await eventually('the row to say unused', async () => (await rowById(page, imageId).getByTestId('image-in-use').textContent()) === 'unused', PATIENCE_MS);
    await page.getByTestId('images-prune-dangling').click();
    await page.getByTestId('images-prune-dialog').getByTestId('images-prune-dialog-confirm').click();
    await page.getByTestId('images-pruned').getByText(/^Pruned 1 image, /).waitFor();
    await page.getByTestId('images-table').getByText('No images.').waitFor();
    assert.deepEqual(await agentImages(), []);

    // Load the downloaded archive: streamed up to the agent, the same image with both names.
    await page.getByLabel(/Image archive/).setInputFiles(archive);
    await page.getByRole('button', { name: 'Load archive' }).click();
    await page.getByTestId('image-loaded').getByText(/^Loaded /).waitFor();
    const loaded = await page.getByTestId('image-loaded').textContent();
    assert.ok(loaded!.includes(src.ref) && loaded!.includes(pushedRef), loaded!);
    await rowById(page, imageId).waitFor();
    assert.deepEqual((await agentImages()).map((i) => [i.Id, [...(i.RepoTags ?? [])].sort()]), [[imageId, [src.ref, pushedRef].sort()]]);
    assert.match(docker(['run', '--rm', src.ref, 'cat', '/srv/hello.txt']), /hello from the second layer/);

    // Prune all unused: the tagged image goes too.
    await page.getByTestId('images-prune-all').click();
    await page.getByTestId('images-prune-dialog').getByText('Prune every unused image?').waitFor();
    await page.getByTestId('images-prune-dialog').getByTestId('images-prune-dialog-confirm').click();
    await page.getByTestId('images-pruned').getByText(/^Pruned 1 image, /).waitFor();
    await page.getByTestId('images-table').getByText('No images.').waitFor();
    assert.deepEqual(await agentImages(), []);
    await shot(page, 'empty');

    const audit = (await owner.audit.list.query()).filter((a) => a.userEmail === OPERATOR.email && a.action.startsWith('images.'));
    const lines = audit.map((a) => `${a.action} ${a.target} ${a.result}`);
    for (const want of [
      `images.pull ${src.ref} ok`,
      `images.tag ${src.ref} → ${pushedRef} ok`,
      `images.push ${pushedRef} ok`,
      `images.save `,
      `images.remove ${pushedRef} ok`,
      `images.remove ${src.ref} error: CONFLICT: ${refusal.message}`,
      `images.remove ${src.ref} (force) ok`,
      'images.prune dangling images ok',
      'images.load archive upload: ',
      'images.prune all unused images ok',
    ]) {
      assert.ok(lines.some((l) => l.startsWith(want)), `audited: ${want}\n${lines.join('\n')}`);
    }
    assert.ok(lines.some((l) => /^images\.save .* ok$/.test(l)) && lines.some((l) => /^images\.load .* ok$/.test(l)), lines.join('\n'));
    assert.ok(audit.every((a) => a.hostName === 'img-host'));
  }

  test('a viewer sees the images, the fleet view and inspect but no buttons; crafted calls as the viewer are refused and audited', STEP, async () => {
    await owner.images.pull.mutate({ hostId, ref: src.ref });
    await owner.images.tag.mutate({ hostId, source: src.ref, target: 'local/second:1' });
    const imageId = `sha256:${src.configDigest.replace(/^sha256:/, '')}`;
    const page = await newPage(VIEWER);
    await page.goto(`${cp.url}/hosts/${hostId}/images`);
    await rowById(page, imageId).waitFor();
    for (const t of ['image-pull-form', 'image-load-form', 'images-prune-all', 'images-prune-dangling', 'image-tag', 'image-push', 'image-save', 'image-remove']) {
      assert.equal(await page.getByTestId(t).count(), 0, `${t} is not shown to a viewer`);
    }
    await rowById(page, imageId).getByTestId('image-inspect').click();
    assert.equal(await page.getByTestId('image-inspect-view').getByTestId('image-inspect-id').textContent(), imageId);

    // The fleet view: the image with its host.
    await page.goto(`${cp.url}/images`);
    const fleetRow = page.locator(`[data-testid=fleet-image-row][data-image-id="${imageId}"]`);
    assert.equal(await fleetRow.getByTestId('fleet-image-host').textContent(), 'img-host');
    await page.getByLabel('Search (tag, id, host)').fill('no-such');
    await page.getByTestId('fleet-images-table').getByText('No image matches.').waitFor();
    // Pages are cut on the server: with a second image and one row a page, two pages of one row each.
    const viewer = trpc(cp.url, await signIn(cp.url, VIEWER.email, VIEWER.password));
    await owner.images.pull.mutate({ hostId, ref: (await pushBusyboxImage(registry.url, 'e2e/other', 'v1', { config: { Labels: { other: 'yes' } } })).ref });
    // The lists are the agents' snapshots, which follow a pull by a moment.
    await eventually('the fleet to list two images', async () => (await viewer.images.fleet.query({ page: 1, pageSize: 1 })).total === 2, PATIENCE_MS);
    const p1 = await viewer.images.fleet.query({ page: 1, pageSize: 1 });
    const p2 = await viewer.images.fleet.query({ page: 2, pageSize: 1 });
    assert.deepEqual([p1.total, p1.rows.length, p2.rows.length], [2, 1, 1]);
    assert.notEqual(p1.rows[0].id, p2.rows[0].id);
    assert.ok([...p1.rows, ...p2.rows].every((r) => r.hostName === 'img-host' && r.hostId === hostId));

    const crafted = await page.evaluate(
      async ({ h, ref }) => {
        const pull = await fetch('/api/trpc/images.pull', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, ref } }) });
        const remove = await fetch('/api/trpc/images.remove', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, ref, force: true } }) });
        const save = await fetch(`/api/images/save?hostId=${encodeURIComponent(h)}&ref=${encodeURIComponent(ref)}`);
        const load = await fetch(`/api/images/load?hostId=${encodeURIComponent(h)}`, { method: 'POST', body: new Uint8Array(1024) });
        return Promise.all([pull, remove, save, load].map(async (r) => ({ status: r.status, body: await r.text() })));
      },
      { h: hostId, ref: src.ref },
    );
    assert.deepEqual(crafted.map((c) => c.status), [403, 403, 403, 403], JSON.stringify(crafted));
    assert.match(crafted[0].body, /FORBIDDEN/);
    assert.match(crafted[2].body, /viewer role cannot do this/);
    assert.ok((await agentImages()).some((i) => i.Id === imageId), 'still on the agent');
    const refused = (await owner.audit.list.query()).filter((a) => a.userEmail === VIEWER.email && a.action.startsWith('images.'));
    for (const action of ['images.pull', 'images.remove', 'images.save', 'images.load']) {
      const row = refused.find((a) => a.action === action);
      assert.ok(row, `the refused ${action} is audited: ${JSON.stringify(refused)}`);
      assert.match(row.result, /^error: FORBIDDEN/);
      assert.equal(row.hostName, 'img-host');
    }
    assert.deepEqual(cspProblems, [], 'no CSP violation or page error on any page');
  });

  test('an operator builds from a pasted Dockerfile with the output as it is printed; a failing RUN shows Docker\'s words and leaves no image; a viewer\'s build is refused', STEP, async () => {
    await owner.images.pull.mutate({ hostId, ref: src.ref });
    const before = (await agentImages()).length;
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/images`);
    await page.getByTestId('image-build-dockerfile').fill(`FROM ${src.ref}\nRUN echo built-in-the-browser > /built.txt\nCMD ["cat", "/built.txt"]\n`);
    await page.getByLabel('Tag', { exact: true }).fill('e2e/built:1');
    await page.getByTestId('image-build-form').getByRole('button', { name: 'Build' }).click();
    await page.getByTestId('image-build-done').getByText(/^Built [0-9a-f]{12} as e2e\/built:1$/).waitFor();
    const out = (await page.getByTestId('image-build-output').textContent()) ?? '';
    assert.match(out, new RegExp(`Step 1/3 : FROM ${src.ref.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(out, /Step 2\/3 : RUN echo built-in-the-browser > \/built.txt/);
    assert.match(out, /Successfully tagged e2e\/built:1/);
    assert.equal(docker(['run', '--rm', 'e2e/built:1']).trim(), 'built-in-the-browser');
    await rowByTag(page, 'e2e/built:1').waitFor();

    // The same again: every step from the cache.
    await page.getByTestId('image-build-form').getByRole('button', { name: 'Build' }).click();
    await page.getByTestId('image-build-done').waitFor();
    assert.match((await page.getByTestId('image-build-output').textContent()) ?? '', /Using cache/);

    await page.getByTestId('image-build-dockerfile').fill(`FROM ${src.ref}\nRUN echo about to fail; exit 3\n`);
    await page.getByLabel('Tag', { exact: true }).fill('e2e/broken:1');
    await page.getByTestId('image-build-form').getByRole('button', { name: 'Build' }).click();
    await page.getByTestId('image-build-error').getByText(/returned a non-zero code: 3/).waitFor();
    assert.match((await page.getByTestId('image-build-output').textContent()) ?? '', /about to fail/);
    assert.equal((await agentImages()).filter((i) => (i.RepoTags ?? []).includes('e2e/broken:1')).length, 0, 'no image from a failed build');
    assert.equal((await agentImages()).length, before + 1);

    const viewerPage = await newPage(VIEWER);
    const crafted = await viewerPage.evaluate(async (h) => {
      const r = await fetch(`/api/images/build?hostId=${encodeURIComponent(h)}&tag=x:1`, { method: 'POST', body: new Uint8Array(1024) });
      return { status: r.status, body: await r.text() };
    }, hostId);
    assert.equal(crafted.status, 403, crafted.body);
    const audit = (await owner.audit.list.query()).filter((a) => a.action === 'images.build');
    assert.ok(audit.some((a) => a.userEmail === OPERATOR.email && a.target === 'e2e/built:1' && a.result === 'ok'));
    assert.ok(audit.some((a) => a.userEmail === OPERATOR.email && a.target === 'e2e/broken:1' && /returned a non-zero code: 3/.test(a.result)));
    assert.ok(audit.some((a) => a.userEmail === VIEWER.email && /^error: FORBIDDEN/.test(a.result)));
    assert.deepEqual(cspProblems, [], 'no CSP violation or page error on any page');
  });
});
