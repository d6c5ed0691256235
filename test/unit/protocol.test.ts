// The shared wire schemas: what the browser accepts from the server, and what the server accepts from a client.
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { NamespaceListSchema, SessionInfoSchema, parseWire } from '../../shared/api.js';
import { parseEventsMessage } from '../../shared/events.js';
import { parseClientMessage, parseServerMessage } from '../../shared/protocol.js';

const hello = {
  type: 'hello',
  session: 's1',
  target: { kind: 'host' },
  pid: 42,
  cols: 80,
  rows: 24,
  readOnly: false,
  seq: 0,
};
const ns = {
  id: 'mnt:4026531841',
  type: 'mnt',
  inode: 4026531841,
  nprocs: 3,
  pid: 1,
  user: 'root',
  command: 'init',
  nsfs: [],
  self: true,
};
const mount = {
  id: 1,
  parentId: 0,
  target: '/',
  source: '/dev/sda',
  fstype: 'ext4',
  options: 'rw',
  superOptions: 'rw',
  root: '/',
  propagation: 'shared',
  peerGroup: 1,
};

describe('server → browser terminal messages', () => {
  it('accepts a complete hello', () => {
    expect(parseServerMessage(JSON.stringify(hello))).toEqual(hello);
  });

  it('rejects a hello without readOnly, seq or a valid target (the old hand-written guard let these through)', () => {
    for (const key of ['readOnly', 'seq'] as const) {
      const { [key]: _dropped, ...rest } = hello;
      expect(parseServerMessage(JSON.stringify(rest)), key).toBeNull();
    }
    expect(parseServerMessage(JSON.stringify({ ...hello, target: { kind: 'namespace', id: 'nope' } }))).toBeNull();
    expect(parseServerMessage(JSON.stringify({ ...hello, seq: -1 }))).toBeNull();
  });

  it('keeps working when a newer server adds fields: unknown keys are dropped, not fatal', () => {
    expect(
      parseServerMessage(JSON.stringify({ ...hello, addedLater: 'x', target: { kind: 'host', extra: 1 } })),
    ).toEqual(hello);
  });

  it('reads an error with a code it does not know, so its message still reaches the person', () => {
    expect(parseServerMessage('{"type":"error","code":"SOMETHING_NEW","message":"words"}')).toEqual({
      type: 'error',
      code: 'SOMETHING_NEW',
      message: 'words',
    });
  });

  it('returns null for non-JSON, unknown types and wrong field types', () => {
    expect(parseServerMessage('{not json')).toBeNull();
    expect(parseServerMessage('{"type":"teleport"}')).toBeNull();
    expect(parseServerMessage('{"type":"resized","cols":"80","rows":24}')).toBeNull();
    expect(parseServerMessage('{"type":"where","where":{"pid":1,"command":"sh","mnt":"mnt:x"}}')).toBeNull();
    expect(parseServerMessage('{"type":"exit","code":0,"signal":null}')).toEqual({
      type: 'exit',
      code: 0,
      signal: null,
    });
  });
});

describe('server → browser live events and REST answers', () => {
  it('accepts a namespace list with a field a newer server added', () => {
    const msg = parseEventsMessage(
      JSON.stringify({ type: 'namespaces', namespaces: [{ ...ns, addedLater: { any: 'thing' } }] }),
    );
    expect(msg).toEqual({ type: 'namespaces', namespaces: [ns] });
    const owned = {
      ...ns,
      owner: { uid: 1000, user: 'alice', userns: 'user:4026532177' },
      untrusted: { reason: 'owned by alice' },
    };
    expect(parseEventsMessage(JSON.stringify({ type: 'namespaces', namespaces: [owned] }))).toEqual({
      type: 'namespaces',
      namespaces: [owned],
    });
    expect(
      parseEventsMessage(JSON.stringify({ type: 'namespaces', namespaces: [{ ...ns, owner: 'alice' }] })),
    ).toBeNull();
  });

  it('rejects a mount table with a bad propagation or a namespace with a bad id', () => {
    expect(parseEventsMessage(JSON.stringify({ type: 'mounts', id: 'mnt:1', mounts: [mount] }))).not.toBeNull();
    expect(
      parseEventsMessage(JSON.stringify({ type: 'mounts', id: 'mnt:1', mounts: [{ ...mount, propagation: 'weird' }] })),
    ).toBeNull();
    expect(NamespaceListSchema.safeParse({ namespaces: [{ ...ns, id: 'mnt:0' }] }).success).toBe(false);
  });

  it('checks session info the way the browser reads it', () => {
    const info = {
      id: 'a',
      target: { kind: 'process', pid: 7 },
      pid: 9,
      cols: 80,
      rows: 24,
      clients: 0,
      createdAt: 'now',
      exited: null,
    };
    expect(parseWire(SessionInfoSchema, JSON.stringify(info))).toEqual(info);
    expect(parseWire(SessionInfoSchema, JSON.stringify({ ...info, exited: { code: 'x' } }))).toBeNull();
  });
});

describe('browser → server terminal messages', () => {
  it('are strict: an unknown key is a client bug and answered with BAD_MESSAGE', () => {
    expect(parseClientMessage('{"type":"resize","cols":80,"rows":24}')).toEqual({
      ok: true,
      msg: { type: 'resize', cols: 80, rows: 24 },
    });
    const r = parseClientMessage('{"type":"resize","cols":80,"rows":24,"x":1}');
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.code).toBe('BAD_MESSAGE');
    expect(parseClientMessage('{"type":"ack","bytes":-1}')).toMatchObject({ ok: false, code: 'BAD_MESSAGE' });
    expect(parseClientMessage('nope')).toMatchObject({ ok: false, code: 'INVALID_JSON' });
  });

  it('says what is wrong in words once the server loaded the English messages (server/nsconsole.ts)', () => {
    z.config(z.locales.en());
    const r = parseClientMessage('{"type":"resize","cols":5000,"rows":24}');
    expect(r.ok === false && r.message).toMatch(/^cols: Too big/);
  });
});
