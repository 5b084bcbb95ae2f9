// Networks through the real docker CLI, against real agents that each run in a network
// namespace of the test's own (so the machine's own network setup is never touched), with
// "other machines" as further namespaces joined by veth pairs: the seeds' example (a web
// server's address from docker inspect, reached from the host), published ports from
// another machine and through 127.0.0.1, -P, port conflicts, user networks with names and
// aliases, isolation, live connect and disconnect, --internal, host/none/container modes,
// the /etc files, ports that keep forwarding while the agent is killed and down, and two
// agents side by side. After each agent: no link, chain or mount of it is left.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer, createNetns, joinByVeth, type Netns } from '../fixtures/netns';
import { alive, mountsUnder } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

/** An HTTP server in the container: busybox httpd serving TEXT at /index.html on PORT. */
const httpd = (text: string, port = 80) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www`];

/** `curl` inside a namespace: the body, or undefined when it could not be had within `sec`. */
function curl(ns: Netns, url: string, sec = 3): string | undefined {
  const r = ns.run(['curl', '-sf', '-m', String(sec), url], { timeoutSec: sec + 5 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function importImages(agent: AgentProcess): Promise<void> {
  const input = await busyboxLayer();
  agent.ok(['import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input });
  agent.ok(['import', '-c', 'CMD ["sh"]', '-c', 'EXPOSE 80', '-c', 'EXPOSE 53/udp', '-', 'web:test'], { input });
}

const serving = (agent: AgentProcess, ns: Netns, url: string, text: string) =>
  eventually(`${url} to answer`, () => curl(ns, url, 2) === text, 15_000, 100).catch((e: Error) => {
    throw new Error(`${e.message}\nagent log:\n${agent.log().slice(-2000)}`);
  });

/** What an agent leaves in its namespace: links and iptables chains that are not the test's own. */
function leftovers(ns: Netns, keepLinks: string[] = []): { links: string[]; chains: string[] } {
  const links = ns
    .ok(['ip', '-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
    .filter((l): l is string => !!l && l !== 'lo' && !keepLinks.includes(l));
  const chains = ns
    .ok(['iptables-save'])
    .split('\n')
    .filter((l) => /^:BERTH/.test(l) || /-j BERTH/.test(l));
  return { links, chains };
}

/** A process (a server of "another machine") in a namespace, killed by pid at the end. */
function inNamespace(ns: Netns, cmd: string[]): ChildProcess {
  return spawn('nsenter', [`--net=${ns.path}`, '--', ...cmd], { stdio: 'ignore' });
}

describe('networks through the docker CLI, agents in network namespaces of their own', { skip: !isRoot && 'needs root', timeout: 600_000 }, () => {
  let ns: Netns;
  let client: Netns;
  let agent: AgentProcess;
  let hostIp = '';
  const procs: ChildProcess[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-nettest-'));

  before(async () => {
    ns = createNetns('net');
    client = createNetns('client');
    // The client is another machine: it reaches the agent's host at 10.200.0.1.
    hostIp = joinByVeth(ns, client, '10.200.0').aIp;
    agent = await startAgentProcess('net', { netns: ns });
    await importImages(agent);
  });

  after(async () => {
    for (const p of procs) if (p.pid && alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    try {
      if (agent) {
        // A test that failed with the agent down leaves its containers to a new one to remove.
        if (!alive(agent.pid)) await agent.restart();
        const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) agent.docker(['rm', '-f', ...ids]);
        agent.docker(['network', 'prune', '-f']);
        const root = agent.root;
        await agent.stop();
        // Stopped with nothing running: the agent took its bridges and chains with it.
        assert.deepEqual(leftovers(ns, ns.ok(['ip', '-o', 'link', 'show']).match(/tva\w+/g) ?? []), { links: [], chains: [] });
        assert.deepEqual(mountsUnder(root), []);
      }
    } finally {
      ns?.remove();
      client?.remove();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("the seeds' example: a web server's address and gateway from docker inspect, reached from the host; then published and reached from another machine and through 127.0.0.1", async () => {
    agent.ok(['run', '-d', '--name', 'web', 'bb:test', ...httpd('hello-from-web')]);
    const [ip, gw, mac, prefix] = agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.IPPrefixLen}}', 'web']).trim().split(' ');
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    // The gateway is the address of the agent's bridge in its namespace.
    assert.match(ns.ok(['ip', '-4', '-o', 'addr', 'show']), new RegExp(` inet ${gw.replace(/\./g, '\\.')}/${prefix} `));
    assert.equal(mac, `02:42:${ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
    await serving(agent, ns, `http://${ip}/index.html`, 'hello-from-web');
    const nets = JSON.parse(agent.ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'web'])) as Record<string, { IPAddress: string; Gateway: string }>;
    assert.deepEqual(Object.keys(nets), ['bridge']);
    assert.equal(nets.bridge.IPAddress, ip);
    const bridge = JSON.parse(agent.ok(['network', 'inspect', 'bridge']))[0] as { IPAM: { Config: Array<{ Subnet: string; Gateway: string }> }; Containers: Record<string, { Name: string; IPv4Address: string }> };
    assert.equal(bridge.IPAM.Config[0].Gateway, gw);
    assert.deepEqual(Object.values(bridge.Containers).map((c) => [c.Name, c.IPv4Address]), [['web', `${ip}/${prefix}`]]);
    // The other machine has no route to the container's address.
    assert.equal(curl(client, `http://${ip}/index.html`, 1), undefined);

    agent.ok(['run', '-d', '--name', 'pub', '-p', '8080:80', '-p', '127.0.0.1:8081:80', 'bb:test', ...httpd('hello-published')]);
    await serving(agent, client, `http://${hostIp}:8080/index.html`, 'hello-published');
    assert.equal(curl(ns, 'http://127.0.0.1:8080/index.html'), 'hello-published');
    assert.equal(curl(ns, 'http://127.0.0.1:8081/index.html'), 'hello-published');
    // 8081 is published on 127.0.0.1 only: not from outside.
    assert.equal(curl(client, `http://${hostIp}:8081/index.html`, 1), undefined);
    // From another container, through the host's address, and from the container itself (hairpin).
    assert.equal(agent.ok(['run', '--rm', 'bb:test', 'wget', '-q', '-O', '-', `http://${hostIp}:8080/index.html`]).trim(), 'hello-published');
    const pubGw = agent.ok(['inspect', '-f', '{{.NetworkSettings.Gateway}}', 'pub']).trim();
    assert.equal(agent.ok(['run', '--rm', 'bb:test', 'wget', '-q', '-O', '-', `http://${pubGw}:8080/index.html`]).trim(), 'hello-published');

    assert.equal(agent.ok(['port', 'pub']), '80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:8081\n');
    assert.equal(agent.ok(['port', 'pub', '80/tcp']), '0.0.0.0:8080\n127.0.0.1:8081\n');
    assert.equal(agent.ok(['ps', '--filter', 'name=pub', '--format', '{{.Ports}}']).trim(), '0.0.0.0:8080->80/tcp, 127.0.0.1:8081->80/tcp');
    const bindings = JSON.parse(agent.ok(['inspect', '-f', '{{json .HostConfig.PortBindings}}', 'pub']));
    assert.deepEqual(bindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '8081' }] });

    // Stopped, its port is gone (and so is its address); started again, it is back.
    agent.ok(['stop', '-t', '0', 'pub']);
    assert.equal(agent.ok(['port', 'pub']), '');
    assert.equal(agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'pub']).trim(), '');
    assert.equal(curl(client, `http://${hostIp}:8080/index.html`, 1), undefined);
    assert.doesNotMatch(ns.ok(['iptables-save', '-t', 'nat']), /--dport 8080 /);
    agent.ok(['start', 'pub']);
    await serving(agent, client, `http://${hostIp}:8080/index.html`, 'hello-published');
    agent.ok(['rm', '-f', 'web', 'pub']);
    assert.doesNotMatch(ns.ok(['iptables-save', '-t', 'nat']), /DNAT --to-destination/);
  });

  it('-P publishes the image\'s EXPOSE and --expose on free ports; ranges pick one port each; UDP too', async () => {
    const id = agent.ok(['run', '-d', '-P', '--expose', '81', '--name', 'all', 'web:test', 'sh', '-c', 'mkdir -p /www && echo all > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www']).trim();
    const ports = agent.ok(['port', id]).trim().split('\n').sort();
    assert.equal(ports.length, 3, ports.join('\n'));
    const [p53, p80, p81] = ports;
    assert.match(p53, /^53\/udp -> 0\.0\.0\.0:\d+$/);
    assert.match(p80, /^80\/tcp -> 0\.0\.0\.0:\d+$/);
    const hostPort = (line: string) => Number(line.split(':').at(-1));
    const [lo, hi] = ns.ok(['cat', '/proc/sys/net/ipv4/ip_local_port_range']).trim().split(/\s+/).map(Number);
    for (const l of ports) assert.ok(hostPort(l) >= lo && hostPort(l) <= hi, `${l}: from the ephemeral range ${lo}-${hi}`);
    await serving(agent, client, `http://${hostIp}:${hostPort(p80)}/index.html`, 'all');
    await serving(agent, client, `http://${hostIp}:${hostPort(p81)}/index.html`, 'all');

    // A range on the host side for one container port: the first free one of it.
    agent.ok(['run', '-d', '--name', 'ranged', '-p', '9100-9102:80', 'bb:test', ...httpd('ranged')]);
    agent.ok(['run', '-d', '--name', 'ranged2', '-p', '9100-9102:80', 'bb:test', ...httpd('ranged2')]);
    assert.equal(agent.ok(['port', 'ranged', '80']).trim(), '0.0.0.0:9100');
    assert.equal(agent.ok(['port', 'ranged2', '80']).trim(), '0.0.0.0:9101');
    await serving(agent, client, `http://${hostIp}:9101/index.html`, 'ranged2');

    // UDP (busybox has no UDP server to answer through it): the rule, and the port held against others.
    agent.ok(['run', '-d', '--name', 'udp', '-p', '5353:53/udp', 'bb:test', 'sleep', '1000']);
    const udpIp = agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'udp']).trim();
    assert.match(ns.ok(['iptables-save', '-t', 'nat']), new RegExp(`-p udp -m udp --dport 5353 -j DNAT --to-destination ${udpIp.replace(/\./g, '\\.')}:53`));
    assert.equal(agent.ok(['port', 'udp']).trim(), '53/udp -> 0.0.0.0:5353');
    assert.match(agent.docker(['run', '-d', '--name', 'udp2', '-p', '5353:53/udp', 'bb:test', 'true']).stderr, /Bind for 0\.0\.0\.0:5353 failed: port is already allocated/);
    assert.equal(agent.ok(['run', '--rm', '-p', '5353:53/tcp', 'bb:test', 'echo', 'tcp-is-another-port']).trim(), 'tcp-is-another-port');
    agent.ok(['rm', '-f', 'all', 'ranged', 'ranged2', 'udp', 'udp2']);
  });

  it("a port in use is Docker's error at start, whether another container or another process holds it; the container stays created", async () => {
    agent.ok(['run', '-d', '--name', 'first', '-p', '8090:80', 'bb:test', ...httpd('first')]);
    const r = agent.docker(['run', '-d', '--name', 'second', '-p', '8090:80', 'bb:test', ...httpd('second')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /driver failed programming external connectivity on endpoint second \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8090 failed: port is already allocated/);
    assert.equal(agent.ok(['inspect', '-f', '{{.State.Status}}', 'second']).trim(), 'created');
    await serving(agent, client, `http://${hostIp}:8090/index.html`, 'first');

    // A process of the host listening on a port: publishing it would take its traffic, so it is refused.
    writeFileSync(path.join(tmp, 'index.html'), 'host\n');
    const server = inNamespace(ns, ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:8091', '-h', tmp]);
    procs.push(server);
    await eventually('the host server', () => curl(ns, 'http://127.0.0.1:8091/index.html', 1) === 'host', 10_000, 100);
    const taken = agent.docker(['run', '-d', '--name', 'third', '-p', '8091:80', 'bb:test', ...httpd('third')]);
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /driver failed programming external connectivity on endpoint third \([0-9a-f]{64}\): Error starting userland proxy: listen tcp4 0\.0\.0\.0:8091: bind: address already in use/);
    assert.equal(curl(ns, 'http://127.0.0.1:8091/index.html'), 'host');
    process.kill(server.pid!, 'SIGKILL');
    agent.ok(['rm', '-f', 'first', 'second', 'third']);
  });

  it('a user network: containers find each other by name and alias through 127.0.0.11; another network cannot reach them; connect and disconnect work live', async () => {
    const created = agent.ok(['network', 'create', '--label', 'team=a', 'front']).trim();
    assert.match(created, /^[0-9a-f]{64}$/);
    agent.ok(['network', 'create', '--subnet', '10.77.0.0/24', '--gateway', '10.77.0.254', 'back']);
    const ls = agent.ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).trim().split('\n').sort();
    assert.deepEqual(ls, ['back bridge', 'bridge bridge', 'front bridge', 'host host', 'none null']);
    assert.equal(agent.ok(['network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}}']).trim(), 'front');
    const dup = agent.docker(['network', 'create', 'front']);
    assert.match(dup.stderr, /network with name front already exists/);

    agent.ok(['run', '-d', '--name', 'db', '--network', 'front', '--network-alias', 'database', 'bb:test', ...httpd('db')]);
    agent.ok(['run', '-d', '--name', 'other', '--network', 'back', '--ip', '10.77.0.9', 'bb:test', ...httpd('other')]);
    assert.equal(agent.ok(['inspect', '-f', '{{.NetworkSettings.Networks.back.IPAddress}}', 'other']).trim(), '10.77.0.9');
    const dbIp = agent.ok(['inspect', '-f', '{{.NetworkSettings.Networks.front.IPAddress}}', 'db']).trim();
    // On a user network Docker's top-level address fields stay empty.
    assert.equal(agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'db']).trim(), '');
    // API 1.45+: Aliases as asked; the short id (which the resolver answers to too) is in DNSNames.
    const shortId = agent.ok(['inspect', '-f', '{{.Id}}', 'db']).trim().slice(0, 12);
    const { Aliases, DNSNames } = JSON.parse(agent.ok(['inspect', '-f', '{{json .NetworkSettings.Networks.front}}', 'db'])) as { Aliases: string[]; DNSNames: string[] };
    assert.deepEqual(Aliases, ['database']);
    assert.deepEqual(DNSNames, ['db', 'database', shortId]);

    const out = agent.ok([
      'run', '--rm', '--network', 'front', 'bb:test', 'sh', '-c',
      'cat /etc/resolv.conf; nslookup db | tail -n +3; wget -q -O - http://db/index.html; wget -q -O - http://database/index.html; timeout 2 wget -q -O - http://10.77.0.9/index.html || echo isolated; nslookup other >/dev/null 2>&1 || echo other-unknown',
    ]);
    assert.match(out, /^nameserver 127\.0\.0\.11\n/);
    assert.match(out, new RegExp(`Name:\\s+db\\nAddress:\\s+${dbIp.replace(/\./g, '\\.')}\\n`));
    assert.match(out, /^db\ndb\nisolated\nother-unknown$/m);
    // Isolation holds in the other direction too, and for the default bridge.
    assert.match(agent.ok(['run', '--rm', '--network', 'back', 'bb:test', 'sh', '-c', `timeout 2 wget -q -O - http://${dbIp}/index.html || echo isolated`]), /isolated/);
    assert.match(agent.ok(['run', '--rm', 'bb:test', 'sh', '-c', `timeout 2 wget -q -O - http://${dbIp}/index.html || echo isolated`]), /isolated/);

    // Live: db joins back; a container there reaches it by name, with db's address on back.
    agent.ok(['network', 'connect', '--alias', 'store', 'back', 'db']);
    const dbBack = agent.ok(['inspect', '-f', '{{.NetworkSettings.Networks.back.IPAddress}}', 'db']).trim();
    assert.match(dbBack, /^10\.77\.0\.\d+$/);
    assert.equal(agent.ok(['run', '--rm', '--network', 'back', 'bb:test', 'sh', '-c', 'wget -q -O - http://store/index.html; nslookup db | tail -n +3 | grep Address']).trim(), `db\nAddress: ${dbBack}`);
    // And db reaches other, which it could not before.
    const dbPid = agent.ok(['inspect', '-f', '{{.State.Pid}}', 'db']).trim();
    const viaDb = () => spawnRun(['nsenter', '-t', dbPid, '-n', 'curl', '-sf', '-m', '2', 'http://10.77.0.9/index.html']);
    assert.equal(viaDb(), 'other');
    const back = JSON.parse(agent.ok(['network', 'inspect', 'back']))[0] as { Containers: Record<string, { Name: string }> };
    assert.deepEqual(Object.values(back.Containers).map((c) => c.Name).sort(), ['db', 'other']);
    assert.match(agent.docker(['network', 'connect', 'back', 'db']).stderr, /endpoint with name db already exists in network back/);

    agent.ok(['network', 'disconnect', 'back', 'db']);
    assert.equal(viaDb(), undefined);
    assert.match(agent.ok(['run', '--rm', '--network', 'back', 'bb:test', 'sh', '-c', 'nslookup store >/dev/null 2>&1 || echo gone']), /gone/);
    assert.deepEqual(Object.keys(JSON.parse(agent.ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'db']))), ['front']);
    assert.match(agent.docker(['network', 'disconnect', 'back', 'db']).stderr, /is not connected to network back/);

    // A stopped container is connected at its next start.
    agent.ok(['create', '--name', 'later', '--network', 'front', 'bb:test', 'sleep', '1000']);
    agent.ok(['network', 'connect', 'back', 'later']);
    agent.ok(['start', 'later']);
    assert.match(agent.ok(['inspect', '-f', '{{.NetworkSettings.Networks.back.IPAddress}}', 'later']).trim(), /^10\.77\.0\.\d+$/);

    assert.match(agent.docker(['network', 'rm', 'front']).stderr, /error while removing network: network front id [0-9a-f]{64} has active endpoints/);
    assert.match(agent.docker(['network', 'rm', 'bridge']).stderr, /bridge is a pre-defined network and cannot be removed/);
    agent.ok(['rm', '-f', 'db', 'other', 'later']);
    const bridgeOf = (name: string) => JSON.parse(agent.ok(['network', 'inspect', name]))[0].Id.slice(0, 7) as string;
    const frontBridge = bridgeOf('front');
    assert.equal(agent.ok(['network', 'rm', 'front']).trim(), 'front');
    assert.ok(!ns.ok(['ip', '-o', 'link', 'show']).includes(frontBridge), 'the network\'s bridge is gone with it');
    assert.equal(agent.ok(['network', 'prune', '-f']).trim(), 'Deleted Networks:\nback');
    assert.match(agent.docker(['network', 'inspect', 'front']).stderr, /No such network: front|network front not found/);
  });

  it('--internal: the containers reach each other, nothing outside; a normal network reaches outside through NAT', async () => {
    writeFileSync(path.join(tmp, 'index.html'), 'outside\n');
    const server = inNamespace(client, ['/bin/busybox', 'httpd', '-f', '-p', '8000', '-h', tmp]);
    procs.push(server);
    await eventually('the outside server', () => curl(client, 'http://127.0.0.1:8000/index.html', 1) === 'outside', 10_000, 100);
    const outside = `http://10.200.0.2:8000/index.html`;
    assert.equal(agent.ok(['run', '--rm', 'bb:test', 'wget', '-q', '-O', '-', outside]).trim(), 'outside');

    agent.ok(['network', 'create', '--internal', 'sealed']);
    assert.equal(agent.ok(['network', 'inspect', '-f', '{{.Internal}}', 'sealed']).trim(), 'true');
    agent.ok(['run', '-d', '--name', 'inner', '--network', 'sealed', 'bb:test', ...httpd('inner')]);
    const r = agent.ok(['run', '--rm', '--network', 'sealed', 'bb:test', 'sh', '-c', `wget -q -O - http://inner/index.html; timeout 3 wget -q -O - ${outside} || echo no-way-out`]);
    assert.equal(r.trim(), 'inner\nno-way-out');
    // Not even with a route of its own: the firewall drops it.
    const innerPid = agent.ok(['inspect', '-f', '{{.State.Pid}}', 'inner']).trim();
    const gw = agent.ok(['inspect', '-f', '{{.NetworkSettings.Networks.sealed.Gateway}}', 'inner']).trim();
    spawnRun(['nsenter', '-t', innerPid, '-n', 'ip', 'route', 'add', 'default', 'via', gw]);
    assert.equal(spawnRun(['nsenter', '-t', innerPid, '-n', 'curl', '-sf', '-m', '2', outside]), undefined);
    const p = agent.docker(['run', '-d', '--network', 'sealed', '-p', '8095:80', 'bb:test', 'true']);
    assert.match(p.stderr, /published ports need a network with outside access/);
    process.kill(server.pid!, 'SIGKILL');
    const ids = agent.ok(['ps', '-aq']).trim().split('\n').filter(Boolean);
    agent.ok(['rm', '-f', ...ids]);
    agent.ok(['network', 'rm', 'sealed']);
  });

  it('--network host, none and container:NAME; an unknown network is a 404; the /etc files as Docker writes them', async () => {
    const ifaces = (out: string) => out.split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean).sort();
    assert.deepEqual(ifaces(agent.ok(['run', '--rm', '--network', 'none', 'bb:test', 'cat', '/proc/net/dev'])), ['lo']);
    assert.deepEqual(ifaces(agent.ok(['run', '--rm', '--network', 'host', 'bb:test', 'cat', '/proc/net/dev'])), ifaces(ns.ok(['cat', '/proc/net/dev'])));
    assert.deepEqual(ifaces(agent.ok(['run', '--rm', 'bb:test', 'cat', '/proc/net/dev'])), ['eth0', 'lo']);

    agent.ok(['run', '-d', '--name', 'target', '--hostname', 'tgt', 'bb:test', ...httpd('shared', 8088)]);
    const joined = agent.ok(['run', '--rm', '--network', 'container:target', 'bb:test', 'sh', '-c', 'hostname; wget -q -O - http://127.0.0.1:8088/index.html']);
    assert.equal(joined, 'tgt\nshared\n');
    assert.equal(agent.ok(['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'target']).trim(), 'default');
    assert.match(agent.docker(['run', '--rm', '--network', 'container:target', '--hostname', 'x', 'bb:test', 'true']).stderr, /conflicting options: hostname and the network mode/);
    assert.match(agent.docker(['run', '--rm', '--network', 'container:nobody', 'bb:test', 'true']).stderr, /No such container: nobody/);
    agent.ok(['stop', '-t', '0', 'target']);
    assert.match(agent.docker(['run', '--rm', '--network', 'container:target', 'bb:test', 'true']).stderr, /cannot join network namespace of a non running container/);
    agent.ok(['rm', 'target']);

    const unknown = agent.docker(['run', '--rm', '--network', 'nope', 'bb:test', 'true']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /network nope not found/);

    const etc = agent.ok([
      'run', '--rm', '--hostname', 'box', '--add-host', 'db:10.1.2.3', '--add-host', 'gw:host-gateway', '--dns', '10.9.9.9', '--dns-search', 'example.org', '--dns-option', 'ndots:2', 'bb:test',
      'sh', '-c', 'hostname; cat /etc/hosts; echo --; cat /etc/resolv.conf; ip -4 -o addr show eth0',
    ]);
    const [name, rest] = [etc.split('\n')[0], etc.split('\n').slice(1).join('\n')];
    assert.equal(name, 'box');
    const ip = /inet ([\d.]+)\//.exec(rest)![1];
    const [hosts, resolv] = rest.split('--\n');
    const gw = ns.ok(['ip', '-4', '-o', 'addr', 'show']).match(/inet ([\d.]+)\/\d+ .*scope global b\w+0/)?.[1];
    assert.ok(gw, 'the default bridge has an address');
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost\n/);
    assert.match(hosts, /\n10\.1\.2\.3\tdb\n/);
    assert.match(hosts, new RegExp(`\\n${gw!.replace(/\./g, '\\.')}\\tgw\\n`));
    assert.match(hosts, new RegExp(`\\n${ip.replace(/\./g, '\\.')}\\tbox\\n$`));
    assert.equal(resolv.split('\n').slice(0, 3).join('\n'), 'nameserver 10.9.9.9\nsearch example.org\noptions ndots:2');
    // Without --dns: the host's resolvers, but none on loopback, which mean nothing in another namespace.
    const plain = agent.ok(['run', '--rm', 'bb:test', 'cat', '/etc/resolv.conf']);
    assert.doesNotMatch(plain, /nameserver 127\./);
    assert.match(plain, /^nameserver /);
  });

  it('--mac-address (the API\'s Config.MacAddress: this docker CLI sends it only to API 1.44) and --ip where Docker refuses it', async () => {
    const created = await api('POST', '/v1.41/containers/create?name=mac', { Image: 'bb:test', Cmd: ['sleep', '1000'], MacAddress: '02:42:0a:0b:0c:0d' });
    assert.equal(created.status, 201, created.body);
    agent.ok(['start', 'mac']);
    const pid = agent.ok(['inspect', '-f', '{{.State.Pid}}', 'mac']).trim();
    assert.match(spawnRun(['nsenter', '-t', pid, '-n', 'ip', 'link', 'show', 'eth0']) ?? '', /link\/ether 02:42:0a:0b:0c:0d /);
    assert.equal(agent.ok(['inspect', '-f', '{{.NetworkSettings.MacAddress}}', 'mac']).trim(), '02:42:0a:0b:0c:0d');
    agent.ok(['rm', '-f', 'mac']);
    assert.match(agent.docker(['run', '--rm', '--ip', '172.17.9.9', 'bb:test', 'true']).stderr, /user specified IP address is supported on user defined networks only/);
    agent.ok(['network', 'create', 'auto']);
    assert.match(agent.docker(['run', '--rm', '--network', 'auto', '--ip', '172.30.9.9', 'bb:test', 'true']).stderr, /user specified IP address is supported only when connecting to networks with user configured subnets/);
    // (The docker CLI refuses this one itself; the API gets dockerd's answer.)
    const alias = await api('POST', '/v1.41/containers/create', { Image: 'bb:test', HostConfig: { NetworkMode: 'default' }, NetworkingConfig: { EndpointsConfig: { default: { Aliases: ['x'] } } } });
    assert.equal(alias.status, 400);
    assert.match(alias.body, /network-scoped alias is supported only for containers in user defined networks/);
    agent.ok(['network', 'rm', 'auto']);
  });

  it('published ports keep forwarding while the agent is killed with SIGKILL and down, and after it is back; addresses survive', async () => {
    agent.ok(['run', '-d', '--name', 'steady', '-p', '8099:80', 'bb:test', ...httpd('steady')]);
    agent.ok(['network', 'create', 'kept']);
    agent.ok(['run', '-d', '--name', 'named', '--network', 'kept', 'bb:test', ...httpd('named')]);
    await serving(agent, client, `http://${hostIp}:8099/index.html`, 'steady');
    const ip = agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'steady']).trim();
    const killed = agent.pid;
    await agent.kill('SIGKILL');
    assert.ok(!alive(killed));
    // No agent at all now: the kernel forwards.
    for (let i = 0; i < 3; i++) assert.equal(curl(client, `http://${hostIp}:8099/index.html`), 'steady');
    assert.equal(curl(ns, 'http://127.0.0.1:8099/index.html'), 'steady');
    await agent.restart();
    assert.equal(curl(client, `http://${hostIp}:8099/index.html`), 'steady');
    assert.equal(agent.ok(['port', 'steady']).trim(), '80/tcp -> 0.0.0.0:8099');
    assert.equal(agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'steady']).trim(), ip);
    // The new agent holds the port again, and resolves names again at once.
    assert.match(agent.docker(['run', '-d', '--name', 'again', '-p', '8099:80', 'bb:test', 'true']).stderr, /port is already allocated/);
    assert.equal(agent.ok(['run', '--rm', '--network', 'kept', 'bb:test', 'wget', '-q', '-O', '-', 'http://named/index.html']).trim(), 'named');
    // A new container does not get an address in use.
    agent.ok(['run', '-d', '--name', 'fresh', 'bb:test', 'sleep', '1000']);
    assert.notEqual(agent.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'fresh']).trim(), ip);
    agent.ok(['rm', '-f', 'steady', 'named', 'again', 'fresh']);
    agent.ok(['network', 'rm', 'kept']);
  });

  const api = (method: string, p: string, body?: unknown) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request({ socketPath: agent.sock, path: p, method, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      req.end(data);
    });
});

