import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { startTestServer, type TestServer } from './support.ts'

const HEARTBEAT_MS = 1000
let server: TestServer
before(async () => {
  server = await startTestServer({ heartbeatMs: HEARTBEAT_MS })
})
after(() => server.close())

/** A socket that answers each ping itself, `delayMs` late, or never. */
async function slowPonger(
  delayMs: number | 'never',
): Promise<{ ws: WebSocket; pings: () => number; closed: Promise<number> }> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`, { autoPong: false })
  let pings = 0
  ws.on('ping', (data: Buffer) => {
    pings++
    if (delayMs !== 'never') setTimeout(() => ws.readyState === ws.OPEN && ws.pong(data), delayMs)
  })
  const closed = new Promise<number>((resolve) => ws.once('close', resolve))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return { ws, pings: () => pings, closed }
}

describe('heartbeat', () => {
  it('pings each socket once a heartbeat, however few there are, and keeps one whose pong is slow but within it', async () => {
    // A pong a third of a beat late: on a mobile link, a second of round trip is not a dead socket.
    const slow = await slowPonger(HEARTBEAT_MS / 3)
    const outcome = await Promise.race([
      slow.closed.then((code) => `closed with ${code}`),
      new Promise((resolve) => setTimeout(resolve, 3.5 * HEARTBEAT_MS, 'open')),
    ])
    assert.equal(outcome, 'open', 'a socket that answers every ping within the beat stays')
    // Once a beat, give or take the tick the round starts on: not twenty times a beat.
    assert.ok(slow.pings() >= 2 && slow.pings() <= 5, `${slow.pings()} pings in 3.5 beats`)
    slow.ws.close()
  })

  it('drops a socket that never answers within two beats', async () => {
    const silent = await slowPonger('never')
    const started = Date.now()
    const code = await silent.closed
    // terminate(): no close frame, so the client sees an abnormal closure.
    assert.equal(code, 1006)
    assert.ok(Date.now() - started <= 2.5 * HEARTBEAT_MS + 1000, `dropped after ${Date.now() - started} ms`)
  })
})
