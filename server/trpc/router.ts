import { router } from './init';
import { auditRouter } from './routers/audit';
import { authRouter } from './routers/auth';
import { containersRouter } from './routers/containers';
import { hostsRouter } from './routers/hosts';
import { imagesRouter } from './routers/images';
import { networksRouter } from './routers/networks';
import { volumesRouter } from './routers/volumes';

export const appRouter = router({
  auth: authRouter,
  hosts: hostsRouter,
  images: imagesRouter,
  containers: containersRouter,
  volumes: volumesRouter,
  networks: networksRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
