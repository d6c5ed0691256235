// A `mounts` message whose JSON text was built off the main thread (see mountPageJson). The event stream sends
// that text as it is; only a listener on this thread that reads `mounts` (a lesson's checks, tests) pays for
// parsing it, once.
import type { EventsServerMessage } from '../../shared/events.js';
import type { MountPageJson } from '../mounts/mountinfo.js';

type MountsMessage = Extract<EventsServerMessage, { type: 'mounts' }>;

const JSON_TEXT = new WeakMap<object, string>();

/** The message's JSON: the text it was built from when it has one, else JSON.stringify. */
export function messageJson(msg: object): string {
  return JSON_TEXT.get(msg) ?? JSON.stringify(msg);
}

/** The `mounts` message of table `id` from its serialized page; `mounts` and `truncated` parse on first read. */
export function mountsMessage(id: string, page: MountPageJson): MountsMessage {
  const json = `{"type":"mounts","id":${JSON.stringify(id)},${page.body}}`;
  let parsed: MountsMessage | undefined;
  const full = () => (parsed ??= JSON.parse(json) as MountsMessage);
  const msg: MountsMessage = {
    type: 'mounts',
    id,
    get mounts() {
      return full().mounts;
    },
    get truncated() {
      return full().truncated;
    },
  };
  JSON_TEXT.set(msg, json);
  return msg;
}
