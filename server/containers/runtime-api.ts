// Container names from the Docker Engine API (Podman serves the same API) over its unix socket: one
// `GET /containers/json` at a time, time-boxed and size-capped, cached by id. The socket is optional: where it is
// missing, refused or answering garbage, containers keep the names their cgroup paths give them.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { Logger } from '../log.js';

export interface RuntimeFacts {
  name: string;
  image?: string;
  compose?: { project: string; service: string };
  pod?: { name: string; namespace: string };
}

/**
 * How long one API call may take. A local daemon answers /containers/json in ~5-20 ms with 50 containers; past
 * this it is stuck or swamped, and the namespace list goes on with what it knows.
 */
export const RUNTIME_API_TIMEOUT_MS = 800;
/** How long a list waits for names of containers it has not seen before: a second call may finish the job. */
export const RUNTIME_WAIT_MS = 300;
/** The most an answer may hold: ~2 KiB per container, so this is thousands of containers, and no more. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** After a failed call (refused, timed out, garbage) the API is left alone this long. */
const FAILURE_BACKOFF_MS = 5000;
/**
 * An id the API did not know is asked about again after this long, doubling up to UNKNOWN_RETRY_MAX_MS (it may
 * be another runtime's). The first retry is quick: a container's first process runs while `docker run` is still
 * registering it, and the name should follow within the second the issue asks for.
 */
const UNKNOWN_RETRY_MS = 200;
const UNKNOWN_RETRY_MAX_MS = 5000;
/** Containers not running are not listed; created ones are (their processes exist before `start` answers). */
const LIVE_FILTER = encodeURIComponent(JSON.stringify({ status: ['created', 'running', 'restarting', 'paused'] }));

export class RuntimeNames {
  private cache = new Map<string, RuntimeFacts>();
  /** id → when it may be asked about again, and the wait after that, for ids a finished refresh did not know */
  private unknown = new Map<string, { retryAt: number; backoff: number }>();
  private inflight: Promise<void> | null = null;
  private failedAt = 0;
  /** asks again for ids still unknown; owned here, cleared by dispose */
  private retryTimer: NodeJS.Timeout | null = null;
  private disposed = false;

  /** `learned`: names came for containers a list was already given without them (call for a fresh list). */
  constructor(
    private readonly socketPath: string,
    private readonly log: Logger,
    private readonly learned: () => void = () => undefined,
  ) {}

  dispose(): void {
    this.disposed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Facts for the ids the API knows; never throws, never waits longer than RUNTIME_WAIT_MS. */
  async facts(ids: readonly string[]): Promise<Map<string, RuntimeFacts>> {
    const now = Date.now();
    const wanted = ids.filter((id) => !this.cache.has(id) && now >= (this.unknown.get(id)?.retryAt ?? -Infinity));
    if (wanted.length > 0 && this.mayAsk(now)) {
      const refresh = this.refresh(wanted);
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        refresh.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), RUNTIME_WAIT_MS))),
      ]);
      clearTimeout(timer);
      // The list goes out without these names; when they come, it is asked for again.
      if (!answered) void refresh.then(() => this.learnedAny(wanted) && this.learned());
    }
    const out = new Map<string, RuntimeFacts>();
    for (const id of ids) {
      const facts = this.cache.get(id);
      if (facts) out.set(id, facts);
    }
    // Forget containers that are gone: the cache holds only what the last list had.
    const live = new Set(ids);
    if (ids.length > 0) for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
    for (const id of this.unknown.keys()) if (!live.has(id)) this.unknown.delete(id);
    return out;
  }

  private mayAsk(now: number): boolean {
    return !this.disposed && now - this.failedAt >= FAILURE_BACKOFF_MS && existsSync(this.socketPath);
  }

  private learnedAny(ids: readonly string[]): boolean {
    return ids.some((id) => this.cache.has(id));
  }

  /** Ask again for the unknown ids when the first of them is due; a list follows if any got a name. */
  private scheduleRetry(): void {
    if (this.retryTimer || this.disposed || this.unknown.size === 0) return;
    const due = Math.min(...[...this.unknown.values()].map((u) => u.retryAt));
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        const now = Date.now();
        const wanted = [...this.unknown].filter(([, u]) => u.retryAt <= now).map(([id]) => id);
        if (wanted.length === 0 || !this.mayAsk(now)) return this.scheduleRetry();
        void this.refresh(wanted).then(() => {
          if (this.learnedAny(wanted)) this.learned();
        });
      },
      Math.max(0, due - Date.now()),
    );
    // Names are a nicety: a pending retry must not keep the process alive.
    this.retryTimer.unref();
  }

  private refresh(wanted: string[]): Promise<void> {
    this.inflight ??= (async () => {
      const asked = Date.now();
      try {
        const body = await getJson(this.socketPath, `/containers/json?all=1&filters=${LIVE_FILTER}`);
        const fresh = parseContainerList(body);
        this.cache = fresh;
        for (const id of wanted) {
          if (fresh.has(id)) {
            this.unknown.delete(id);
            continue;
          }
          const backoff = Math.min(UNKNOWN_RETRY_MAX_MS, (this.unknown.get(id)?.backoff ?? UNKNOWN_RETRY_MS / 2) * 2);
          this.unknown.set(id, { retryAt: asked + backoff, backoff });
        }
        this.scheduleRetry();
      } catch (err) {
        this.failedAt = Date.now();
        // Swallow: names are a nicety; the list shows cgroup names meanwhile. Logged at debug so a missing or
        // foreign socket stays silent.
        this.log.debug({ err: (err as Error).message, socket: this.socketPath }, 'container runtime API unavailable');
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}

/** `GET path` on the unix socket → parsed JSON; rejects on timeout, non-200, oversize or bad JSON. */
export function getJson(socketPath: string, path: string, timeoutMs = RUNTIME_API_TIMEOUT_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', headers: { Host: 'docker' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`HTTP ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error('answer is not JSON'));
        }
      });
      res.on('error', reject);
    });
    // The whole call, not just idle time: a daemon trickling bytes must not hold the list either.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end();
  });
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The API's container list → facts by full id; entries that do not look like containers are skipped. */
export function parseContainerList(body: unknown): Map<string, RuntimeFacts> {
  if (!Array.isArray(body)) throw new Error('answer is not a list');
  const out = new Map<string, RuntimeFacts>();
  for (const item of body as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const c = item as Record<string, unknown>;
    const id = str(c.Id);
    if (!id || !/^[0-9a-f]{64}$/.test(id)) continue;
    const names = Array.isArray(c.Names) ? c.Names.filter((n): n is string => typeof n === 'string') : [];
    const labels = typeof c.Labels === 'object' && c.Labels !== null ? (c.Labels as Record<string, unknown>) : {};
    const facts: RuntimeFacts = { name: (names[0] ?? id.slice(0, 12)).replace(/^\//, '') };
    const image = str(c.Image);
    if (image) facts.image = image;
    const project = str(labels['com.docker.compose.project']);
    const service = str(labels['com.docker.compose.service']);
    if (project && service) facts.compose = { project, service };
    const podName = str(labels['io.kubernetes.pod.name']);
    const podNamespace = str(labels['io.kubernetes.pod.namespace']);
    if (podName && podNamespace) facts.pod = { name: podName, namespace: podNamespace };
    out.set(id, facts);
  }
  return out;
}
