// A `mounts` message (and a REST mount table) whose JSON text was built off the main thread (see mountPageJson). The event stream sends
// that text as it is; only a listener on this thread that reads `mounts` (a lesson's checks, tests) pays for
// parsing it, once.
import type { MountTable, Namespace } from '../../shared/api.js';
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

/** A REST mount table whose page was serialized on the scan worker: `{"namespace":…,<body>}` is its JSON. */
export interface MountTableJson {
  namespace: Namespace;
  /** `"mounts":[…]` and `,"truncated":{…}` when the page is not the whole table (MountPageJson.body) */
  body: string;
}

/** The table's JSON text, to send as it is. */
export function mountTableText(t: MountTableJson): string {
  return `{"namespace":${JSON.stringify(t.namespace)},${t.body}}`;
}

/** The table as an object, for callers on this thread that read it. */
export function mountTableOf(t: MountTableJson): MountTable {
  return { namespace: t.namespace, ...(JSON.parse(`{${t.body}}`) as Omit<MountTable, 'namespace'>) };
}
