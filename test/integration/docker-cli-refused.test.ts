// What Berth does not implement yet is refused, never ignored: each option below, typed as
// a user would into the real docker CLI, ends in a plain error naming the option, and no
// container is left behind. (The table of fields is agent/dockerapi/create-fields.ts; what
// moved from here to implemented has its real tests, e.g. docker-cli-networks.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
const docker = (args: string[]) => agent.docker(args);

// The option as typed, and the words the error must contain.
const REFUSED: Array<[string[], string]> = [
  [['--volume-driver', 'convoy', '-v', 'data:/data'], '--volume-driver'],
  [['--mount', 'type=volume,src=data,dst=/data,volume-subpath=sub'], '--mount volume-subpath'],
  [['--mount', 'type=volume,src=data,dst=/data,volume-driver=convoy'], 'volume driver "convoy"'],
  [['--mount', 'type=bind,src=/tmp,dst=/data,bind-propagation=rshared'], 'rshared mount propagation (bind-propagation=rshared)'],
  [['--cpuset-cpus', '0'], '--cpuset-cpus'],
  [['--cpu-quota', '50000'], '--cpu-quota'],
  [['--memory-reservation', '64m'], '--memory-reservation'],
  [['--oom-kill-disable'], '--oom-kill-disable'],
  [['--domainname', 'example.org'], '--domainname'],
  [['--ipc', 'container:other'], '--ipc container:NAME'],
  [['--pid', 'container:other'], '--pid container:NAME'],
  [['--security-opt', 'apparmor=unconfined'], '--security-opt apparmor'],
  [['--security-opt', 'label=disable'], '--security-opt label'],
  [['--device-cgroup-rule', 'c 1:3 rwm'], '--device-cgroup-rule'],
  [['--link', 'other:o'], '--link'],
  [['--ip6', 'fd00::9'], '--ip6'],
];

describe('options Berth does not implement, through the docker CLI', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    agent = await startAgentProcess('refused');
    // The image is here, as it would be for a user: a refusal must not hide behind a pull.
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'refused')).ref;
    agent.ok(['pull', '-q', image]);
  });

  after(async () => {
    await agent?.stop();
    await registry?.stop();
  });

  for (const [flags, words] of REFUSED) {
    it(`docker create ${flags.join(' ')} is refused naming ${words}`, () => {
      const r = docker(['create', ...flags, image, 'true']);
      assert.notEqual(r.status, 0, `accepted: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`Berth does not support ${words.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} yet`), r.stderr);
    });
  }

  it('a network that does not exist is refused as Docker refuses it: at start, with its 404', () => {
    const r = docker(['run', '--rm', '--network', 'no-such-net', image, 'true']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /network no-such-net not found/);
  });

  it('the same create without those options works, and nothing else was created along the way', () => {
    const made = docker(['create', '--name', 'plain', image, 'true']);
    assert.equal(made.status, 0, made.stderr);
    assert.equal(docker(['rm', 'plain']).status, 0);
    const r = docker(['ps', '-aq']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '');
  });
});
