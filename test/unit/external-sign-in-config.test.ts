// The outside sign-in settings as the environment gives them: what turns a provider on,
// what is refused at start (with the variable named), and how groups map to teams.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalConfigError, externalConfig, parseTeamMap } from '../../server/auth/external-config';
import { groupsOf, mappedTeams } from '../../server/auth/external-users';
import { redirectFor } from '../../app/lib/routing';

const OIDC = { BERTH_OIDC_ISSUER: 'https://idp.example.com/realms/x/', BERTH_OIDC_CLIENT_ID: 'berth', BERTH_OIDC_CLIENT_SECRET: 's3cret' };

test('nothing set: no outside provider', () => {
  assert.deepEqual(externalConfig({}), { oidc: null, github: null });
});

test('an OIDC provider from three variables, with discovery under its issuer and default scopes', () => {
  const { oidc } = externalConfig({ ...OIDC, BERTH_OIDC_NAME: 'Company SSO' });
  assert.equal(oidc?.issuer, 'https://idp.example.com/realms/x');
  assert.equal(oidc?.wellKnown, 'https://idp.example.com/realms/x/.well-known/openid-configuration');
  assert.equal(oidc?.name, 'Company SSO');
  assert.equal(oidc?.scopes, 'openid email profile');
  assert.deepEqual(oidc?.teamMap, []);
});

test('a half-configured OIDC provider is refused, naming what is missing', () => {
  assert.throws(() => externalConfig({ BERTH_OIDC_ISSUER: OIDC.BERTH_OIDC_ISSUER }), /BERTH_OIDC_ISSUER is set but BERTH_OIDC_CLIENT_ID, BERTH_OIDC_CLIENT_SECRET are not/);
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_CLIENT_SECRET: '' }), /BERTH_OIDC_CLIENT_SECRET is not/);
});

test('an issuer over plain http is refused unless it is on loopback', () => {
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_ISSUER: 'http://idp.example.com' }), /BERTH_OIDC_ISSUER: http:\/\/ is refused for idp.example.com/);
  assert.equal(externalConfig({ ...OIDC, BERTH_OIDC_ISSUER: 'http://127.0.0.1:5556' }).oidc?.issuer, 'http://127.0.0.1:5556');
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_ISSUER: 'not a url' }), /BERTH_OIDC_ISSUER: not a URL/);
});

test('scopes without openid are refused', () => {
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_SCOPES: 'email profile' }), /BERTH_OIDC_SCOPES: must include openid/);
  assert.equal(externalConfig({ ...OIDC, BERTH_OIDC_SCOPES: 'openid  email groups' }).oidc?.scopes, 'openid email groups');
});

test('the team map: group:Team=role entries, comma separated', () => {
  assert.deepEqual(parseTeamMap('ops:Operations=operator, admins:Operations=admin,readers:Team B=viewer'), [
    { group: 'ops', team: 'Operations', role: 'operator' },
    { group: 'admins', team: 'Operations', role: 'admin' },
    { group: 'readers', team: 'Team B', role: 'viewer' },
  ]);
  // A team name may hold ':' and '=': the group ends at the first ':', the role starts after the last '='.
  assert.deepEqual(parseTeamMap('g:a:b=c=viewer'), [{ group: 'g', team: 'a:b=c', role: 'viewer' }]);
});

