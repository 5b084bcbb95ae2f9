// Zod compiles object parsers with `new Function`, and probes whether it may when an object
// schema is made. The dashboard's CSP has no 'unsafe-eval': in a page the probe is blocked
// and reported as a violation every time. So in the browser, before a module that makes
// schemas runs (each imports this first), Zod is told not to compile. Node keeps compiling.
import { z } from 'zod';

if (typeof window !== 'undefined') z.config({ jitless: true });
