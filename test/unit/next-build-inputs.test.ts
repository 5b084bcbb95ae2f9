// `npm start` and the tests rebuild the Next app when its sources are newer than the
// build. Its sources include files outside app/ and server/ that pages import.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importedFromOutside } from '../../scripts/next-build';

test('files the pages import from agent/ and generated/ count as build inputs; the rest of agent/ does not', () => {
  const inputs = importedFromOutside();
  // The dashboard's status column (app/hosts/[id]/page.tsx) and the shared contracts.
  for (const f of ['agent/link/human-status.ts', 'agent/link/protocol.ts', 'agent/engine/types.ts', 'generated/prisma/client.ts']) {
    assert.ok(inputs.includes(f), `${f} missing from ${inputs.join(', ')}`);
  }
  // Engine code the browser never sees: editing it must not force a minute-long rebuild.
  for (const f of ['agent/link/client.ts', 'agent/main.ts', 'agent/engine/containers/monitor.ts']) {
    assert.ok(!inputs.includes(f), `${f} should not be a build input`);
  }
});
