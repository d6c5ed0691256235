// A server without privilege asked to enter a namespace (issue #15 item 6): a 403 NOT_PRIVILEGED that says
// permission was denied and why, not a 501 or a shell that dies at once.
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelFixtures } from '../helpers/kernel.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';

const NOBODY = 65534;
const fixtures = new KernelFixtures();
let proc: ServerProcess | undefined;

afterEach(async () => {
  await proc?.stop();
  proc = undefined;
  await fixtures.cleanup();
});

describe('entering a persisted namespace from a server that is not root', () => {
  for (const mode of [0o700, 0o755]) {
    it(`answers 403 NOT_PRIVILEGED in words (ns-dir mode ${mode.toString(8)})`, async () => {
      const dir = fixtures.privateDir('nsconsole-unpriv-');
      const id = fixtures.persistMountNs(path.join(dir, 'ns'));
      chmodSync(dir, mode);
      proc = await spawnServer([], { uid: NOBODY });
      const auth = { authorization: `Bearer ${proc.token}`, 'content-type': 'application/json' };
      const list = (await (await fetch(`${proc.base}/api/namespaces?type=mnt`, { headers: auth })).json()) as {
        namespaces: { id: string }[];
      };
      expect(list.namespaces.map((n) => n.id)).toContain(id);
      const res = await fetch(`${proc.base}/api/sessions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ target: { kind: 'namespace', id } }),
      });
      const body = (await res.json()) as { error?: { code: string; message: string } };
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(body.error?.code).toBe('NOT_PRIVILEGED');
      expect(body.error?.message).toMatch(/permission denied.*CAP_SYS_ADMIN.*uid 65534/);
    });
  }
});
