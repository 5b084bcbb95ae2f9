// The network module's pure parts: addresses and subnets, address management, the names
// derived from an agent's root, the firewall rules as text, the /etc files, the network
// section of a spec, the embedded resolver's DNS messages, the test guard.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hostsFile, resolvConf } from '../../agent/engine/containers/etc-files';
import { EngineError } from '../../agent/engine/errors';
import { answer, parseQuery, RCODE, type NameSource } from '../../agent/engine/network/dns';
import { containerDnsRules, jumps, presentJumps, render, renderTeardown } from '../../agent/engine/network/firewall';
import { hostNetworkGuard } from '../../agent/engine/network/guard';
import { allocate } from '../../agent/engine/network/ipam';
import { formatIpv4, hostRange, macFor, overlaps, parseIpv4, parseSubnet } from '../../agent/engine/network/ipv4';
import { bridgeName, chains, isOwnLink, netNamesFor, vethName } from '../../agent/engine/network/names';
import { parseExposed, parseExtraHost, resolveNetworkSpec } from '../../agent/engine/network/spec';
import type { NetworkRecord } from '../../agent/engine/network/state';

const DEFAULT_ROOT = '/var/lib/berth';

const net = (o: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id: 'a'.repeat(64),
  name: 'n',
  created: '',
  driver: 'bridge',
  subnet: '10.1.0.0/29',
  gateway: '10.1.0.1',
  ipRange: '',
  internal: false,
  labels: {},
  options: {},
  isDefault: false,
  userSubnet: true,
  bridge: 'b1',
  lastIp: '',
  ...o,
});

const status = (s: number) => (e: unknown) => e instanceof EngineError && e.status === s;