describe('two agents with different roots in one network namespace', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  it('each has its own bridge, subnet and chains; both publish and answer; one stopping leaves the other working', async () => {
    const ns = createNetns('pair');
    const client = createNetns('pairc');
    let a: AgentProcess | undefined;
    let b: AgentProcess | undefined;
    try {
      const hostIp = joinByVeth(ns, client, '10.201.0').aIp;
      a = await startAgentProcess('pair-a', { netns: ns });
      b = await startAgentProcess('pair-b', { netns: ns });
      await importImages(a);
      await importImages(b);
      a.ok(['run', '-d', '--name', 'web', '-p', '8001:80', 'bb:test', ...httpd('from-a')]);
      b.ok(['run', '-d', '--name', 'web', '-p', '8002:80', 'bb:test', ...httpd('from-b')]);
      a.ok(['network', 'create', 'mine']);
      b.ok(['network', 'create', 'mine']);
      await serving(a, client, `http://${hostIp}:8001/index.html`, 'from-a');
      await serving(b, client, `http://${hostIp}:8002/index.html`, 'from-b');
      const subnet = (x: AgentProcess, net: string) => JSON.parse(x.ok(['network', 'inspect', net]))[0].IPAM.Config[0].Subnet as string;
      assert.notEqual(subnet(a, 'bridge'), subnet(b, 'bridge'));
      assert.notEqual(subnet(a, 'mine'), subnet(b, 'mine'));
      const bridgeName = (x: AgentProcess) => JSON.parse(x.ok(['network', 'inspect', 'bridge']))[0].Options['com.docker.network.bridge.name'] as string;
      assert.notEqual(bridgeName(a), bridgeName(b));
      const chains = (ns.ok(['iptables-save']).match(/^:BERTH-[0-9A-F]+/gm) ?? []).map((c) => c.slice(1));
      assert.equal(new Set(chains).size, 2, `two agents' chain prefixes: ${[...new Set(chains)].join(' ')}`);
      // The same port twice is the second one's error, across agents too.
      assert.match(b.docker(['run', '-d', '--name', 'dup', '-p', '8001:80', 'bb:test', 'true']).stderr, /8001.*address already in use/);
      b.docker(['rm', '-f', 'dup']);

      const aRoot = a.root;
      a.ok(['rm', '-f', 'web']);
      a.ok(['network', 'rm', 'mine']);
      const aBridge = bridgeName(a);
      const aAgent = a;
      a = undefined;
      await aAgent.stop();
      const after = ns.ok(['ip', '-o', 'link', 'show']);
      assert.ok(!after.includes(`${aBridge}:`), `agent a's bridge ${aBridge} is gone`);
      assert.ok(after.includes(`${bridgeName(b)}:`), "agent b's bridge stays");
      assert.equal((ns.ok(['iptables-save']).match(/^:BERTH-[0-9A-F]+/gm) ?? []).length > 0, true);
      assert.equal(new Set((ns.ok(['iptables-save']).match(/^:BERTH-[0-9A-F]+/gm) ?? [])).size, 1);
      assert.deepEqual(mountsUnder(aRoot), []);
      assert.equal(curl(client, `http://${hostIp}:8002/index.html`), 'from-b');
      b.ok(['rm', '-f', 'web']);
      b.ok(['network', 'rm', 'mine']);
      const bAgent = b;
      b = undefined;
      await bAgent.stop();
      assert.deepEqual(leftovers(ns, ns.ok(['ip', '-o', 'link', 'show']).match(/tva\w+/g) ?? []), { links: [], chains: [] });
    } finally {
      for (const x of [a, b]) {
        if (!x) continue;
        const ids = x.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) x.docker(['rm', '-f', ...ids]);
        await x.stop();
      }
      ns.remove();
      client.remove();
    }
  });
});

/** A command's trimmed stdout, or undefined when it failed. */
function spawnRun(cmd: string[]): string | undefined {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
