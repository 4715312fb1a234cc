import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { redisPresence } from '../src/bus/redis-presence.ts'
import { SessionLog, type LoggedSession } from '../src/bus/session-log.ts'
import { redisHop, redisScope, testRedis } from './redis.ts'
import { waitFor } from './support.ts'

const redis = await testRedis()
const scope = redisScope(redis.url)
after(() => scope.drop())

const session: LoggedSession = { appKey: 'app', accid: 'carol', deviceId: 'carol-1', sessionId: 'session-1' }

/** One node's view of the logs: its own connection, as a node would have. */
function nodeLog(nodeId: string, url = redis.url, position: () => string | undefined = () => undefined) {
  return new SessionLog({
    link: scope.open(url === redis.url ? {} : { url, commandTimeoutMs: 300 }),
    nodeId,
    lifetimeMs: 60_000,
    maxFrames: 8,
    position,
    log: pino({ level: 'silent' }),
  })
}

const frame = (seq: number) => `{"type":"event","seq":${seq},"name":"test","data":{}}`

describe('session logs in Redis', { skip: redis.skip }, () => {
  it('a takeover gets every frame after the ack and moves presence; the old owner is fenced off and told who took it', async () => {
    const [a, b] = [nodeLog('node-a'), nodeLog('node-b')]
    const fenced: [string, string][] = []
    const onA = a.journal(session, (_s, owner, text) => fenced.push([owner, text]))
    for (const seq of [1, 2, 3]) onA.framed(seq, frame(seq))
    onA.acked(1)
    await onA.written()

    assert.equal(
      await b.takeOver(session, 'node-a', 0, undefined, false),
      undefined,
      'frame 1 was trimmed: no proof of continuity',
    )
    assert.equal(
      await b.takeOver({ ...session, deviceId: 'other' }, 'node-a', 1, undefined, false),
      undefined,
      'not this device\u2019s',
    )
    const taken = await b.takeOver(session, 'node-a', 1, undefined, false)
    assert.deepEqual(taken, {
      added: true,
      previousOwner: 'node-a',
      lastSeq: 3,
      cursor: undefined,
      frames: [
        { seq: 2, text: frame(2) },
        { seq: 3, text: frame(3) },
      ],
    })
    const presence = redisPresence(scope.open(), { lifetimeMs: 60_000 })
    assert.deepEqual(await presence.devices('app', 'carol'), [{ deviceId: 'carol-1', node: 'node-b' }])

    // Node A numbers frame 4 after the takeover: refused by the log, handed back to be carried on.
    onA.framed(4, frame(4))
    await waitFor('A is fenced off', () => fenced.length === 1)
    assert.deepEqual(fenced, [['node-b', frame(4)]])
    onA.framed(5, frame(5))
    await waitFor('later frames go straight on', () => fenced.length === 2)

    // Node B numbers on from 3; a third node resuming after 3 gets B's frames.
    const onB = b.journal(session, () => assert.fail('B owns the session'))
    onB.framed(4, frame(40))
    await onB.written()
    const third = await nodeLog('node-c').takeOver(session, 'node-b', 3, undefined, false)
    assert.ok(third && third !== 'changed')
    assert.deepEqual(third.frames, [{ seq: 4, text: frame(40) }])
    assert.equal(third.previousOwner, 'node-b')
  })

  it('keeps the inbox cursor of each frame\u2019s numbering; a takeover from a dead owner needs one, and one that names an owner gone by is told', async () => {
    let position: string | undefined
    const a = nodeLog('node-a', redis.url, () => position)
    const kept = { ...session, sessionId: 'cursor' }
    const onA = a.journal(kept, () => assert.fail('nobody took it'))
    onA.framed(1, frame(1))
    position = '5-0'
    onA.framed(2, frame(2))
    // Read when the frame is numbered, not when its write lands.
    position = '9-0'
    await onA.written()
    const b = nodeLog('node-b')
    assert.equal(await b.takeOver(kept, 'node-x', 0, undefined, true), 'changed', 'owned by node-a, not node-x')
    const taken = await b.takeOver(kept, 'node-a', 0, undefined, true)
    assert.ok(taken && taken !== 'changed')
    assert.equal(taken.cursor, '5-0')
    assert.equal(taken.frames.length, 2)
    // The cursor was into node-a's inbox: node-b's own first frame gives the next one.
    assert.equal(await nodeLog('node-c').takeOver(kept, 'node-b', 2, undefined, true), undefined, 'no cursor yet')
    const uncounted = { ...session, sessionId: 'no-cursor' }
    position = undefined
    const onUncounted = a.journal(uncounted, () => assert.fail('nobody took it'))
    onUncounted.framed(1, frame(1))
    await onUncounted.written()
    assert.equal(await b.takeOver(uncounted, 'node-a', 1, undefined, true), undefined, 'the inbox was never read')
  })

  it('a frame that does not follow the last one (a write lost) or one past the bound drops the log, and so does the end of the session', async () => {
    const a = nodeLog('node-a')
    const gap = { ...session, sessionId: 'gap' }
    const onA = a.journal(gap, () => assert.fail('nobody took it'))
    onA.framed(1, frame(1))
    onA.framed(3, frame(3))
    await onA.written()
    assert.equal(await nodeLog('node-b').takeOver(gap, 'node-a', 0, undefined, false), undefined)

    const full = { ...session, sessionId: 'full' }
    const onFull = a.journal(full, () => assert.fail('nobody took it'))
    for (let seq = 1; seq <= 9; seq++) onFull.framed(seq, frame(seq))
    await onFull.written()
    assert.equal(await nodeLog('node-b').takeOver(full, 'node-a', 0, undefined, false), undefined, 'more than 8 frames')

    const ended = { ...session, sessionId: 'ended' }
    const onEnded = a.journal(ended, () => assert.fail('nobody took it'))
    onEnded.framed(1, frame(1))
    await onEnded.written()
    assert.ok(await nodeLog('node-b').takeOver(ended, 'node-a', 1, undefined, false), 'resumable while it lives')
    const again = { ...session, sessionId: 'ended-2' }
    const onAgain = a.journal(again, () => assert.fail('nobody took it'))
    onAgain.framed(1, frame(1))
    onAgain.close(true)
    await onAgain.written()
    assert.equal(
      await nodeLog('node-b').takeOver(again, 'node-a', 1, undefined, false),
      undefined,
      'gone with its session',
    )
  })

  it('a write lost while Redis was out of reach takes the log away once Redis is back, even with no frame after it', async () => {
    const hop = await redisHop(new URL(redis.url))
    try {
      const a = nodeLog('node-a', hop.url)
      const away = { ...session, sessionId: 'away' }
      const onA = a.journal(away, () => assert.fail('nobody took it'))
      onA.framed(1, frame(1))
      await onA.written()
      assert.ok(await nodeLog('node-b').takeOver(away, 'node-a', 0, undefined, false), 'resumable before the outage')
      const stillA = a.journal({ ...session, sessionId: 'away-2' }, () => assert.fail('nobody took it'))
      stillA.framed(1, frame(1))
      await stillA.written()
      await hop.cut()
      stillA.framed(2, frame(2))
      await stillA.written()
      await hop.restore()
      // Frame 2 never reached the log, and nothing follows it: a heartbeat once the link is back removes it.
      const logged = async () => (await scope.keys()).some((key) => key.includes(':away-2'))
      assert.ok(await logged())
      const deadline = Date.now() + 5000
      while ((await logged()) && Date.now() < deadline) {
        assert.equal(stillA.beat(), false, 'a log missing a write is not kept alive')
        await stillA.written()
        await sleep(100)
      }
      assert.equal(await logged(), false, 'the log went')
      assert.equal(
        await nodeLog('node-b').takeOver({ ...session, sessionId: 'away-2' }, 'node-a', 1, undefined, false),
        undefined,
      )
    } finally {
      await hop.cut()
    }
  })
})
