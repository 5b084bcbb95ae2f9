// Users and groups from the image's /etc/passwd and /etc/group through the real docker
// CLI: -u name, uid, name:group, uid:gid, supplementary groups from /etc/group and
// --group-add, for run and for exec. Every expected `id` line below is what Docker 20.10
// (runc) printed for the same image and flags, taken once from a real daemon by hand.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { inScript } from '../fixtures/terminal';

const isRoot = process.getuid?.() === 0;
const MTIME = 1_700_000_000;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:100::/home/bob:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
];
const GROUP = ['root:x:0:', 'wheel:x:10:root,alice', 'users:x:100:', 'alice:x:1000:', 'audio:x:29:bob,alice', 'staff:x:50:bob', 'nobody:x:65534:'];

// [flags, what `id` prints]
const CASES: Array<[string[], string]> = [
  [[], 'uid=0(root) gid=0(root) groups=0(root),10(wheel)'],
  [['-u', 'alice'], 'uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)'],
  [['-u', 'bob'], 'uid=1001(bob) gid=100(users) groups=29(audio),50(staff),100(users)'],
  [['-u', 'alice:users'], 'uid=1000(alice) gid=100(users) groups=100(users)'],
  [['-u', 'alice:29'], 'uid=1000(alice) gid=29(audio) groups=29(audio)'],
  [['-u', '1000'], 'uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)'],
  [['-u', '1000:1000'], 'uid=1000(alice) gid=1000(alice) groups=1000(alice)'],
  [['-u', '4321'], 'uid=4321 gid=0(root) groups=0(root)'],
  [['-u', '4321:4321'], 'uid=4321 gid=4321 groups=4321'],
  [['--group-add', 'audio', '--group-add', '4242', '-u', 'alice'], 'uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice),4242'],
  [['--group-add', 'wheel'], 'uid=0(root) gid=0(root) groups=0(root),10(wheel)'],
  [['-u', 'bob:staff', '--group-add', 'users'], 'uid=1001(bob) gid=50(staff) groups=50(staff),100(users)'],
];

describe('users and groups from the image, through the CLI', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    registry = await startRegistry();
    const file = (p: string, lines: string[]) => ({ path: p, type: 'file' as const, mode: 0o644, mtime: MTIME, data: lines.join('\n') + '\n' });
    image = (await pushBusyboxImage(registry.url, 'busybox', 'users', { extraLayers: [[file('etc/passwd', PASSWD), file('etc/group', GROUP)]] })).ref;
    agent = await startAgentProcess('users');
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    if (agent) {
      const left = agent.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (left.length) agent.docker(['rm', '-f', ...left]);
      await agent.stop();
    }
    await registry?.stop();
  });

  for (const [flags, expected] of CASES) {
    it(`docker run ${flags.join(' ') || '(no -u)'} IMG id`, () => {
      assert.equal(agent.ok(['run', '--rm', ...flags, image, 'id']).trim(), expected);
    });
  }

  it('a user or group the image does not have is an error naming it, and nothing runs', () => {
    for (const [flags, words] of [
      [['-u', 'nosuch'], 'unable to find user nosuch: no matching entries in passwd file'],
      [['-u', 'alice:nosuch'], 'unable to find group nosuch: no matching entries in group file'],
      [['--group-add', 'nosuch'], 'unable to find group nosuch: no matching entries in group file'],
    ] as const) {
      const r = agent.docker(['run', '--rm', ...flags, image, 'echo', 'ran']);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`Error response from daemon: berth-monitor: ${words}`));
      assert.equal(r.stdout, '', 'the command did not run');
    }
  });

  it('exec takes the container\'s user and --group-add, and -u as run does', () => {
    agent.ok(['run', '-d', '--name', 'grouped', '-u', 'bob', '--group-add', 'wheel', image, 'sleep', '100000']);
    assert.equal(agent.ok(['inspect', '-f', '{{json .HostConfig.GroupAdd}} {{.Config.User}}', 'grouped']).trim(), '["wheel"] bob');
    assert.equal(agent.ok(['exec', 'grouped', 'id']).trim(), 'uid=1001(bob) gid=100(users) groups=10(wheel),29(audio),50(staff),100(users)');
    assert.equal(agent.ok(['exec', '-u', 'alice:users', 'grouped', 'id']).trim(), 'uid=1000(alice) gid=100(users) groups=10(wheel),100(users)');
    const r = agent.docker(['exec', '-u', 'nosuch', 'grouped', 'id']);
    assert.equal(r.status, 126);
    assert.match(r.stderr, /unable to find user nosuch: no matching entries in passwd file/);
    agent.ok(['rm', '-f', 'grouped']);
  });

  it('the user owns its stdio: /dev/stdout and /dev/stdin reopen, a TTY is the user\'s', () => {
    assert.equal(agent.ok(['run', '--rm', '-u', 'alice', image, 'sh', '-c', 'echo via-dev-stdout > /dev/stdout']), 'via-dev-stdout\n');
    const input = agent.docker(['run', '--rm', '-i', '-u', 'alice', image, 'cat', '/dev/stdin'], { input: 'via-dev-stdin\n' });
    assert.equal(input.stdout, 'via-dev-stdin\n', input.stderr);
    const cli = `env DOCKER_CONFIG=${path.join(agent.tmp, 'docker-config')} docker -H unix://${agent.sock}`;
    const tty = inScript(`${cli} run --rm -t -u alice ${image} sh -c 'stat -c "%u %g %a" $(tty)'`);
    assert.equal(tty.output.trim(), '1000 5 620');
  });
});
