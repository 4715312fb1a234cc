import { SESSION_COOKIE } from '../src/server/index.ts'

export interface Answer {
  status: number
  // Response bodies are whatever the server sent; each test asserts on the fields it needs.
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers
}

/** One browser: keeps the session cookie the demo sets, as a browser would. */
export class Browser {
  cookie: string | undefined
  readonly #base: string

  constructor(base: string) {
    this.#base = base
  }

  async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(this.#base + path, {
      method,
      headers: {
        ...(this.cookie ? { cookie: `${SESSION_COOKIE}=${this.cookie}` } : {}),
        // As the demo's page sends them: every POST is JSON, body or not.
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const setCookie = res.headers.get('set-cookie')
    const value = setCookie?.match(new RegExp(`^${SESSION_COOKIE}=([^;]*)`))?.[1]
    if (value !== undefined) this.cookie = value || undefined
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers }
  }

  async signup(username: string, displayName: string, password = 'correct horse'): Promise<Answer> {
    return this.send('POST', '/demo/api/signup', { username, displayName, password })
  }
}

export function outcome(answer: Answer): [number, string | undefined] {
  return [answer.status, answer.body?.error?.code]
}
