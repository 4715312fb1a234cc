import WebSocket from 'ws'
import type { ServerTarget } from './support.ts'

interface Frame {
  type: string
  id?: string | null
  name?: string
  result?: unknown
  error?: { code: string; message: string }
}

/** A signaling socket without the SDK: what it sends is exactly what a test wrote. */
export class RawSocket {
  readonly socket: WebSocket
  /** Replies and errors by request id, as they came. */
  readonly answers = new Map<string, Frame>()
  readonly events: string[] = []
  closeCode: number | undefined
  readonly #closed: Promise<void>

  private constructor(socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      if (frame.type === 'event' && frame.name) this.events.push(frame.name)
      else if (typeof frame.id === 'string') this.answers.set(frame.id, frame)
    })
    this.#closed = new Promise((resolve) =>
      socket.once('close', (code) => {
        this.closeCode = code
        resolve()
      }),
    )
  }

  static async open(server: Pick<ServerTarget, 'url'>): Promise<RawSocket> {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new RawSocket(socket)
  }

  send(frame: object): void {
    this.socket.send(JSON.stringify(frame))
  }

  get open(): boolean {
    return this.closeCode === undefined
  }

  /** The answer to request `id`, or undefined when the socket closed first or `timeoutMs` passed. */
  async answer(id: string, timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    while (!this.answers.has(id) && this.open && Date.now() < deadline) {
      await Promise.race([this.#closed, new Promise((resolve) => setTimeout(resolve, 5))])
    }
    return this.answers.get(id)
  }

  /** The socket's close code, once the server closed it. */
  async closed(timeoutMs = 5000): Promise<number | undefined> {
    await Promise.race([this.#closed, new Promise((resolve) => setTimeout(resolve, timeoutMs))])
    return this.closeCode
  }

  close(): void {
    this.socket.terminate()
  }
}
