import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RingKitError, type SfuStream } from '@ringkit/protocol'
import type { VideoRoomHandle, VideoRoomSubscriberStream } from 'janode/plugins/videoroom'
import { Subscription } from './Subscription.ts'

/** A subscriber handle that keeps its subscription as Janus would, and logs every request. */
function fakeJanus() {
  const log: string[] = []
  const feeds = new Set<number>()
  /** Feeds whose publisher left: Janus dropped their streams and offers nothing by itself. */
  const gone = new Set<number>()
  const streams = (): VideoRoomSubscriberStream[] =>
    [...feeds].flatMap((feed) => [
      { type: 'audio', mid: `a${feed}`, mindex: 0, active: !gone.has(feed), feed_id: feed },
      { type: 'video', mid: `v${feed}`, mindex: 0, active: !gone.has(feed), feed_id: feed },
    ])
  const offer = { type: 'offer' as const, sdp: 'v=0' }
  const handle = {
    async update({
      subscribe = [],
      unsubscribe = [],
    }: {
      subscribe?: { feed: number }[]
      unsubscribe?: { feed: number }[]
    }) {
      log.push(`update +${subscribe.map((s) => s.feed).join(',')} -${unsubscribe.map((s) => s.feed).join(',')}`)
      let changed = subscribe.length > 0
      for (const { feed } of subscribe) feeds.add(feed)
      for (const { feed } of unsubscribe) {
        if (!gone.has(feed)) changed = true
        feeds.delete(feed)
      }
      return changed ? { room: 1, streams: streams(), jsep: offer } : { room: 1 }
    },
    async configure(params: { update?: boolean }) {
      log.push(`configure update=${params.update}`)
      return { room: 1, configured: 'ok', jsep: offer }
    },
    async start() {
      log.push('start')
      return { room: 1, started: 'ok' }
    },
  } as unknown as VideoRoomHandle
  const join = async (subscribed: number[]) => {
    log.push(`join ${subscribed.join(',')}`)
    for (const feed of subscribed) feeds.add(feed)
    return { handle, streams: streams(), jsep: offer }
  }
  return { log, gone, join }
}

function subscription(janus: ReturnType<typeof fakeJanus>) {
  const offers: string[][] = []
  const sub = new Subscription({
    join: janus.join,
    request: async (work) => work(),
    release: async () => undefined,
    accidOf: (feed) => `m${feed}`,
    offer: (_, streams: SfuStream[]) => offers.push(streams.map((s) => `${s.accid} ${s.kind}`)),
  })
  return { sub, offers }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('Subscription', () => {
  it('waits for the answer before the next offer, and sends the changes made meanwhile in one update', async () => {
    const janus = fakeJanus()
    const { sub, offers } = subscription(janus)
    sub.want([1])
    await settle()
    sub.want([1, 2])
    sub.want([1, 2, 3])
    await settle()
    assert.deepEqual(janus.log, ['join 1'])
    assert.equal(offers.length, 1)
    await sub.answer('v=0')
    await settle()
    assert.deepEqual(janus.log, ['join 1', 'start', 'update +2,3 -'])
    assert.deepEqual(offers.at(-1), ['m1 audio', 'm1 video', 'm2 audio', 'm2 video', 'm3 audio', 'm3 video'])
  })

  it('with no feed to receive, makes no handle until one comes', async () => {
    const janus = fakeJanus()
    const { sub, offers } = subscription(janus)
    sub.want([])
    await settle()
    assert.deepEqual([janus.log, offers], [[], []])
    sub.want([7])
    await settle()
    assert.deepEqual(janus.log, ['join 7'])
  })

  it('asks Janus for a new offer when a feed had gone before it was unsubscribed', async () => {
    const janus = fakeJanus()
    const { sub, offers } = subscription(janus)
    sub.want([1, 2])
    await settle()
    await sub.answer('v=0')
    janus.gone.add(2)
    sub.want([1])
    await settle()
    assert.deepEqual(janus.log, ['join 1,2', 'start', 'update + -2', 'configure update=true'])
    assert.deepEqual(offers.at(-1), ['m1 audio', 'm1 video'])
  })

  it('refuses an answer with no offer out, or a second answer to one offer, with INVALID_STATE', async () => {
    const janus = fakeJanus()
    const { sub } = subscription(janus)
    const invalidState = (error: unknown) => error instanceof RingKitError && error.code === 'INVALID_STATE'
    await assert.rejects(sub.answer('v=0'), invalidState)
    await assert.rejects(sub.trickle(null), invalidState)
    sub.want([1])
    await settle()
    await sub.answer('v=0')
    await assert.rejects(sub.answer('v=0'), invalidState)
    assert.deepEqual(janus.log, ['join 1', 'start'])
  })
})
