// Debian's docker-compose 1.29 against a real agent (in a network namespace of the test's own):
// a three-service project — a user network with an alias, a named volume, a published port,
// depends_on with condition: service_healthy, healthchecks, an env_file — comes up in
// dependency order, its services reach each other by name through the embedded resolver,
// compose's labels are kept and filter containers, networks and volumes, ps/logs/exec work,
// a second `up -d` after a change to one service recreates only that one, what Berth does
// not do is refused by name, and `down -v` leaves nothing of the project behind.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer, createNetns, type Netns } from '../fixtures/netns';
import { mountsUnder } from '../fixtures/processes';
import { inScript } from '../fixtures/terminal';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const haveCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const PROJECT = 'berthcompose';
const LABEL = `label=com.docker.compose.project=${PROJECT}`;

/**
 * db serves the greeting from its env_file, written into its named volume, over nc on 7000
 * under its alias "database"; web fetches it once at start (by that alias) into the page it
 * serves on 80 (published on 8080), prefixed with its VERSION; client fetches web's page by
 * service name every 0.3 s (at most 2 s each: a connection to a web that is gone must not hang it) and prints it. web waits for a healthy db, client for a healthy web.
 * init: true (a docker-init as PID 1) so that a stop's SIGTERM ends them at once.
 */
function composeFile(webVersion: string): string {
  return `version: "2.4"
services:
  db:
    image: bb:test
    init: true
    command: ["sh", "-c", "echo $$DB_GREETING > /data/greeting && exec nc -ll -p 7000 -e cat /data/greeting"]
    env_file: db.env
    volumes:
      - dbdata:/data
    networks:
      backnet:
        aliases: [database]
    healthcheck:
      test: ["CMD-SHELL", "test -s /data/greeting"]
      interval: 500ms
      timeout: 2s
      retries: 60
  web:
    image: bb:test
    init: true
    environment:
      VERSION: "${webVersion}"
    command: ["sh", "-c", "mkdir -p /www && echo $$VERSION:$$(nc database 7000) > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
      - "8080:80"
    depends_on:
      db:
        condition: service_healthy
    networks: [backnet]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost/index.html"]
      interval: 500ms
      retries: 60
  client:
    image: bb:test
    init: true
    command: ["sh", "-c", "while true; do timeout 2 wget -q -O- http://web/index.html; sleep 0.3; done"]
    depends_on:
      web:
        condition: service_healthy
    networks: [backnet]
networks:
  backnet:
volumes:
  dbdata:
`;
}

interface Event {
  Type: string;
  Action: string;
  timeNano: number;
  Actor: { ID: string; Attributes: Record<string, string> };
}

