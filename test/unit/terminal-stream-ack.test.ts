// The ack fast path must accept exactly what the schema accepts for canonical acks, and defer everything else.
import { describe, expect, it } from 'vitest';
import { parseClientMessage } from '../../shared/protocol.js';
import { fastAckBytes } from '../../server/ws/terminal-stream.js';

describe('fastAckBytes', () => {
  it('reads canonical acks as JSON.stringify writes them', () => {
    for (const bytes of [0, 1, 32768, 1 << 30]) {
      const text = JSON.stringify({ type: 'ack', bytes });
      expect(fastAckBytes(text)).toBe(bytes);
      expect(parseClientMessage(text)).toMatchObject({ ok: true, msg: { type: 'ack', bytes } });
    }
  });

  it('leaves every other message to the full parser', () => {
    const others = [
      JSON.stringify({ type: 'ack', bytes: (1 << 30) + 1 }),
      '{"type":"ack","bytes":-1}',
      '{"type":"ack","bytes":1.5}',
      '{"type":"ack","bytes":01}',
      '{"type":"ack","bytes":99999999999}',
      '{"type":"ack","bytes":1,"x":1}',
      '{ "type": "ack", "bytes": 1 }',
      '{"bytes":1,"type":"ack"}',
      '{"type":"resize","cols":80,"rows":24}',
      '{"type":"ack","bytes":1}\n',
    ];
    for (const text of others) expect(fastAckBytes(text)).toBeUndefined();
  });
});
