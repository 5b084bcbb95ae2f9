// The Run form's options (protocol/run-form.ts): what the browser and the control plane
// refuse, in which words and at which field, and the engine spec the rest turns into; and
// where a published port's link points (app/lib/port-links.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerSpecSchema } from '../../protocol/container';
import { emptyRunOptions, runOptionsProblems, runOptionsSpec, type RunOptions } from '../../protocol/run-form';
import { publishedPortLink } from '../../app/lib/port-links';
import { runSpec } from '../../server/trpc/routers/containers';

const opts = (patch: Partial<RunOptions>): RunOptions => ({ ...emptyRunOptions(), ...patch });
const problems = (o: RunOptions) => runOptionsProblems(o).map((p) => `${p.key} | ${p.message}`);

test('a full form turns into the spec the engine takes: ports, a volume, a read-only bind, a network, env, on-failure with retries', () => {
  const o = opts({
    ports: [
      { hostIp: '', hostPort: '8080', containerPort: '80', protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: '', containerPort: ' 53 ', protocol: 'udp' },
    ],
    mounts: [
      { source: 'webdata', target: '/www', readOnly: false },
      { source: '/srv/conf', target: '/etc/app', readOnly: true },
    ],
    network: 'backend',
    env: [
      { key: 'GREETING', value: 'hello world' },
      { key: 'EMPTY', value: '' },
      { key: 'WITH_EQ', value: 'a=b' },
    ],
    restart: { policy: 'on-failure', maxRetries: '3' },
  });
  assert.deepEqual(problems(o), []);
  const spec = runSpec({ image: 'bb:1', command: 'httpd -f', options: o });
  assert.deepEqual(spec, {
    image: 'bb:1',
    process: { env: ['GREETING=hello world', 'EMPTY=', 'WITH_EQ=a=b'], cmd: ['httpd', '-f'] },
    network: {
      networks: [{ network: 'backend' }],
      ports: [
        { containerPort: 80, protocol: 'tcp', hostPort: 8080 },
        { containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1' },
      ],
    },
    storage: {
      mounts: [
        { type: 'volume', source: 'webdata', target: '/www' },
        { type: 'bind', source: '/srv/conf', target: '/etc/app', readOnly: true },
      ],
    },
    restart: { policy: 'on-failure', maxRetries: 3 },
  });
  // The engine's own schema takes it as it is.
  assert.equal(containerSpecSchema.safeParse(spec).success, true);
});

test('an empty form adds nothing to the spec; host and none are network modes, not networks', () => {
  assert.deepEqual(runOptionsSpec(emptyRunOptions()), {});
  assert.deepEqual(runOptionsSpec(opts({ network: 'host' })), { network: { mode: 'host' } });
  assert.deepEqual(runOptionsSpec(opts({ network: 'none' })), { network: { mode: 'none' } });
  assert.deepEqual(runOptionsSpec(opts({ restart: { policy: 'unless-stopped', maxRetries: '' } })), { restart: { policy: 'unless-stopped' } });
});

test('ports: out of range, not numbers, a missing container port, a bad host IP and a host port given twice are refused at their field', () => {
  assert.deepEqual(
    problems(
      opts({
        ports: [
          { hostIp: '', hostPort: '70000', containerPort: '80', protocol: 'tcp' },
          { hostIp: '10.0.0.300', hostPort: 'http', containerPort: '0', protocol: 'tcp' },
          { hostIp: '', hostPort: '', containerPort: '', protocol: 'udp' },
          { hostIp: '', hostPort: '9000', containerPort: '80', protocol: 'tcp' },
          { hostIp: '0.0.0.0', hostPort: '9000', containerPort: '81', protocol: 'tcp' },
          // The same port number over UDP is another binding.
          { hostIp: '', hostPort: '9000', containerPort: '81', protocol: 'udp' },
        ],
      }),
    ),
    [
      'ports.0.hostPort | port 1: host port "70000" must be a number from 1 to 65535 (leave it blank for a free one)',
      'ports.1.hostIp | port 2: host IP "10.0.0.300" is not an IPv4 address (leave it blank for every address)',
      'ports.1.hostPort | port 2: host port "http" must be a number from 1 to 65535 (leave it blank for a free one)',
      'ports.1.containerPort | port 2: container port "0" must be a number from 1 to 65535',
      'ports.2.containerPort | port 3: the container port is missing',
      'ports.4.hostPort | port 5: host port 9000/tcp is already published by port 4',
    ],
  );
  assert.deepEqual(problems(opts({ network: 'host', ports: [{ hostIp: '', hostPort: '80', containerPort: '80', protocol: 'tcp' }] })), [
    "network | network host: a container on the host's network uses its ports directly, so none can be published; remove the ports or pick another network",
  ]);
});

test('mounts: a relative source or target, the root, a blank row and a container path given twice are refused', () => {
  assert.deepEqual(
    problems(
      opts({
        mounts: [
          { source: 'data/x', target: 'data', readOnly: false },
          { source: 'v', target: '/', readOnly: false },
          { source: '', target: '', readOnly: false },
          { source: 'ok', target: '/srv/a/', readOnly: false },
          { source: '/host', target: '/srv/b/../a', readOnly: true },
        ],
      }),
    ),
    [
      'mounts.0.source | mount 1: "data/x" is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-], two characters or more) nor an absolute host path (starting with /)',
      'mounts.0.target | mount 1: container path "data" must be absolute (start with /)',
      'mounts.1.source | mount 2: "v" is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-], two characters or more) nor an absolute host path (starting with /)',
      "mounts.1.target | mount 2: nothing can be mounted over the container's root /",
      'mounts.2.source | mount 3: give a volume name or an absolute host path',
      'mounts.2.target | mount 3: the container path is missing',
      'mounts.4.target | mount 5: /srv/a is already the container path of mount 4',
    ],
  );
});

test('environment and restart: bad names, a name given twice, retries without on-failure or not a number', () => {
  assert.deepEqual(
    problems(
      opts({
        env: [
          { key: '1ST', value: 'x' },
          { key: 'A B', value: '' },
          { key: 'HOME', value: '/root' },
          { key: ' HOME ', value: '/tmp' },
          { key: '', value: 'orphan' },
          { key: 'spring.profiles-active', value: 'dev' },
        ],
        restart: { policy: 'always', maxRetries: '2' },
      }),
    ),
    [
      'env.0.key | variable 1: "1ST" is not a variable name (a letter or _, then letters, digits, _ . or -)',
      'env.1.key | variable 2: "A B" is not a variable name (a letter or _, then letters, digits, _ . or -)',
      'env.3.key | variable 4: HOME is already set by variable 3',
      'env.4.key | variable 5: the name is missing',
      'restart.maxRetries | restart: max retries only goes with on-failure, not always',
    ],
  );
  assert.deepEqual(problems(opts({ restart: { policy: 'on-failure', maxRetries: '-1' } })), [
    'restart.maxRetries | restart: max retries "-1" must be a whole number, 0 or more (0: no limit)',
  ]);
});

test('a healthcheck: a shell command with Go durations and retries, as --health-cmd and its flags; blank is the image\'s; bad values refused at their field', () => {
  const health = (h: Partial<NonNullable<RunOptions['health']>>) => opts({ health: { command: '', interval: '', timeout: '', startPeriod: '', retries: '', ...h } });
  const o = health({ command: ' wget -q -O- http://localhost/ ', interval: '1m30s', timeout: '500ms', startPeriod: '5s', retries: '4' });
  assert.deepEqual(problems(o), []);
  const spec = runSpec({ image: 'bb:1', options: o });
  assert.deepEqual(spec.health, { test: ['CMD-SHELL', 'wget -q -O- http://localhost/'], intervalNs: 90e9, timeoutNs: 500e6, startPeriodNs: 5e9, retries: 4 });
  assert.equal(containerSpecSchema.safeParse(spec).success, true);
  // Only a command: Docker's defaults for the rest (the engine's, after the image's).
  assert.deepEqual(runOptionsSpec(health({ command: 'true' })).health, { test: ['CMD-SHELL', 'true'] });
  assert.deepEqual(runOptionsSpec(health({ command: 'true', interval: '0', retries: '0' })).health, { test: ['CMD-SHELL', 'true'] });
  assert.deepEqual(runOptionsSpec(health({})), {});

  assert.deepEqual(problems(health({ interval: '10s', retries: '2' })), ['health.command | healthcheck: its interval, retries need a command to run']);
  assert.deepEqual(problems(health({ command: 'true', interval: '10', timeout: '1us', startPeriod: 'soon', retries: '-1' })), [
    'health.interval | healthcheck: interval "10" is not a duration (such as 30s, 1m30s or 500ms)',
    'health.timeout | healthcheck: timeout 1us is shorter than 1ms',
    'health.startPeriod | healthcheck: start period "soon" is not a duration (such as 30s, 1m30s or 500ms)',
    'health.retries | healthcheck: retries "-1" must be a whole number, 0 or more (0: the default, 3)',
  ]);
  assert.throws(() => runSpec({ image: 'bb:1', options: health({ command: 'true', interval: 'x' }) }), /healthcheck: interval "x" is not a duration/);
});

test('a crafted call that is not even the form\'s shape is named by its path, and the server refuses it before the agent hears of it', () => {
  const crafted = { ...emptyRunOptions(), ports: [{ hostIp: '', hostPort: '1', containerPort: '1', protocol: 'sctp' }], extra: true };
  const words = runOptionsProblems(crafted).map((p) => p.message);
  assert.ok(words.some((w) => w.startsWith('ports.0.protocol: ')), words.join('\n'));
  assert.ok(words.some((w) => /extra/.test(w)), words.join('\n'));
  assert.throws(() => runSpec({ image: 'x', options: opts({ env: [{ key: '9', value: '' }] }) }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BAD_REQUEST');
    assert.equal(err.message, 'variable 1: "9" is not a variable name (a letter or _, then letters, digits, _ . or -)');
    return true;
  });
});

test("a published port's link: the bound address, else the agent's, else (an agent on the control plane's machine) the page's host; UDP gets no link", () => {
  const p = { containerPort: 80, protocol: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 8080 };
  assert.deepEqual(publishedPortLink(p, '10.1.2.3', 'berth.example'), { text: '10.1.2.3:8080', href: 'http://10.1.2.3:8080/' });
  assert.deepEqual(publishedPortLink({ ...p, hostIp: '192.168.5.5' }, '10.1.2.3', 'berth.example'), { text: '192.168.5.5:8080', href: 'http://192.168.5.5:8080/' });
  assert.deepEqual(publishedPortLink(p, '127.0.0.1', 'berth.example'), { text: 'berth.example:8080', href: 'http://berth.example:8080/' });
  assert.deepEqual(publishedPortLink(p, null, 'berth.example'), { text: 'berth.example:8080', href: 'http://berth.example:8080/' });
  assert.deepEqual(publishedPortLink(p, 'fd00::7', 'x'), { text: '[fd00::7]:8080', href: 'http://[fd00::7]:8080/' });
  assert.deepEqual(publishedPortLink({ ...p, protocol: 'udp' }, '10.1.2.3', 'x'), { text: '10.1.2.3:8080' });
});
