import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IceServer } from '@ringkit/protocol'
import { PLACEHOLDER_TURN_SECRET } from '../src/auth/turn.ts'
import { startTestServer, tokenFor, type TestServer } from './support.ts'
import { RawSocket } from './raw-socket.ts'

const TURN_SECRET = 'a-test-secret'
const TURN_CALL_SECONDS = 600
let server: TestServer
const sockets: RawSocket[] = []
before(async () => {
  server = await startTestServer({
    ice: { stunUrls: ['stun:stun.example.com'], turnUrls: ['turn:turn.example.com'], turnSecret: TURN_SECRET },
    limits: { turnCallSeconds: TURN_CALL_SECONDS },
  })
})
after(async () => {
  for (const socket of sockets) socket.close()
  await server.close()
})

async function login(accid: string): Promise<{ socket: RawSocket; iceServers: IceServer[] }> {
  const socket = await RawSocket.open(server)
  sockets.push(socket)
  const answer = await socket.request('login', {
    appKey: server.app.appKey,
    accid,
    token: await tokenFor(server, accid),
    deviceId: `${accid}-1`,
  })
  assert.equal(answer.type, 'reply', JSON.stringify(answer.error))
  return { socket, iceServers: answer.result?.iceServers as IceServer[] }
}

/** The TURN entry's expiry (Unix seconds) for `accid`, after checking its password is RingKit's HMAC. */
function turnExpiry(iceServers: unknown, accid: string): number {
  const turn = (iceServers as IceServer[]).find((s) => s.username !== undefined)
  assert.ok(turn?.username && turn.credential, `TURN credentials in ${JSON.stringify(iceServers)}`)
  const [expiry, name] = turn.username.split(':')
  assert.equal(name, accid)
  assert.equal(turn.credential, createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'))
  return Number(expiry)
}

const nowSeconds = () => Date.now() / 1000

describe('TURN credentials', () => {
  it('a login gets STUN and no TURN credentials', async () => {
    const { iceServers } = await login('mallory')
    assert.deepEqual(iceServers, [{ urls: ['stun:stun.example.com'] }])
  })

  it("a call's parties get them for the ringing plus the call allowance: in the call reply, the invitation and the accept", async () => {
    const alice = await login('alice')
    const bob = await login('bob')
    const ringSeconds = 20
    const placed = await alice.socket.request('call', { to: ['bob'], callType: 'audio', timeoutMs: ringSeconds * 1000 })
    assert.equal(placed.type, 'reply', JSON.stringify(placed.error))
    const callerExpiry = turnExpiry(placed.result?.iceServers, 'alice')
    assert.ok(Math.abs(callerExpiry - (nowSeconds() + ringSeconds + TURN_CALL_SECONDS)) < 3, `${callerExpiry}`)

    const invited = await bob.socket.event('invited')
    const calleeExpiry = turnExpiry(invited.data?.iceServers, 'bob')
    assert.ok(Math.abs(calleeExpiry - (nowSeconds() + ringSeconds + TURN_CALL_SECONDS)) < 3, `${calleeExpiry}`)

    const accepted = await bob.socket.request('accept', { callId: placed.result?.callId })
    assert.equal(accepted.type, 'reply', JSON.stringify(accepted.error))
    const acceptExpiry = turnExpiry(accepted.result?.iceServers, 'bob')
    assert.ok(Math.abs(acceptExpiry - (nowSeconds() + TURN_CALL_SECONDS)) < 3, `${acceptExpiry}`)

    // An account outside the call gets nothing of it, credentials included.
    const mallory = await login('mallory2')
    const intruding = await mallory.socket.request('accept', { callId: placed.result?.callId })
    assert.equal(intruding.error?.code, 'NOT_IN_CALL')
    assert.equal(JSON.stringify(mallory.socket.frames).includes('"credential"'), false)
    await alice.socket.request('hangup', { callId: placed.result?.callId })
    const record = await bob.socket.event('record')
    assert.equal(record.data?.status, 1)
  })

  it("the server refuses to start with the shipped coturn config's placeholder secret", async () => {
    const shipped = readFileSync(new URL('../coturn/turnserver.conf', import.meta.url), 'utf8')
    assert.ok(
      shipped.includes(`\nstatic-auth-secret=${PLACEHOLDER_TURN_SECRET}\n`),
      'the config carries that placeholder',
    )
    const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-test-'))
    try {
      await assert.rejects(
        startTestServer({ dataDir, ice: { turnUrls: ['turn:turn.example.com'], turnSecret: PLACEHOLDER_TURN_SECRET } }),
        /placeholder/,
      )
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
