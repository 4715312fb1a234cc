import { createHash, createHmac, randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'

/**
 * Just enough of a TURN client (RFC 8656) over UDP to test a coturn's policy: Allocate with
 * long-term credentials, then CreatePermission. A CreatePermission sends nothing to the peer, so
 * asking for a permission to any address makes no traffic leave the TURN server.
 */
const MAGIC_COOKIE = 0x2112a442
const ALLOCATE = 0x0003
const CREATE_PERMISSION = 0x0008
const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  XOR_PEER_ADDRESS: 0x0012,
  REALM: 0x0014,
  NONCE: 0x0015,
  REQUESTED_TRANSPORT: 0x0019,
} as const
const UDP = 17

export interface TurnAnswer {
  /** 200 for a success response, else the ERROR-CODE's number (401, 403, …). */
  status: number
  reason: string
}

export class TurnClient {
  readonly #socket: Socket
  readonly #host: string
  readonly #port: number
  #username = ''
  #key = Buffer.alloc(0)
  #realm = ''
  #nonce = ''

  private constructor(socket: Socket, host: string, port: number) {
    this.#socket = socket
    this.#host = host
    this.#port = port
  }

  static async open(host: string, port: number): Promise<TurnClient> {
    const socket = createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    return new TurnClient(socket, host, port)
  }

  /** Allocates a UDP relay with TURN REST credentials, answering the server's 401 challenge once. */
  async allocate(username: string, password: string): Promise<TurnAnswer> {
    const transport = attribute(ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP, 0, 0, 0]))
    const challenge = await this.#request(ALLOCATE, [transport], false)
    if (challenge.status !== 401) return challenge
    this.#username = username
    this.#realm = challenge.attributes.get(ATTR.REALM)?.toString('utf8') ?? ''
    this.#nonce = challenge.attributes.get(ATTR.NONCE)?.toString('utf8') ?? ''
    this.#key = createHash('md5').update(`${username}:${this.#realm}:${password}`).digest()
    return this.#request(ALLOCATE, [transport], true)
  }

  /** Asks the relay to accept traffic from `ipv4`; nothing is sent to that address. */
  async createPermission(ipv4: string): Promise<TurnAnswer> {
    return this.#request(CREATE_PERMISSION, [attribute(ATTR.XOR_PEER_ADDRESS, xorAddress(ipv4, 9))], true)
  }

  close(): void {
    this.#socket.close()
  }

  async #request(
    method: number,
    attributes: Buffer[],
    signed: boolean,
  ): Promise<TurnAnswer & { attributes: Map<number, Buffer> }> {
    const id = randomBytes(12)
    const auth = signed
      ? [
          attribute(ATTR.USERNAME, Buffer.from(this.#username)),
          attribute(ATTR.REALM, Buffer.from(this.#realm)),
          attribute(ATTR.NONCE, Buffer.from(this.#nonce)),
        ]
      : []
    let message = encode(method, id, [...attributes, ...auth])
    if (signed) message = withIntegrity(message, this.#key)
    return this.#exchange(message, id)
  }

  #exchange(message: Buffer, id: Buffer): Promise<TurnAnswer & { attributes: Map<number, Buffer> }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#socket.off('message', onMessage)
        reject(new Error('no answer from the TURN server within 3 s'))
      }, 3000)
      const onMessage = (data: Buffer) => {
        if (data.length < 20 || !data.subarray(8, 20).equals(id)) return
        clearTimeout(timer)
        this.#socket.off('message', onMessage)
        resolve(decode(data))
      }
      this.#socket.on('message', onMessage)
      this.#socket.send(message, this.#port, this.#host)
    })
  }
}

function attribute(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt16BE(type, 0)
  header.writeUInt16BE(value.length, 2)
  const padding = Buffer.alloc((4 - (value.length % 4)) % 4)
  return Buffer.concat([header, value, padding])
}

function encode(type: number, id: Buffer, attributes: Buffer[]): Buffer {
  const body = Buffer.concat(attributes)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(type, 0)
  header.writeUInt16BE(body.length, 2)
  header.writeUInt32BE(MAGIC_COOKIE, 4)
  id.copy(header, 8)
  return Buffer.concat([header, body])
}

/** Appends MESSAGE-INTEGRITY: HMAC-SHA1 over the message with its length already counting the attribute. */
function withIntegrity(message: Buffer, key: Buffer): Buffer {
  const counted = Buffer.from(message)
  counted.writeUInt16BE(message.length - 20 + 24, 2)
  const hmac = createHmac('sha1', key).update(counted).digest()
  return Buffer.concat([counted, attribute(ATTR.MESSAGE_INTEGRITY, hmac)])
}

function xorAddress(ipv4: string, port: number): Buffer {
  const value = Buffer.alloc(8)
  value.writeUInt8(0x01, 1)
  value.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2)
  const address = ipv4.split('.').reduce((n, octet) => n * 256 + Number(octet), 0)
  value.writeUInt32BE((address ^ MAGIC_COOKIE) >>> 0, 4)
  return value
}

function decode(data: Buffer): TurnAnswer & { attributes: Map<number, Buffer> } {
  const type = data.readUInt16BE(0)
  const attributes = new Map<number, Buffer>()
  for (let at = 20; at + 4 <= data.length;) {
    const attrType = data.readUInt16BE(at)
    const length = data.readUInt16BE(at + 2)
    attributes.set(attrType, data.subarray(at + 4, at + 4 + length))
    at += 4 + length + ((4 - (length % 4)) % 4)
  }
  // Class bits 0x0110: 0x0100 success response, 0x0110 error response.
  if ((type & 0x0110) === 0x0100) return { status: 200, reason: 'OK', attributes }
  const error = attributes.get(ATTR.ERROR_CODE)
  const status = error ? (error.readUInt8(2) & 0x07) * 100 + error.readUInt8(3) : 0
  return { status, reason: error?.subarray(4).toString('utf8') ?? '', attributes }
}
