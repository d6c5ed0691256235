// The REST client checks every answer with the shared schemas and turns failures into plain words.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, createShareLink, getSession, listNamespaces, plainMessage } from './api.js';

function answer(status: number, body: unknown): void {
  vi.stubGlobal(
    'fetch',
    async () =>
      new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), { status }),
  );
}

async function apiError(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
}

afterEach(() => vi.unstubAllGlobals());

describe('REST client', () => {
  it('returns a namespace list that matches the schema', async () => {
    const ns = {
      id: 'mnt:4026531841',
      type: 'mnt',
      inode: 4026531841,
      nprocs: 1,
      pid: 1,
      user: 'root',
      command: 'init',
      nsfs: [],
      self: true,
    };
    answer(200, { namespaces: [ns] });
    expect(await listNamespaces()).toEqual({ namespaces: [ns] });
  });

  it('turns an answer that does not match into BAD_RESPONSE, never a cast', async () => {
    answer(200, { namespaces: [{ id: 'mnt:1' }] });
    expect((await apiError(listNamespaces())).code).toBe('BAD_RESPONSE');
  });

  it('shows the plain words for a known code with the server text as detail, and any other code as is', async () => {
    answer(409, { error: { code: 'NS_BUSY', message: 'held by pid 7' } });
    const busy = await apiError(listNamespaces());
    expect(busy).toMatchObject({
      code: 'NS_BUSY',
      status: 409,
      detail: 'held by pid 7',
      message: 'That namespace is still in use. (held by pid 7)',
    });
    answer(418, { error: { code: 'SOMETHING_NEW', message: 'words' } });
    expect(await apiError(listNamespaces())).toMatchObject({ code: 'SOMETHING_NEW', message: 'words' });
  });

  it('names an HTTP status when the error body is not ours (a proxy page)', async () => {
    answer(502, '<html>bad gateway</html>');
    expect((await apiError(listNamespaces())).code).toBe('HTTP_502');
  });

  it('answers null for a session the server no longer has', async () => {
    answer(404, { error: { code: 'SESSION_NOT_FOUND', message: 'no session x' } });
    expect(await getSession('x')).toBeNull();
  });

  it('rejects a share link that is not a same-origin path', async () => {
    vi.stubGlobal('location', new URL('http://127.0.0.1:4280/'));
    answer(201, { token: 't', url: '/?session=a&view=t' });
    expect((await createShareLink('a')).url).toBe('http://127.0.0.1:4280/?session=a&view=t');
    answer(201, { token: 't', url: 'https://evil.example/' });
    expect((await apiError(createShareLink('a'))).code).toBe('BAD_RESPONSE');
  });

  it('plainMessage does not repeat itself', () => {
    expect(plainMessage('NS_BUSY', '')).toBe('That namespace is still in use.');
    expect(plainMessage('OTHER', '')).toBe('OTHER');
  });
});
