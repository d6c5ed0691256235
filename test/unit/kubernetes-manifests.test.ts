// deploy/kubernetes/: every manifest, rendered with its placeholders filled, validates against Kubernetes' own
// OpenAPI schemas (the kubernetes-models package, generated from them), and the DaemonSets carry what the
// design says each privilege is for. Offline: no cluster, no network.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../helpers/server.js';

const DEPLOY = path.join(REPO_ROOT, 'deploy/kubernetes');

/** Sample values for every placeholder the manifests use (what an operator fills in, e.g. with envsubst). */
const PLACEHOLDERS: Record<string, string> = {
  NSCONSOLE_IMAGE: 'registry.example/nsconsole:0.1.0',
  OAUTH2_PROXY_IMAGE: 'quay.io/oauth2-proxy/oauth2-proxy:v7.7.1',
  PUBLIC_HOST: 'nsconsole.lab.example',
  OIDC_ISSUER_URL: 'https://sso.lab.example/realms/lab',
  ADMIN_USER: 'teacher@lab.example',
  OAUTH2_CLIENT_ID: 'nsconsole',
  OAUTH2_CLIENT_SECRET: 'client-secret-value',
  OAUTH2_COOKIE_SECRET: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY',
};

function manifestFiles(dir = DEPLOY): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? manifestFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

export function render(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`placeholder \${${name}} has no value`);
    return v;
  });
}

type K8sObject = { apiVersion: string; kind: string; metadata?: { name?: string }; [k: string]: unknown };
type ModelClass = new (data: unknown) => { validate(): void };

/** The kubernetes-models class for apiVersion/kind: `v1` → kubernetes-models/v1, `apps/v1` → kubernetes-models/apps/v1. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const specifier = `kubernetes-models/${apiVersion}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(
      `cannot load ${specifier}: is the devDependency kubernetes-models installed? (${(e as Error).message})`,
    );
  }
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`${apiVersion} has no kind ${kind}`);
  return cls as ModelClass;
}

function load(file: string): K8sObject[] {
  return parseAllDocuments(render(readFileSync(file, 'utf8'), PLACEHOLDERS)).map((d) => {
    expect(d.errors, `${file}: YAML errors`).toEqual([]);
    return d.toJS() as K8sObject;
  });
}

const files = manifestFiles();

describe('deploy/kubernetes manifests', () => {
  it('exist: a DaemonSet, a Service and the oauth2-proxy example', () => {
    const rel = files.map((f) => path.relative(DEPLOY, f)).sort();
    expect(rel).toEqual(
      expect.arrayContaining([
        'daemonset.yaml',
        'service.yaml',
        'namespace.yaml',
        'oauth2-proxy/daemonset.yaml',
        'oauth2-proxy/service.yaml',
        'oauth2-proxy/secret.yaml',
      ]),
    );
  });

  it('use only placeholders that are filled, and leave none behind', () => {
    for (const f of files) {
      const rendered = render(readFileSync(f, 'utf8'), PLACEHOLDERS);
      expect(rendered, f).not.toMatch(/\$\{/);
    }
  });

  it.each(files.map((f) => [path.relative(DEPLOY, f), f]))(
    '%s validates against the Kubernetes schemas',
    async (_rel, file) => {
      for (const obj of load(file)) {
        const Model = await modelFor(obj.apiVersion, obj.kind);
        expect(() => new Model(obj).validate(), `${obj.kind} ${obj.metadata?.name}`).not.toThrow();
      }
    },
  );

  it('a wrong manifest is caught (the validation is real)', async () => {
    const [ds] = load(path.join(DEPLOY, 'daemonset.yaml')) as [K8sObject];
    const broken = structuredClone(ds) as unknown as { spec: { template: { spec: { hostPID: unknown } } } };
    broken.spec.template.spec.hostPID = 'yes';
    const Model = await modelFor('apps/v1', 'DaemonSet');
    expect(() => new Model(broken).validate()).toThrow(/hostPID/);
  });

  it.each([['daemonset.yaml'], ['oauth2-proxy/daemonset.yaml']])(
    '%s: hostPID, privileged, the ns-dir in the pod, readiness from /api/health, requests',
    (rel) => {
      const [ds] = load(path.join(DEPLOY, rel)) as [K8sObject];
      type Container = {
        name: string;
        args?: string[];
        securityContext?: { privileged?: boolean };
        volumeMounts?: { name: string; mountPath: string; mountPropagation?: string }[];
        readinessProbe?: { httpGet?: { path: string; httpHeaders?: { name: string; value: string }[] } };
        resources?: { requests?: Record<string, string> };
      };
      const pod = (
        ds as unknown as {
          spec: {
            template: {
              spec: {
                hostPID?: boolean;
                hostNetwork?: boolean;
                containers: Container[];
                volumes: { name: string; hostPath?: { path: string } }[];
              };
            };
          };
        }
      ).spec.template.spec;
      expect(pod.hostPID).toBe(true);
      expect(pod.hostNetwork ?? false, 'the pod keeps its own loopback').toBe(false);
      const ns = pod.containers.find((c) => c.name === 'nsconsole') as Container;
      expect(ns.securityContext?.privileged).toBe(true);
      // The ns-dir stays in the pod: the kernel never propagates an nsfs bind of a mount namespace, and binding
      // one on a mount with a peer on the node fails (test/integration/compose-propagation.test.ts).
      expect(ns.volumeMounts?.some((m) => m.mountPath.startsWith('/run/nsconsole'))).toBe(false);
      expect(ns.args).toContain('--ns-dir=/run/nsconsole/ns');
      for (const c of pod.containers)
        expect(c.resources?.requests, c.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      const probe = pod.containers.map((c) => c.readinessProbe?.httpGet).find((g) => g !== undefined);
      expect(probe?.path).toBe('/api/health');
      expect(probe?.httpHeaders).toContainEqual({ name: 'Host', value: 'localhost:4280' });
    },
  );

  it('the oauth2-proxy example: nsconsole on loopback believes X-Forwarded-User from the sidecar only', () => {
    const [ds] = load(path.join(DEPLOY, 'oauth2-proxy/daemonset.yaml')) as [K8sObject];
    const containers = (
      ds as unknown as { spec: { template: { spec: { containers: { name: string; args: string[] }[] } } } }
    ).spec.template.spec.containers;
    const ns = containers.find((c) => c.name === 'nsconsole')!.args;
    const proxy = containers.find((c) => c.name === 'oauth2-proxy')!.args;
    expect(ns).toEqual(
      expect.arrayContaining([
        '--host=127.0.0.1',
        '--auth-header=X-Forwarded-User',
        '--trusted-proxy=127.0.0.1/32',
        `--admin=${PLACEHOLDERS.ADMIN_USER}`,
        `--allow-host=${PLACEHOLDERS.PUBLIC_HOST}`,
      ]),
    );
    expect(proxy).toEqual(
      expect.arrayContaining([
        '--upstream=http://127.0.0.1:4280/',
        '--pass-user-headers=true',
        '--pass-host-header=true',
      ]),
    );
  });
});