test('a malformed team map is refused at start with the entry named', () => {
  const env = (map: string) => ({ ...OIDC, BERTH_OIDC_TEAMS_CLAIM: 'groups', BERTH_OIDC_TEAM_MAP: map });
  assert.throws(() => externalConfig(env('ops=operator')), /BERTH_OIDC_TEAM_MAP: entry 1 "ops=operator": expected group:Team=role/);
  assert.throws(() => externalConfig(env('ops:Operations=operator,,x:Y=viewer')), /entry 2 "": empty/);
  assert.throws(() => externalConfig(env('ops:Operations=boss')), /entry 1 .*unknown role "boss" \(admin, operator or viewer\)/);
  assert.throws(() => externalConfig(env('ops:Operations=owner')), /owner cannot be given by a group/);
  assert.throws(() => externalConfig(env('ops:Operations=')), /expected group:Team=role/);
  assert.throws(() => externalConfig(env('ops:Operations=viewer,ops:Operations=admin')), /ops is mapped to Operations twice/);
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_TEAM_MAP: 'ops:Operations=operator' }), /BERTH_OIDC_TEAM_MAP is set but BERTH_OIDC_TEAMS_CLAIM is not/);
  assert.throws(() => externalConfig({ ...OIDC, BERTH_OIDC_TEAMS_CLAIM: 'groups' }), /BERTH_OIDC_TEAMS_CLAIM is set but BERTH_OIDC_TEAM_MAP is not/);
  try {
    externalConfig(env('nonsense'));
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ExternalConfigError);
  }
});

test('groups from the claim: an array or a space/comma separated string; the highest role per team wins', () => {
  assert.deepEqual(groupsOf(['ops', 7, 'admins']), ['ops', 'admins']);
  assert.deepEqual(groupsOf('ops admins,x'), ['ops', 'admins', 'x']);
  assert.deepEqual(groupsOf(undefined), []);
  const map = parseTeamMap('ops:Operations=operator,admins:Operations=admin,readers:Docs=viewer');
  assert.deepEqual([...mappedTeams(['ops', 'admins'], map)], [['Operations', 'admin']]);
  assert.deepEqual([...mappedTeams(['readers', 'strangers'], map)], [['Docs', 'viewer']]);
  assert.deepEqual([...mappedTeams([], map)], []);
});

test('GitHub from its client id and secret; the test URL only on loopback and only with them', () => {
  const { github } = externalConfig({ BERTH_GITHUB_CLIENT_ID: 'id', BERTH_GITHUB_CLIENT_SECRET: 'secret' });
  assert.equal(github?.webBase, 'https://github.com');
  assert.equal(github?.apiBase, 'https://api.github.com');
  const fake = externalConfig({ BERTH_GITHUB_CLIENT_ID: 'id', BERTH_GITHUB_CLIENT_SECRET: 'secret', BERTH_GITHUB_TEST_URL: 'http://127.0.0.1:4000' }).github;
  assert.equal(fake?.apiBase, 'http://127.0.0.1:4000/api');
  assert.throws(() => externalConfig({ BERTH_GITHUB_CLIENT_ID: 'id', BERTH_GITHUB_CLIENT_SECRET: 'secret', BERTH_GITHUB_TEST_URL: 'https://evil.example.com' }), /BERTH_GITHUB_TEST_URL: only a loopback address/);
  assert.throws(() => externalConfig({ BERTH_GITHUB_CLIENT_ID: 'id' }), /GitHub sign-in: BERTH_GITHUB_CLIENT_SECRET is not set/);
  assert.throws(() => externalConfig({ BERTH_GITHUB_TEST_URL: 'http://127.0.0.1:4000' }), /BERTH_GITHUB_TEST_URL alone turns nothing on/);
});

test('a signed-in user in no team is sent from the hosts list to /no-team, and back once in one', () => {
  const inNoTeam = { needsSetup: false, signedIn: true, role: null };
  assert.equal(redirectFor('/', inNoTeam), '/no-team');
  assert.equal(redirectFor('/no-team', inNoTeam), null);
  // The pages they need stay open: invitations, their account, the team page (to make a team).
  for (const path of ['/invite/binv_x', '/account', '/team']) assert.equal(redirectFor(path, inNoTeam), null, path);
  assert.equal(redirectFor('/no-team', { ...inNoTeam, role: 'viewer' }), '/');
  assert.equal(redirectFor('/', { ...inNoTeam, role: 'viewer' }), null);
  assert.equal(redirectFor('/no-team', { needsSetup: false, signedIn: false, role: null }), '/login');
});
