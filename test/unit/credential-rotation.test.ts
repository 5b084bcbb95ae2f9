// Host credential rotation, both halves for real (server/hub/rotate.ts against a real SQLite
// database, the agent's command handler of agent/link/commands.ts, the hub's handshake check)
// with the link between them a function that can lose the agent's answer or the command itself:
// whichever step is cut short, the agent always holds a credential the server accepts, and the
// old one is refused once the agent is known to have the new one.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { runCommand, type CommandContext } from '../../agent/link/commands';
import type { AgentCommand, CommandResult } from '../../protocol/agent-link';
import { hashSecret, newSecret } from '../../server/auth/tokens';
import { AgentHub } from '../../server/hub/agents';
import { ROTATION_STALE_MS, RotationError, rotateCredential } from '../../server/hub/rotate';
import { openEnv, type Env } from '../fixtures/authz-world';

describe('host credential rotation', () => {
  let env: Env;
  let hostId: string;
  /** The agent's side: what its credential.json holds. */
  let held: string;
  let writeFails = false;
  let online = true;
  /** 'command': the command never reaches the agent; 'answer': the agent acts, its ack is lost. */
  let lose: 'command' | 'answer' | undefined;
  const sent: string[] = [];
  const ctx = {
    credential: {
      rotate(c: string) {
        if (writeFails) throw new Error('cannot write credential.json: ENOSPC: no space left on device');
        held = c;
      },
      held: () => held,
    },
  } as unknown as CommandContext;
  const hub = {
    isOnline: () => online,
    async command(_id: string, cmd: AgentCommand): Promise<CommandResult> {
      sent.push(cmd.op);
      if (lose === 'command') return { ok: false, error: 'host went offline before answering', status: 503 };
      const res = await runCommand(ctx, cmd);
      if (lose === 'answer') return { ok: false, error: 'host did not answer within 30 s', status: 504 };
      return res;
    },
  } as unknown as AgentHub;
  /** The hub's real handshake check. */
  const accepts = async (credential: string) => (await (new AgentHub() as unknown as { authenticate(a: unknown): Promise<string | null> }).authenticate({ hostId, credential })) === hostId;
  const row = () => env.prisma.host.findUniqueOrThrow({ where: { id: hostId }, select: { credentialHash: true, pendingCredentialHash: true } });
  const rotate = () => rotateCredential(env.prisma, hub, hostId);

  before(async () => {
    env = await openEnv();
  });
  after(() => env.close());
  beforeEach(async () => {
    const team = await env.prisma.team.create({ data: { name: `t-${Math.random()}` } });
    held = newSecret('bhc');
    hostId = (await env.prisma.host.create({ data: { teamId: team.id, name: 'edge', hostname: 'edge', credentialHash: hashSecret(held) } })).id;
    writeFails = false;
    online = true;
    lose = undefined;
    sent.length = 0;
  });

  it('replaces the credential: the agent holds the new one, the server accepts only it', async () => {
    const old = held;
    await rotate();
    assert.notEqual(held, old);
    assert.deepEqual(await row(), { credentialHash: hashSecret(held), pendingCredentialHash: null });
    assert.equal(await accepts(old), false);
    assert.equal(await accepts(held), true);
  });

  it('an offline host is refused by name and keeps its credential', async () => {
    online = false;
    const old = held;
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'offline' && /host edge is offline/.test(e.message));
    assert.deepEqual(sent, []);
    assert.equal(await accepts(old), true);
  });

  it('an agent that cannot store the new one keeps the old one, which stays valid; the new one never is', async () => {
    const old = held;
    writeFails = true;
    let offered = '';
    const spy = hub.command.bind(hub);
    (hub as unknown as { command: typeof spy }).command = async (id, cmd) => {
      if (cmd.op === 'credential.rotate') offered = cmd.credential;
      return spy(id, cmd);
    };
    try {
      await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'refused' && /could not store a new credential: .*ENOSPC.*it keeps the old one/.test(e.message));
    } finally {
      (hub as unknown as { command: typeof spy }).command = spy;
    }
    assert.equal(held, old);
    assert.deepEqual(await row(), { credentialHash: hashSecret(old), pendingCredentialHash: null });
    assert.equal(await accepts(old), true);
    assert.equal(await accepts(offered), false);
  });

  it('a lost acknowledgement leaves both valid; the agent’s next handshake with the new one completes the rotation', async () => {
    const old = held;
    lose = 'answer';
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'unconfirmed' && /both stay valid until its agent connects with the new one/.test(e.message));
    assert.notEqual(held, old, 'the agent did store it');
    assert.equal(await accepts(old), true, 'the old one still works: the server cannot know the agent has the new one');
    assert.equal(await accepts(held), true);
    assert.deepEqual(await row(), { credentialHash: hashSecret(held), pendingCredentialHash: null });
    assert.equal(await accepts(old), false);
  });

  it('a command that never arrived: the next rotation waits while the first may still be under way, then settles it by asking the agent', async () => {
    const old = held;
    lose = 'command';
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'unconfirmed');
    assert.equal(held, old);
    assert.equal(await accepts(old), true, 'the agent is not locked out');
    lose = undefined;
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'busy' && /under way/.test(e.message));
    // Once the first rotation's call is surely over, the next one asks which credential the agent holds (the old), drops the pending one, and rotates.
    await env.prisma.host.update({ where: { id: hostId }, data: { pendingCredentialAt: new Date(Date.now() - ROTATION_STALE_MS - 1000) } });
    sent.length = 0;
    await rotate();
    assert.deepEqual(sent, ['credential.check', 'credential.rotate']);
    assert.notEqual(held, old);
    assert.deepEqual(await row(), { credentialHash: hashSecret(held), pendingCredentialHash: null });
    assert.equal(await accepts(old), false);
  });

  it('a stale rotation the agent did store stays valid while the agent cannot be asked, and is promoted by the settling once it can', async () => {
    const old = held;
    lose = 'answer';
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError && e.kind === 'unconfirmed');
    const stored = held;
    assert.notEqual(stored, old);
    await env.prisma.host.update({ where: { id: hostId }, data: { pendingCredentialAt: new Date(Date.now() - ROTATION_STALE_MS - 1000) } });
    // This time the command is lost: the agent keeps what the first rotation gave it, and the server must accept that.
    lose = 'command';
    await assert.rejects(rotate(), (e: unknown) => e instanceof RotationError);
    assert.equal(held, stored);
    // Still pending, so accepted (a handshake now would promote it, as the test above shows).
    assert.equal((await row()).pendingCredentialHash, hashSecret(stored));
    // With the link back: the agent says it holds the pending one, which is promoted, and the rotation goes ahead from there.
    lose = undefined;
    sent.length = 0;
    await rotate();
    assert.deepEqual(sent, ['credential.check', 'credential.rotate']);
    assert.notEqual(held, stored);
    assert.deepEqual(await row(), { credentialHash: hashSecret(held), pendingCredentialHash: null });
    assert.equal(await accepts(stored), false);
    assert.equal(await accepts(old), false);
  });
});
