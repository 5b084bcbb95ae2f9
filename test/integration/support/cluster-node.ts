// A bare control-plane process for cluster tests: the database (BERTH_DATA_DIR's SQLite
// file), a socket.io server with the agent hub, joined to REDIS_URL. Prints
// "LISTENING <port>" once agents can connect. A test kills it by pid to see what the
// other processes make of a process that dies without a word.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { openDatabase } from '../../../server/db';
import { AgentHub } from '../../../server/hub/agents';
import { startCluster } from '../../../server/hub/cluster';

await openDatabase();
const http = createServer();
const io = new Server(http);
const hub = new AgentHub();
await startCluster(io, hub, process.env.REDIS_URL!);
hub.attach(io);
http.listen(0, '127.0.0.1', () => console.log(`LISTENING ${(http.address() as { port: number }).port}`));
