import { isIP, isIPv6 } from 'node:net'

/**
 * WebSocket connections per client IP on this node. Not shared across nodes: what the cap
 * protects (sockets, memory) is each node's own, and a client spread over nodes is capped on each.
 */
export class IpConnections {
  readonly #open = new Map<string, number>()
  readonly #cap: number

  constructor(cap: number) {
    this.#cap = cap
  }

  /** Counts one more connection from `ip`; false (and not counted) past the cap. */
  open(ip: string): boolean {
    const count = this.#open.get(ip) ?? 0
    if (count >= this.#cap) return false
    this.#open.set(ip, count + 1)
    return true
  }

  close(ip: string): void {
    const count = (this.#open.get(ip) ?? 0) - 1
    if (count > 0) this.#open.set(ip, count)
    else this.#open.delete(ip)
  }
}

/**
 * Whom a connection counts against: the socket's peer, or behind one of `trustedProxies`, the
 * nearest X-Forwarded-For address that is not itself a trusted proxy (the ones further left are
 * the client's to write). IPv6 clients count by /64, since one host commonly holds a whole /64.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trustedProxies: ReadonlySet<string>,
): string {
  let ip = normalize(peer ?? '')
  if (trustedProxies.has(ip) && forwardedFor !== undefined) {
    const hops = [forwardedFor]
      .flat()
      .join(',')
      .split(',')
      .map((hop) => normalize(hop.trim()))
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!
      if (isIP(hop) === 0) break
      ip = hop
      if (!trustedProxies.has(hop)) break
    }
  }
  return isIPv6(ip) ? prefix64(ip) : ip
}

/** The proxies to believe, written as `clientAddress` compares them. */
export function proxySet(addresses: readonly string[]): ReadonlySet<string> {
  return new Set(addresses.map((address) => normalize(address.trim())))
}

function normalize(ip: string): string {
  const lower = ip.toLowerCase()
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice('::ffff:'.length) : lower
}

function prefix64(ip: string): string {
  const [head = '', tail = ''] = ip.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`
}
