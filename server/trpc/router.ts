import { router } from './init';
import { accountRouter } from './routers/account';
import { alertsRouter } from './routers/alerts';
import { auditRouter } from './routers/audit';
import { authRouter } from './routers/auth';
import { containersRouter } from './routers/containers';
import { fleetRouter } from './routers/fleet';
import { hostsRouter } from './routers/hosts';
import { imagesRouter } from './routers/images';
import { logsRouter } from './routers/logs';
import { networksRouter } from './routers/networks';
import { registriesRouter } from './routers/registries';
import { stacksRouter } from './routers/stacks';
import { stackGitRouter } from './routers/stack-git';
import { teamRouter } from './routers/team';
import { tokensRouter } from './routers/tokens';
import { updatesRouter } from './routers/updates';
import { volumesRouter } from './routers/volumes';

export const appRouter = router({
  auth: authRouter,
  account: accountRouter,
  team: teamRouter,
  hosts: hostsRouter,
  images: imagesRouter,
  containers: containersRouter,
  logs: logsRouter,
  volumes: volumesRouter,
  networks: networksRouter,
  audit: auditRouter,
  registries: registriesRouter,
  tokens: tokensRouter,
  stacks: stacksRouter,
  stackGit: stackGitRouter,
  fleet: fleetRouter,
  alerts: alertsRouter,
  updates: updatesRouter,
});

export type AppRouter = typeof appRouter;