describe('IPv4', () => {
  it('subnets: host bits refused, overlap, the addresses hosts get, Docker\'s MAC', () => {
    assert.deepEqual(parseSubnet('172.18.0.0/16'), { base: parseIpv4('172.18.0.0'), prefix: 16 });
    assert.throws(() => parseSubnet('172.18.0.1/16'), /host bits set \(the network is 172\.18\.0\.0\/16\)/);
    assert.throws(() => parseSubnet('300.1.0.0/16'), /invalid subnet/);
    assert.ok(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.77.0.0/24')));
    assert.ok(!overlaps(parseSubnet('172.17.0.0/16'), parseSubnet('172.18.0.0/16')));
    const r = hostRange(parseSubnet('10.1.0.0/24'));
    assert.deepEqual([formatIpv4(r.first), formatIpv4(r.last)], ['10.1.0.1', '10.1.0.254']);
    assert.equal(macFor(parseIpv4('172.17.0.2')), '02:42:ac:11:00:02');
  });
});

describe('address management', () => {
  it('hands out the next address after the last one, skipping the gateway and those in use, and wraps', () => {
    const n = net();
    const used = new Set<string>();
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const ip = allocate(n, used);
      used.add(ip);
      n.lastIp = ip;
      got.push(ip);
    }
    // /29: .1 is the gateway, .7 the broadcast.
    assert.deepEqual(got, ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6']);
    assert.throws(() => allocate(n, used), (e: unknown) => e instanceof EngineError && /no available IPv4 addresses/.test(e.message));
    used.delete('10.1.0.3');
    assert.equal(allocate(n, used), '10.1.0.3', 'freed, and the only one left: wrapped around to it');
    used.delete('10.1.0.5');
    n.lastIp = '10.1.0.2';
    assert.equal(allocate(n, used), '10.1.0.3', 'not the lowest free one but the next after the last');
  });

  it('a fixed address must be free, in the subnet and not the gateway; an ip-range narrows the rest', () => {
    const n = net({ subnet: '10.5.0.0/24', gateway: '10.5.0.254' });
    assert.equal(allocate(n, new Set(), '10.5.0.9'), '10.5.0.9');
    assert.throws(() => allocate(n, new Set(['10.5.0.9']), '10.5.0.9'), status(409));
    assert.throws(() => allocate(n, new Set(), '10.5.0.254'), status(409));
    assert.throws(() => allocate(n, new Set(), '10.6.0.9'), /no configured subnet or ip-range contain the IP address 10\.6\.0\.9/);
    assert.throws(() => allocate(n, new Set(), '10.5.0.255'), status(400));
    assert.equal(allocate(n, new Set()), '10.5.0.1', 'with the gateway at the end, the first address is a container\'s');
    assert.equal(allocate(net({ subnet: '10.5.0.0/24', ipRange: '10.5.0.128/25', gateway: '10.5.0.1' }), new Set()), '10.5.0.128');
  });
});

describe('names from the agent\'s root', () => {
  it('the default root gets Docker-like names, others a hash in each, within the kernel\'s limits', () => {
    const d = netNamesFor(DEFAULT_ROOT, DEFAULT_ROOT);
    assert.deepEqual([d.defaultBridge, d.chain, chains(d).dnat], ['berth0', 'BERTH', 'BERTH-DNAT']);
    const a = netNamesFor('/tmp/a/root', DEFAULT_ROOT);
    const b = netNamesFor('/tmp/b/root', DEFAULT_ROOT);
    assert.notEqual(a.defaultBridge, b.defaultBridge);
    assert.notEqual(a.chain, b.chain);
    assert.deepEqual(netNamesFor('/tmp/a/./root', DEFAULT_ROOT), a, 'the same root however it is written');
    for (const n of [d, a, b]) {
      for (const l of [n.defaultBridge, bridgeName(n, 'f'.repeat(64)), vethName(n)]) {
        assert.ok(l.length <= 15, `${l}: an interface name has at most 15 characters`);
        assert.ok(isOwnLink(n, l), `${l} is recognised as the agent's own`);
      }
      for (const c of Object.values(chains(n))) assert.ok(c.length <= 28, `${c}: a chain name has at most 28 characters`);
    }
    assert.ok(!isOwnLink(a, b.defaultBridge), "another agent's bridge is not this one's");
    assert.ok(!isOwnLink(d, 'berthday'), 'a name that only starts like the prefix is not the agent\'s');
  });
});

describe('the firewall as text', () => {
  const names = netNamesFor('/tmp/x/root', DEFAULT_ROOT);
  const c = chains(names);
  const model = {
    networks: [
      { bridge: 'bx0', subnet: '172.20.0.0/16', gateway: '172.20.0.1', internal: false },
      { bridge: 'bx-1', subnet: '172.21.0.0/16', gateway: '172.21.0.1', internal: false, dns: { udp: 40001, tcp: 40002 } },
      { bridge: 'bx-2', subnet: '172.22.0.0/16', gateway: '172.22.0.1', internal: true },
    ],
    ports: [
      { protocol: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 8080, containerIp: '172.20.0.2', containerPort: 80 },
      { protocol: 'udp' as const, hostIp: '127.0.0.1', hostPort: 5353, containerIp: '172.20.0.2', containerPort: 53 },
    ],
  };

  it('declares (so flushes) every chain of the agent, adds only the jumps that are missing, and writes the rules of each network and port', () => {
    const text = render(names, model, new Set(['nat PREROUTING', 'filter FORWARD']));
    for (const ch of Object.values(c)) assert.match(text, new RegExp(`^:${ch} - \\[0:0\\]$`, 'm'));
    assert.doesNotMatch(text, /-A PREROUTING/);
    assert.match(text, new RegExp(`^-A OUTPUT -m addrtype --dst-type LOCAL -j ${c.dnat}$`, 'm'));
    assert.match(text, new RegExp(`^-I INPUT 1 -j ${c.input}$`, 'm'));
    assert.doesNotMatch(text, /-I FORWARD/);
    assert.match(text, new RegExp(`^-A ${c.dnat} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172\\.20\\.0\\.2:80$`, 'm'));
    assert.match(text, new RegExp(`^-A ${c.dnat} -d 127\\.0\\.0\\.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 172\\.20\\.0\\.2:53$`, 'm'));
    assert.match(text, new RegExp(`^-A ${c.dnat} -i bx-1 -d 172\\.21\\.0\\.1/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 40001$`, 'm'));
    assert.match(text, new RegExp(`^-A ${c.post} -s 172\\.20\\.0\\.0/16 ! -o bx0 -j MASQUERADE$`, 'm'));
    assert.doesNotMatch(text, /-s 172\.22\.0\.0\/16 ! -o bx-2 -j MASQUERADE/, 'an internal network is not masqueraded out');
    assert.match(text, new RegExp(`^-A ${c.fwd} -i bx-2 -j DROP$`, 'm'));
    assert.match(text, new RegExp(`^-A ${c.iso2} -o bx-1 -j DROP$`, 'm'));
    assert.match(text, new RegExp(`^-A ${c.input} -i bx0 -d 127\\.0\\.0\\.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP$`, 'm'));
    // Nothing of any other chain.
    for (const l of text.split('\n').filter((x) => x.startsWith('-A ') || x.startsWith('-I '))) {
      const chain = l.split(' ')[1];
      assert.ok(chain.startsWith(names.chain) || jumps(names).some((j) => j.chain === chain && l.endsWith(j.rule)), l);
    }
  });

  it('reads which jumps are there from iptables-save, and tears down only its own', () => {
    const saved = ['*nat', `:${c.dnat} - [0:0]`, `-A PREROUTING -m addrtype --dst-type LOCAL -j ${c.dnat}`, '-A PREROUTING -j OTHER', 'COMMIT', '*filter', `:${c.fwd} - [0:0]`, `-A FORWARD -j ${c.fwd}`, 'COMMIT'].join('\n');
    assert.deepEqual([...presentJumps(names, saved)].sort(), ['filter FORWARD', 'nat PREROUTING']);
    const down = renderTeardown(names, presentJumps(names, saved), saved);
    assert.match(down, new RegExp(`^-D PREROUTING -m addrtype --dst-type LOCAL -j ${c.dnat}$`, 'm'));
    assert.match(down, new RegExp(`^-X ${c.fwd}$`, 'm'));
    assert.doesNotMatch(down, /OTHER/);
    assert.doesNotMatch(down, new RegExp(`-X ${c.post}`), 'a chain that is not there is not deleted');
  });

  it('a container on a user network: 127.0.0.11:53 to the gateway, loopback destinations from outside dropped', () => {
    const t = containerDnsRules('172.21.0.1');
    assert.match(t, /-A OUTPUT -d 127\.0\.0\.11\/32 -p udp -m udp --dport 53 -j DNAT --to-destination 172\.21\.0\.1:53/);
    assert.match(t, /-A INPUT -d 127\.0\.0\.0\/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP/);
  });
});

describe('/etc files', () => {
  it('hosts: localhost, --add-host, then the container\'s addresses under its hostname', () => {
    const h = hostsFile('box', { ips: ['172.17.0.2'], extraHosts: [['db', '10.1.2.3']] });
    assert.match(h, /^127\.0\.0\.1\tlocalhost\n/);
    assert.ok(h.endsWith('10.1.2.3\tdb\n172.17.0.2\tbox\n'), h);
    assert.ok(hostsFile('box').endsWith('127.0.1.1\tbox\n'));
    assert.equal(hostsFile('h', { hostFile: '127.0.0.1 localhost', extraHosts: [['x', '1.2.3.4']] }), '127.0.0.1 localhost\n1.2.3.4\tx\n');
  });

  it('resolv.conf: the host\'s minus loopback resolvers, Docker\'s fallback, --dns options, the embedded resolver', () => {
    const host = 'nameserver 127.0.0.53\nsearch lan\noptions edns0\n';
    assert.equal(resolvConf(host, true), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0\n');
    assert.equal(resolvConf(host, true, { dns: ['10.9.9.9'], dnsSearch: ['x.org'], dnsOptions: ['ndots:2'] }), 'nameserver 10.9.9.9\nsearch x.org\noptions ndots:2\n');
    assert.equal(resolvConf(host, true, { embedded: true }), 'nameserver 127.0.0.11\nsearch lan\noptions edns0 ndots:0\n');
    assert.equal(resolvConf(host, false), host);
    assert.equal(resolvConf(host, false, { dns: ['10.9.9.9'] }), 'nameserver 10.9.9.9\nsearch lan\noptions edns0\n');
  });
});

describe('the network section of a spec', () => {
  const resolve = (n: Parameters<typeof resolveNetworkSpec>[1], exposed?: Record<string, object>) => resolveNetworkSpec('c'.repeat(64), n, exposed, 'thehost');

  it('defaults, the image\'s EXPOSE merged, ports normalised', () => {
    const r = resolve({ ports: [{ containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080, hostPortEnd: 8080 }], exposedPorts: ['53/udp'] }, { '443/tcp': {} });
    assert.equal(r.mode, 'default');
    assert.equal(r.hostname, 'cccccccccccc');
    assert.deepEqual(r.networks, [], 'none named: the default bridge, resolved at start');
    assert.deepEqual(r.ports, [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080, hostPortEnd: 0 }]);
    assert.deepEqual(r.exposedPorts, ['443/tcp', '53/udp', '80/tcp']);
    assert.equal(resolve({ mode: 'host' }).hostname, 'thehost');
    assert.deepEqual(parseExposed('8000-8002/udp'), ['8000/udp', '8001/udp', '8002/udp']);
    assert.deepEqual(parseExtraHost('v6:::1'), ['v6', '::1']);
    assert.throws(() => parseExtraHost('nocolon'), /want NAME:IP/);
  });

  it('refuses what cannot be, with dockerd\'s words where it has them', () => {
    const bad = (n: Parameters<typeof resolveNetworkSpec>[1], re: RegExp) => assert.throws(() => resolve(n), (e: unknown) => e instanceof EngineError && e.status === 400 && re.test(e.message));
    bad({ mode: 'container', container: 'x', hostname: 'h' }, /^conflicting options: hostname and the network mode$/);
    bad({ mode: 'container', container: 'x', dns: ['1.1.1.1'] }, /^conflicting options: dns and the network mode$/);
    bad({ mode: 'container', container: 'x', extraHosts: ['a:1.2.3.4'] }, /custom host-to-IP mapping/);
    bad({ mode: 'container', container: 'x', ports: [{ containerPort: 80 }] }, /port publishing and the container type network mode/);
    bad({ mode: 'container' }, /needs the name or id of a container/);
    bad({ mode: 'host', ports: [{ containerPort: 80 }] }, /do not apply with the host's network/);
    bad({ mode: 'none', publishAll: true }, /--network none has only loopback/);
    bad({ ports: [{ containerPort: 80, hostIp: '::1' }] }, /does not support IPv6 host addresses/);
    bad({ dns: ['resolver.example'] }, /invalid --dns/);
    bad({ networks: [{ network: 'a' }, { network: 'a' }] }, /joins a network once/);
    bad({ networks: [{ network: 'a', macAddress: '01:00:5e:00:00:01' }] }, /multicast/);
    bad({ exposedPorts: ['80/sctp'] }, /does not support sctp ports/);
  });
});

describe('the embedded resolver', () => {
  const query = (name: string, type: number, id = 0x1234) => {
    const labels = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const head = Buffer.alloc(12);
    head.writeUInt16BE(id, 0);
    head.writeUInt16BE(0x0100, 2);
    head.writeUInt16BE(1, 4);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(type, 0);
    tail.writeUInt16BE(1, 2);
    return Buffer.concat([head, labels, tail]);
  };
  const src: NameSource = {
    lookup: (_n, client, name) => (client === '10.0.0.5' && name === 'db' ? ['10.0.0.7', '10.0.0.8'] : undefined),
    reverse: (_n, client, ip) => (client === '10.0.0.5' && ip === '10.0.0.7' ? 'db.front' : undefined),
    upstreams: (_n, client) => (client === '10.0.0.5' ? [] : undefined),
  };

  it('answers container names with their addresses, AAAA with none, PTR with NAME.NETWORK', async () => {
    assert.deepEqual(parseQuery(query('DB', 1)), { name: 'db', type: 1, cls: 1, end: 12 + 4 + 4 }, 'names are matched in lower case');
    const a = (await answer(src, 'n', '10.0.0.5', query('db', 1)))!;
    assert.equal(a.readUInt16BE(0), 0x1234);
    assert.equal(a.readUInt16BE(2) & 0x800f, 0x8000, 'a response, NOERROR');
    assert.equal(a.readUInt16BE(6), 2);
    const ips = [a.subarray(a.length - 16 - 4, a.length - 16), a.subarray(a.length - 4)].map((b) => [...b].join('.')).sort();
    assert.deepEqual(ips, ['10.0.0.7', '10.0.0.8']);
    const aaaa = (await answer(src, 'n', '10.0.0.5', query('db', 28)))!;
    assert.deepEqual([aaaa.readUInt16BE(2) & 0xf, aaaa.readUInt16BE(6)], [RCODE.NOERROR, 0]);
    const ptr = (await answer(src, 'n', '10.0.0.5', query('7.0.0.10.in-addr.arpa', 12)))!;
    assert.ok(ptr.includes(Buffer.from('\x02db\x05front\x00', 'latin1')));
  });

  it('refuses a client that is no container of the network; without upstreams other names are SERVFAIL', async () => {
    const refused = (await answer(src, 'n', '10.9.9.9', query('db', 1)))!;
    assert.equal(refused.readUInt16BE(2) & 0xf, RCODE.REFUSED);
    const other = (await answer(src, 'n', '10.0.0.5', query('example.org', 1)))!;
    assert.equal(other.readUInt16BE(2) & 0xf, RCODE.SERVFAIL);
    assert.equal((await answer(src, 'n', '10.0.0.5', Buffer.from('short')))?.length, undefined);
  });
});

describe('the test guard', () => {
  it('is off outside the test runner; under it, on exactly in the machine\'s own network namespace', () => {
    assert.equal(hostNetworkGuard({}), undefined);
    const own = statSync('/proc/self/ns/net').ino;
    let initial: number | undefined;
    for (const pid of [1, 2]) {
      try {
        initial = statSync(`/proc/${pid}/ns/net`).ino;
        break;
      } catch {
        // the next
      }
    }
    const inInitial = own === 0xeffffff9 || initial === undefined || own === initial;
    assert.equal(hostNetworkGuard({ NODE_TEST_CONTEXT: 'child' }) !== undefined, inInitial);
  });
});
