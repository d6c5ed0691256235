// Frame sizing: an echoed key goes out at the end of the turn; a stream of pty-sized reads is coalesced.
import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, OutputBatcher } from '../../server/terminals/output-batcher.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('OutputBatcher', () => {
  it('sends a lone small read at the end of the event-loop turn', async () => {
    const frames: Buffer[] = [];
    const b = new OutputBatcher((f) => frames.push(f));
    b.push(Buffer.from('x'));
    expect(frames).toHaveLength(0);
    await turn();
    expect(frames.map(String)).toEqual(['x']);
    b.dispose();
  });

  it('coalesces a stream of ~4 KB reads (one per turn) into large frames', async () => {
    const frames: Buffer[] = [];
    const b = new OutputBatcher((f) => frames.push(f));
    const read = Buffer.alloc(4095, 0x61); // what a pty read returns while output outruns us
    for (let i = 0; i < 64; i++) {
      b.push(read);
      await turn();
    }
    b.flush();
    expect(Buffer.concat(frames).length).toBe(64 * 4095);
    expect(frames.length).toBeLessThanOrEqual(64 / 4);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(MAX_FRAME_BYTES + 4095);
    b.dispose();
  });
});
