// Containers: records (ids, names, disk), lifecycle (create/start/stop/kill/remove and
// exits), exec. The engine facade composes them; nothing else should reach in here.
export { ContainerRecords } from './records';
export { ContainerLifecycle, nowRfc3339Nano, type ContainerHooks } from './lifecycle';
export { execIn } from './exec';
export { checkSpec } from './spec';
