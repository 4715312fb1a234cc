import type { WebSocket } from 'ws'

/** A heartbeat period is cut in this many ticks, each pinging its share of the connections. */
const HEARTBEAT_SLICES = 20

/** A connection as the heartbeat sees it: `alive` is set again by whatever it hears from the socket. */
export interface Beating {
  socket: WebSocket
  alive: boolean
}

/**
 * Pings one slice of the connections per tick, so each is pinged once a heartbeat: pinging ten
 * thousand sockets at once would stall every call on this node for tens of milliseconds. A socket
 * that answered nothing since the last ping is terminated.
 */
export class SocketHeartbeat {
  readonly #connections: ReadonlySet<Beating>
  readonly #timer: NodeJS.Timeout
  #queue: Beating[] = []
  #tick = 0
  #slice = 0

  constructor(connections: ReadonlySet<Beating>, heartbeatMs: number) {
    this.#connections = connections
    this.#timer = setInterval(() => this.#beat(), heartbeatMs / HEARTBEAT_SLICES)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  #beat(): void {
    // A round is one heartbeat, whatever the count: refilled early, a queue of a few sockets would
    // ping each every tick and drop any whose pong took longer than a twentieth of a beat.
    if (this.#tick === 0) {
      this.#queue = [...this.#connections]
      this.#slice = Math.ceil(this.#queue.length / HEARTBEAT_SLICES)
    }
    this.#tick = (this.#tick + 1) % HEARTBEAT_SLICES
    for (const conn of this.#queue.splice(0, this.#slice)) {
      if (!this.#connections.has(conn)) continue
      if (!conn.alive) {
        conn.socket.terminate()
        continue
      }
      conn.alive = false
      conn.socket.ping()
    }
  }
}