describe('docker-compose 1.29 against the agent', { skip: (!isRoot && 'needs root') || (!haveCompose && 'needs docker-compose (Debian package docker-compose)'), timeout: 600_000 }, () => {
  let ns: Netns;
  let agent: AgentProcess;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-compose-'));

  const compose = (args: string[], timeoutSec = 120, project = PROJECT): SpawnSyncReturns<string> =>
    spawnSync('timeout', ['-k', '5', String(timeoutSec), 'docker-compose', '--ansi', 'never', '-p', project, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, DOCKER_HOST: `unix://${agent.sock}` },
    });
  const ok = (args: string[], timeoutSec?: number): string => {
    const r = compose(args, timeoutSec);
    if (r.status !== 0) throw new Error(`docker-compose ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}\nagent log:\n${agent.log().slice(-3000)}`);
    return r.stdout + r.stderr;
  };
  const curl = (url: string): string | undefined => {
    const r = ns.run(['curl', '-sf', '-m', '2', url], { timeoutSec: 10 });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const idOf = (service: string) => agent.ok(['ps', '-q', '--no-trunc', '--filter', LABEL, '--filter', `label=com.docker.compose.service=${service}`]).trim();
  const labelsOf = (id: string) => JSON.parse(agent.ok(['inspect', '-f', '{{json .Config.Labels}}', id])) as Record<string, string>;

  before(async () => {
    ns = createNetns('compose');
    agent = await startAgentProcess('compose', { netns: ns });
    agent.ok(['import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer() });
    writeFileSync(path.join(dir, 'docker-compose.yml'), composeFile('1'));
    writeFileSync(path.join(dir, 'db.env'), '# read by compose into the container environment\nDB_GREETING=hello-from-db\n');
  });

  after(async () => {
    try {
      if (agent) {
        compose(['down', '-v', '--remove-orphans']);
        const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) agent.docker(['rm', '-f', ...ids]);
        agent.docker(['network', 'prune', '-f']);
        agent.docker(['volume', 'prune', '-f']);
        const root = agent.root;
        await agent.stop();
        assert.deepEqual(mountsUnder(root), []);
      }
    } finally {
      ns?.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('up -d brings the project up in dependency order: each service starts after the one it depends on is healthy', async () => {
    const events: Event[] = [];
    const feed = spawn('timeout', ['-k', '5', '300', 'docker', '-H', `unix://${agent.sock}`, 'events', '--filter', 'type=container', '--format', '{{json .}}'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    feed.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, i)) as Event);
        buf = buf.slice(i + 1);
      }
    });
    const gone = new Promise((r) => feed.once('exit', r));
    try {
      // The feed is open once it reports a container made for the purpose. A marker made before
      // the feed's CLI has connected is never reported (events are not kept), so another is made
      // each second until one is.
      const markers: string[] = [];
      const seen = () => events.some((e) => markers.includes(e.Actor.ID));
      for (const end = Date.now() + 30_000; !seen(); ) {
        if (Date.now() > end) throw new Error(`the event feed reported none of ${markers.length} marker containers within 30 s`);
        markers.push(agent.ok(['create', 'bb:test', 'true']).trim());
        for (const t = Date.now() + 1000; !seen() && Date.now() < t; ) await new Promise((r) => setTimeout(r, 50));
      }
      agent.ok(['rm', ...markers]);
      const out = ok(['up', '-d']);
      assert.match(out, new RegExp(`Creating network "${PROJECT}_backnet" with the default driver`));
      assert.match(out, new RegExp(`Creating volume "${PROJECT}_dbdata" with default driver`));
      await eventually('client to start', () => events.some((e) => e.Action === 'start' && e.Actor.Attributes['com.docker.compose.service'] === 'client'), 30_000);
    } finally {
      feed.kill('SIGTERM');
      await gone;
    }
    const ours = events.filter((e) => e.Actor.Attributes['com.docker.compose.project'] === PROJECT);
    const when = (service: string, action: string) => {
      const e = ours.find((x) => x.Action === action && x.Actor.Attributes['com.docker.compose.service'] === service);
      assert.ok(e, `no ${action} event for ${service}: ${events.map((x) => `${x.Actor.Attributes.name} ${x.Action}`).join(', ')}`);
      return e.timeNano;
    };
    assert.ok(when('db', 'start') < when('db', 'health_status: healthy'));
    assert.ok(when('db', 'health_status: healthy') < when('web', 'start'), 'web started before db was healthy');
    assert.ok(when('web', 'health_status: healthy') < when('client', 'start'), 'client started before web was healthy');

    const ps = ok(['ps']);
    assert.match(ps, new RegExp(`${PROJECT}_db_1 .* Up \\(healthy\\)`));
    assert.match(ps, new RegExp(`${PROJECT}_web_1 .* Up \\(healthy\\) +0\\.0\\.0\\.0:8080->80/tcp`));
    assert.match(ps, new RegExp(`${PROJECT}_client_1 .* Up `));
    assert.deepEqual(ok(['ps', '--services']).trim().split('\n').sort(), ['client', 'db', 'web']);
  });

  it("the services reach each other by service name and alias, the env_file's value went through the named volume, and the published port serves it", async () => {
    // db → web by the alias "database", and the greeting came from db.env through the volume.
    assert.equal(ok(['exec', '-T', 'db', 'cat', '/data/greeting']).trim(), 'hello-from-db');
    assert.match(agent.ok(['inspect', '-f', '{{json .Config.Env}}', idOf('db')]), /"DB_GREETING=hello-from-db"/);
    await eventually('the published port to serve the page', () => curl('http://127.0.0.1:8080/index.html') === '1:hello-from-db', 15_000);
    // web → client by the service name "web".
    await eventually('client to print the page', () => /client_1 +\| 1:hello-from-db/.test(ok(['logs', '--no-color', 'client'])), 15_000);
    // The resolver answers the service names, the alias and the container names on the project's network.
    const ips = Object.fromEntries(['db', 'web', 'client'].map((s) => [s, agent.ok(['inspect', '-f', `{{(index .NetworkSettings.Networks "${PROJECT}_backnet").IPAddress}}`, idOf(s)]).trim()]));
    for (const [name, ip] of [['db', ips.db], ['database', ips.db], ['web', ips.web], [`${PROJECT}_client_1`, ips.client]]) {
      const r = ok(['exec', '-T', 'client', 'nslookup', name, '127.0.0.11']);
      assert.match(r, new RegExp(`Name:\\s+${name}\\s+Address: ${ip.replace(/\./g, '\\.')}\\b`), r);
    }
    // exec with a TTY, as compose runs it by default.
    const t = inScript(`cd ${dir} && docker-compose --ansi never -p ${PROJECT} exec web tty`, { env: { ...process.env, DOCKER_HOST: `unix://${agent.sock}` } });
    assert.equal(t.status, 0, t.output);
    // script(1) may echo a control character for its stdin's end before the line.
    assert.match(t.output, /\/dev\/pts\/0\r?$/m);
    const failed = compose(['exec', '-T', 'web', 'sh', '-c', 'exit 3']);
    assert.equal(failed.status, 3);
  });

  it('run makes a one-off container linked to the service (links on a user network: names for that container only)', () => {
    // compose links the one-off container to the service's (HostConfig.Links).
    const run = compose(['run', '--rm', '-T', 'client', 'sh', '-c', 'wget -q -O- http://web/index.html']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), '1:hello-from-db');
    assert.equal(agent.ok(['ps', '-aq', '--filter', LABEL, '--filter', 'label=com.docker.compose.oneoff=True']).trim(), '', 'the one-off container is left');
    // --link on a user network: the alias answers for the linking container, and for no other.
    const dbIp = agent.ok(['inspect', '-f', `{{(index .NetworkSettings.Networks "${PROJECT}_backnet").IPAddress}}`, idOf('db')]).trim();
    const linked = agent.ok(['run', '--rm', '--network', `${PROJECT}_backnet`, '--link', `${PROJECT}_db_1:store`, 'bb:test', 'nslookup', 'store', '127.0.0.11']);
    assert.match(linked, new RegExp(`Name:\\s+store\\s+Address: ${dbIp.replace(/\./g, '\\.')}\\b`), linked);
    const other = agent.docker(['run', '--rm', '--network', `${PROJECT}_backnet`, 'bb:test', 'nslookup', 'store', '127.0.0.11']);
    assert.doesNotMatch(other.stdout, /Name:\s+store/);
  });

  it("compose's labels are kept, and label filters find the project's containers, network and volume", () => {
    const web = labelsOf(idOf('web'));
    assert.equal(web['com.docker.compose.project'], PROJECT);
    assert.equal(web['com.docker.compose.service'], 'web');
    assert.equal(web['com.docker.compose.oneoff'], 'False');
    assert.equal(web['com.docker.compose.container-number'], '1');
    assert.equal(web['com.docker.compose.project.working_dir'], dir);
    assert.match(web['com.docker.compose.config-hash'], /^[0-9a-f]{64}$/);
    assert.deepEqual(agent.ok(['ps', '--filter', LABEL, '--format', '{{.Names}}']).trim().split('\n').sort(), [`${PROJECT}_client_1`, `${PROJECT}_db_1`, `${PROJECT}_web_1`]);
    assert.deepEqual(agent.ok(['ps', '--filter', LABEL, '--filter', 'label=com.docker.compose.service=db', '--format', '{{.Names}}']).trim(), `${PROJECT}_db_1`);
    assert.equal(agent.ok(['ps', '--filter', 'label=com.docker.compose.project=other', '-q']).trim(), '');
    assert.equal(agent.ok(['network', 'ls', '--filter', LABEL, '--format', '{{.Name}}']).trim(), `${PROJECT}_backnet`);
    assert.equal(agent.ok(['network', 'ls', '--filter', 'label=com.docker.compose.network=backnet', '--format', '{{.Name}}']).trim(), `${PROJECT}_backnet`);
    assert.equal(agent.ok(['volume', 'ls', '--filter', LABEL, '--format', '{{.Name}}']).trim(), `${PROJECT}_dbdata`);
    assert.equal(agent.ok(['volume', 'ls', '--filter', 'label=com.docker.compose.volume=dbdata', '--format', '{{.Name}}']).trim(), `${PROJECT}_dbdata`);
    const net = JSON.parse(agent.ok(['network', 'inspect', `${PROJECT}_backnet`]))[0] as { Labels: Record<string, string>; Attachable: boolean; Containers: Record<string, { Name: string }> };
    assert.equal(net.Labels['com.docker.compose.network'], 'backnet');
    assert.equal(net.Attachable, true);
    assert.deepEqual(Object.values(net.Containers).map((c) => c.Name).sort(), [`${PROJECT}_client_1`, `${PROJECT}_db_1`, `${PROJECT}_web_1`]);
  });

  it('a second up -d after a change to web recreates web only, and the others reach the new one by name', async () => {
    const before = { db: idOf('db'), web: idOf('web'), client: idOf('client') };
    const hash = labelsOf(before.web)['com.docker.compose.config-hash'];
    // The network's bridge keeps its MAC when a port goes (the others' cached gateway stays right).
    const gateway = agent.ok(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', `${PROJECT}_backnet`]).trim();
    const bridge = ns.ok(['ip', '-o', '-4', 'addr', 'show']).split('\n').find((l) => l.includes(` inet ${gateway}/`))!.split(/\s+/)[1];
    const bridgeMac = () => /link\/ether (\S+)/.exec(ns.ok(['ip', '-o', 'link', 'show', bridge]))![1];
    const macBefore = bridgeMac();
    // Unchanged: nothing is recreated.
    const same = ok(['up', '-d']);
    assert.match(same, new RegExp(`${PROJECT}_web_1 is up-to-date`));
    assert.equal(idOf('web'), before.web);

    writeFileSync(path.join(dir, 'docker-compose.yml'), composeFile('2'));
    const out = ok(['up', '-d']);
    assert.match(out, new RegExp(`${PROJECT}_db_1 is up-to-date`));
    assert.match(out, new RegExp(`${PROJECT}_client_1 is up-to-date`));
    assert.match(out, new RegExp(`Recreating ${PROJECT}_web_1`));
    const now = { db: idOf('db'), web: idOf('web'), client: idOf('client') };
    assert.equal(now.db, before.db);
    assert.equal(now.client, before.client);
    assert.notEqual(now.web, before.web);
    assert.notEqual(labelsOf(now.web)['com.docker.compose.config-hash'], hash);
    assert.equal(bridgeMac(), macBefore);
    // The old container is gone, not left renamed.
    assert.equal(agent.ok(['ps', '-aq', '--filter', LABEL]).trim().split('\n').length, 3);
    await eventually('the published port to serve the new page', () => curl('http://127.0.0.1:8080/index.html') === '2:hello-from-db', 15_000);
    let seen = '';
    await eventually('client to print the new page', () => /client_1 +\| 2:hello-from-db/.test((seen = ok(['logs', '--no-color', '--tail', '5', 'client']))), 15_000).catch((e: Error) => {
      throw new Error(`${e.message}; its last lines:\n${seen}`);
    });
  });

  it("what Berth does not do is refused by name, in compose's error output", () => {
    writeFileSync(
      path.join(dir, 'refused.yml'),
      'version: "2.4"\nservices:\n  logger:\n    image: bb:test\n    command: ["true"]\n    logging:\n      driver: syslog\n',
    );
    const r = compose(['-f', 'refused.yml', 'up', '-d'], 120, 'berthrefused');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Cannot create container for service logger: Berth does not support --log-driver syslog/);
    assert.equal(agent.ok(['ps', '-aq', '--filter', 'label=com.docker.compose.project=berthrefused']).trim(), '');
    const down = compose(['-f', 'refused.yml', 'down'], 120, 'berthrefused');
    assert.equal(down.status, 0, down.stderr);
    assert.equal(agent.ok(['network', 'ls', '-q', '--filter', 'label=com.docker.compose.project=berthrefused']).trim(), '');
  });

  it('down -v removes the containers, the network and the named volume', () => {
    const out = ok(['down', '-v']);
    assert.match(out, new RegExp(`Removing network ${PROJECT}_backnet`));
    assert.match(out, new RegExp(`Removing volume ${PROJECT}_dbdata`));
    assert.equal(agent.ok(['ps', '-aq', '--filter', LABEL]).trim(), '');
    assert.equal(agent.ok(['network', 'ls', '-q', '--filter', LABEL]).trim(), '');
    assert.equal(agent.ok(['volume', 'ls', '-q', '--filter', LABEL]).trim(), '');
    assert.equal(agent.ok(['volume', 'ls', '-q']).trim(), '');
    assert.equal(ok(['ps', '-q']).trim(), '');
  });
});
