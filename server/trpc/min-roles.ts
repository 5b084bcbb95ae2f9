// The least a caller needs for each tRPC procedure: read by the generated authorization
// matrix (test/unit/authz-matrix.test.ts), which calls every procedure of appRouter as
// every kind of caller and fails on a procedure missing here. The routers enforce these;
// this table states them in one place so the test checks the routers against it.
//
//   public    anyone, signed out too (notHeld: but not a session held at "choose a new password")
//   session   any live session, even one held at "choose a new password"
//   signedIn  a live session of a user who may act (no team needed)
//   a role    that role or above in the team the procedure acts on:
//             scope 'host'    the team owning the host named by input.hostId (a member
//                             narrowed to other hosts is a stranger to it)
//             scope 'team'    the team named by the input (teamId, or the team of the
//                             invitation / registry it names)
//             scope 'current' the session's current team (lists, and "add" in the team)
import type { Role } from '../../protocol/roles';

export type MinRole = { min: 'public' | 'session' | 'signedIn'; notHeld?: true } | { min: Role; scope: 'host' | 'team' | 'current' };

const host = (min: Role): MinRole => ({ min, scope: 'host' });
const team = (min: Role): MinRole => ({ min, scope: 'team' });
const current = (min: Role): MinRole => ({ min, scope: 'current' });

export const MIN_ROLE: Record<string, MinRole> = {
  'auth.status': { min: 'public' },
  'auth.setup': { min: 'public' },

  'account.me': { min: 'session' },
  'account.sessions': { min: 'session' },
  'account.revokeSession': { min: 'session' },
  'account.signOut': { min: 'session' },
  'account.signOutEverywhere': { min: 'session' },
  'account.changePassword': { min: 'session' },

  'team.members': team('viewer'),
  'team.invitations': team('admin'),
  'team.invite': team('admin'),
  'team.revokeInvitation': team('admin'),
  'team.invitation': { min: 'public' },
  // Signed out it makes an account; signed in, the account must be free to act.
  'team.accept': { min: 'public', notHeld: true },
  'team.setRole': team('admin'),
  'team.removeMember': team('admin'),
  'team.leave': team('viewer'),
  'team.resetPassword': team('admin'),
  'team.create': { min: 'signedIn' },
  'team.switch': team('viewer'),
  'team.delete': team('owner'),
  'team.transferOwnership': team('owner'),
  'team.setHosts': team('admin'),

  'hosts.list': current('viewer'),
  'hosts.overview': current('viewer'),
  'hosts.get': host('viewer'),
  'hosts.createJoinToken': current('admin'),
  'hosts.revoke': host('admin'),
  'hosts.rotateCredential': host('admin'),
  'hosts.move': host('admin'),
  'hosts.setLabels': host('admin'),

  'images.list': host('viewer'),
  'images.fleet': current('viewer'),
  'images.inspect': host('viewer'),
  'images.pull': host('operator'),
  'images.push': host('operator'),
  'images.tag': host('operator'),
  'images.remove': host('operator'),
  'images.prune': host('operator'),

  'containers.run': host('operator'),
  'containers.start': host('operator'),
  'containers.stop': host('operator'),
  'containers.remove': host('operator'),
  'containers.restart': host('operator'),
  'containers.kill': host('operator'),
  'containers.pause': host('operator'),
  'containers.unpause': host('operator'),
  'containers.inspect': host('viewer'),
  'containers.live': host('viewer'),

  'updates.status': host('viewer'),
  'updates.check': host('operator'),
  'updates.update': host('operator'),
  'updates.updateStack': host('operator'),

  'volumes.list': host('viewer'),
  'volumes.inspect': host('viewer'),
  'volumes.create': host('operator'),
  'volumes.remove': host('operator'),
  'volumes.prune': host('operator'),

  'networks.list': host('viewer'),
  'networks.inspect': host('viewer'),
  'networks.create': host('operator'),
  'networks.remove': host('operator'),
  'networks.prune': host('operator'),

  'stacks.list': host('viewer'),
  'stacks.get': host('viewer'),
  'stacks.validate': host('viewer'),
  'stacks.plan': host('viewer'),
  'stacks.deploy': host('operator'),
  'stacks.pullRedeploy': host('operator'),
  'stacks.stop': host('operator'),
  'stacks.start': host('operator'),
  'stacks.restart': host('operator'),
  'stacks.down': host('operator'),
  'stacks.restartService': host('operator'),
  // Stacks from Git: the token and the webhook secret are write-only (only "set" is read back), so operators, who deploy anyway, keep them.
  'stackGit.get': host('viewer'),
  'stackGit.create': host('operator'),
  'stackGit.update': host('operator'),
  'stackGit.redeploy': host('operator'),
  'stackGit.rotateSecret': host('operator'),
  'stackGit.detach': host('operator'),

  'logs.page': host('viewer'),
  'logs.kept': host('viewer'),
  'logs.retention': host('viewer'),
  'logs.setRetention': host('admin'),

  'audit.list': current('admin'),
  'audit.search': current('admin'),
  'audit.facets': current('admin'),
  'audit.setRetention': current('owner'),

  // A token is its maker's: any member makes one (never above their role); an admin of its team sees and revokes the team's.
  'tokens.list': { min: 'signedIn' },
  'tokens.options': { min: 'signedIn' },
  'tokens.create': team('viewer'),
  'tokens.team': team('admin'),
  'tokens.revoke': team('admin'),

  'registries.list': current('admin'),
  'registries.add': current('admin'),
  'registries.rotate': team('admin'),
  'registries.remove': team('admin'),

  // The fleet pages: of the current team, what the caller sees of it; a bulk action needs operator on every host it names.
  'fleet.hosts': current('viewer'),
  'fleet.containers': current('viewer'),
  'fleet.resources': current('viewer'),
  'fleet.lookup': current('viewer'),
  'fleet.bulk': host('operator'),
  // Admins manage alert rules; every member reads them (webhook URLs only as a hint) and the alerts.
  'alerts.rules': current('viewer'),
  'alerts.createRule': current('admin'),
  'alerts.updateRule': team('admin'),
  'alerts.deleteRule': team('admin'),
  'alerts.mute': team('admin'),
  'alerts.testRule': team('admin'),
  'alerts.list': current('viewer'),
  'alerts.openCount': current('viewer'),
};
