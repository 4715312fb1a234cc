import { RingKitError } from '@ringkit/protocol'

const SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:'])

/**
 * The servers a device may use, in the order given. The device stays on one until it fails it (a
 * refused connection, a lost one, a server that is draining), then moves on to the next, round robin.
 * Behind a load balancer the list is one URL and moving on is connecting again.
 */
export class ServerList {
  readonly #signalUrls: readonly string[]
  #index = 0

  /** Throws INVALID_PARAMS for an empty list or a URL that is not http(s) (or ws(s)). */
  constructor(server: string | readonly string[]) {
    const urls: readonly unknown[] = typeof server === 'string' ? [server] : Array.isArray(server) ? server : []
    if (urls.length === 0) throw new RingKitError('INVALID_PARAMS', 'server: give at least one server URL')
    this.#signalUrls = urls.map((url, i) => signalUrl(url, typeof server === 'string' ? 'server' : `server[${i}]`))
  }

  get size(): number {
    return this.#signalUrls.length
  }

  /** The signaling WebSocket URL of the server in use. */
  get signalUrl(): string {
    return this.#signalUrls[this.#index]!
  }

  /** The HTTP base URL of the server in use (`wss://h/base/v1/signal` → `https://h/base`). */
  get httpUrl(): string {
    const url = new URL(this.signalUrl)
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
    return url.href.replace(/\/v1\/signal$/, '')
  }

  /** Moves on to the next server; with one, stays on it. */
  next(): void {
    this.#index = (this.#index + 1) % this.#signalUrls.length
  }
}

/** `http://host:port/base` → `ws://host:port/base/v1/signal`; a path prefix (a proxy's) is kept. */
function signalUrl(url: unknown, where: string): string {
  let parsed: URL | undefined
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined
  } catch {
    parsed = undefined
  }
  if (!parsed || !SCHEMES.has(parsed.protocol)) {
    const shown = JSON.stringify(url)?.slice(0, 80) ?? String(url)
    throw new RingKitError('INVALID_PARAMS', `${where}: expected an http(s) URL such as http://host:3000, got ${shown}`)
  }
  const scheme = parsed.protocol === 'https:' ? 'wss:' : parsed.protocol === 'http:' ? 'ws:' : parsed.protocol
  return `${scheme}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}/v1/signal`
}
