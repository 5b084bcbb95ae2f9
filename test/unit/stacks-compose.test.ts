// The compose reader: interpolation as the Compose Specification has it, .env files, and the
// subset check that refuses what Berth does not implement by its path and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deployOrder, parseCompose, shortPort } from '../../agent/engine/stacks/compose';
import { interpolate, InterpolationError, parseEnvFile } from '../../agent/engine/stacks/interpolate';

describe('interpolation', () => {
  const env = { A: 'x', EMPTY: '' };
  it('replaces $VAR and ${VAR}, keeps $$ as one $', () => {
    assert.equal(interpolate('$A-${A}-$$A-$${A}', env), 'x-x-$A-${A}');
    assert.equal(interpolate('${MISSING}|$MISSING|', env), '||');
  });
  it('defaults: ":-" for unset or empty, "-" for unset only, nested variables in the default', () => {
    assert.equal(interpolate('${EMPTY:-d} ${EMPTY-d} ${NO-d} ${NO:-${A}y}', env), 'd  d xy');
  });
  it('":+" and "+" give the alternative when set', () => {
    assert.equal(interpolate('[${A:+alt}][${EMPTY:+alt}][${EMPTY+alt}][${NO+alt}]', env), '[alt][][alt][]');
  });
  it('"?" and ":?" fail naming the variable and the message', () => {
    assert.throws(() => interpolate('${NO?set NO please}', env), (e: Error) => e instanceof InterpolationError && /required variable NO is missing a value: set NO please/.test(e.message));
    assert.throws(() => interpolate('${EMPTY:?}', env), /required variable EMPTY/);
    assert.equal(interpolate('${EMPTY?}', env), '');
  });
  it('refuses an unclosed or malformed ${', () => {
    assert.throws(() => interpolate('${A', env), /not closed/);
    assert.throws(() => interpolate('${1A}', env), /does not start with a variable name/);
    assert.throws(() => interpolate('${A!x}', env), /unexpected "!x"/);
  });
});

describe('.env files', () => {
  it('reads bare, quoted and exported values, comments and blank lines', () => {
    const r = parseEnvFile('# c\n\nA=1\nexport B = two words # comment\nC="q \\"x\\"\\n"\nD=\'$lit #\'\nE=\n');
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.values, { A: '1', B: 'two words', C: 'q "x"\n', D: '$lit #', E: '' });
  });
  it('names the line of a bad entry', () => {
    const r = parseEnvFile('A=1\nNOVALUE\n1X=2\nQ="open\n');
    assert.deepEqual(r.issues.map((i) => i.line), [2, 3, 4]);
    assert.match(r.issues[0].message, /NOVALUE has no "="/);
  });
});

