import type { DemoHistoryPage, DemoTokenResponse, DemoUser } from '../server/types.ts'

export type { DemoHistoryPage, DemoHistoryRecord, DemoUser } from '../server/types.ts'

/** An answer of the demo backend that was not a success, with its stable code. */
export class DemoApiError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/demo/api${path}`, {
    method,
    credentials: 'same-origin',
    // Every POST is JSON, body or not: the backend refuses any other, as a cross-site form could send it.
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }
  if (!response.ok) {
    throw new DemoApiError(json.error?.code ?? `HTTP_${response.status}`, json.error?.message ?? response.statusText)
  }
  return json as T
}

/** The demo backend: who I am, who else is here, tokens for RingKit, and my call history. */
export const api = {
  me: () => request<{ user: DemoUser }>('GET', '/me').then((r) => r.user),
  signUp: (body: { username: string; displayName: string; password: string }) =>
    request<{ user: DemoUser }>('POST', '/signup', body).then((r) => r.user),
  logIn: (body: { username: string; password: string }) =>
    request<{ user: DemoUser }>('POST', '/login', body).then((r) => r.user),
  logOut: () => request<{ ok: boolean }>('POST', '/logout'),
  search: (q: string) =>
    request<{ users: DemoUser[] }>('GET', `/users?q=${encodeURIComponent(q)}`).then((r) => r.users),
  userByAccid: (accid: string) => request<DemoUser>('GET', `/users/by-accid/${encodeURIComponent(accid)}`),
  ringkitToken: () => request<DemoTokenResponse>('POST', '/ringkit-token'),
  history: (cursor?: string) =>
    request<DemoHistoryPage>('GET', `/history${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`),
}
