// The read-only viewer's address: `/?session=ID&view=TOKEN` (what POST /api/sessions/:id/share answers).
export interface ShareParams {
  sessionId: string;
  token: string;
}

/** Session ids and share tokens are base64url (server/terminals/registry.ts); anything else is not a link of ours. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const VIEW_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function parseShareParams(search: string): ShareParams | null {
  const q = new URLSearchParams(search);
  const sessionId = q.get('session');
  const token = q.get('view');
  if (sessionId === null && token === null) return null;
  // A half or malformed link still opens the viewer (which says it cannot connect), never the owner's console.
  return {
    sessionId: sessionId !== null && SESSION_ID.test(sessionId) ? sessionId : '',
    token: token !== null && VIEW_TOKEN.test(token) ? token : '',
  };
}