describe('parseCompose', () => {
  it('reads the supported keys into a project, with .env values interpolated', () => {
    const text = `
name: demo
services:
  web:
    image: "busybox:\${TAG:-latest}"
    command: sh -c 'echo "hi there"'
    environment:
      A: 1
      FROM_ENV:
    env_file: [web.env]
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp", {target: 443, published: 8443}]
    volumes: ["data:/data", "./conf:/etc/conf:ro", "/cache"]
    networks:
      back:
        aliases: [www]
    depends_on:
      db: {condition: service_healthy}
    restart: on-failure:3
    healthcheck: {test: "wget -q localhost", interval: 1m30s, retries: 2}
    labels: [team=blue]
    user: "1000"
    working_dir: /srv
    hostname: web1
  db:
    image: busybox
    healthcheck: {test: [CMD, "true"], interval: 500ms}
networks:
  back: {}
volumes:
  data:
`;
    const r = parseCompose(text, { TAG: '1.36' });
    assert.deepEqual(r.issues, []);
    const web = r.project!.services.web;
    assert.equal(r.project!.name, 'demo');
    assert.equal(web.image, 'busybox:1.36');
    assert.deepEqual(web.command, ['sh', '-c', 'echo "hi there"']);
    assert.deepEqual(web.environment, { A: '1', FROM_ENV: null });
    assert.deepEqual(web.ports, [
      { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 },
      { containerPort: 9000, protocol: 'udp', hostPort: 9000 },
      { containerPort: 9001, protocol: 'udp', hostPort: 9001 },
      { containerPort: 443, protocol: 'tcp', hostPort: 8443 },
    ]);
    assert.deepEqual(web.volumes, [
      { type: 'volume', source: 'data', target: '/data' },
      { type: 'bind', source: './conf', target: '/etc/conf', readOnly: true },
      { type: 'volume', target: '/cache' },
    ]);
    assert.deepEqual(web.networks, { back: { aliases: ['www'] } });
    assert.deepEqual(web.dependsOn, { db: { condition: 'service_healthy', restart: false, required: true } });
    assert.deepEqual(web.restart, { policy: 'on-failure', maxRetries: 3 });
    assert.deepEqual(web.healthcheck, { test: ['CMD-SHELL', 'wget -q localhost'], intervalNs: 90e9, retries: 2 });
    assert.deepEqual(r.project!.services.db.networks, { default: { aliases: [] } });
    assert.equal(r.project!.services.db.healthcheck?.intervalNs, 500e6);
    assert.deepEqual(deployOrder(r.project!.services), ['db', 'web']);
  });

  it('refuses what Berth does not implement, naming the key and its line', () => {
    const text = 'services:\n  web:\n    image: x\n    deploy:\n      resources: {}\n    build: .\nconfigs: {}\n';
    const r = parseCompose(text);
    assert.equal(r.project, undefined);
    const by = Object.fromEntries(r.issues.map((i) => [i.path, i]));
    assert.equal(by['services.web.deploy'].message, 'services.web.deploy: not supported by Berth');
    assert.equal(by['services.web.deploy'].line, 4);
    assert.equal(by['services.web.build'].line, 6);
    assert.equal(by.configs.line, 7);
    // Extension fields are the spec's own way to say "ignore me".
    assert.deepEqual(parseCompose('x-common: &c {image: busybox}\nservices:\n  a:\n    <<: *c\n').issues, []);
  });

  it('reports YAML errors, bad values, unknown references and cycles with where they are', () => {
    assert.match(parseCompose('services:\n  web:\n    image: [\n').issues[0].message, /^YAML: /);
    assert.ok(parseCompose('services:\n  web:\n    image: [\n').issues[0].line);
    const r = parseCompose('services:\n  a:\n    image: x\n    depends_on: [b]\n    volumes: ["nope:/x"]\n    networks: [gone]\n    restart: sometimes\n  b:\n    image: x\n    depends_on: [a]\n');
    const msgs = r.issues.map((i) => `${i.line}: ${i.message}`);
    assert.ok(msgs.some((m) => /^5: .*the volume "nope" is not declared/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => /^6: .*the network "gone" is not declared/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => /^7: .*"sometimes" is not a restart policy/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => /cycle: a → b → a/.test(m)), msgs.join('\n'));
    const need = parseCompose('services:\n  a:\n    image: "${IMG?set IMG}"\n');
    assert.equal(need.issues[0].line, 3);
    assert.match(need.issues[0].message, /services\.a\.image: required variable IMG is missing a value: set IMG/);
    assert.match(parseCompose('services:\n  a:\n    env_file: ../../etc/shadow\n    image: x\n').issues[0].message, /must be a path inside the stack's directory/);
    assert.match(parseCompose('services:\n  a:\n    build: .\n').issues.map((i) => i.message).join(), /an image is required/);
  });

  it('short port syntax', () => {
    assert.deepEqual(shortPort('80'), [{ containerPort: 80, protocol: 'tcp' }]);
    assert.deepEqual(shortPort('8000-8005:80'), [{ containerPort: 80, protocol: 'tcp', hostPort: 8000, hostPortEnd: 8005 }]);
    assert.match(shortPort('80/sctp') as string, /sctp/);
    assert.match(shortPort('1-3:1-2') as string, /differ in length/);
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const r = parseCompose(`x-bomb:\n${lines.map((l) => `  ${l}`).join('\n')}\nservices: {a: {image: x}}\n`);
    assert.equal(r.project, undefined);
    assert.match(r.issues[0].message, /YAML: .*alias/i);
  });
});
