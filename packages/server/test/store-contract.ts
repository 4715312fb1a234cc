import { it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallRecord } from '@ringkit/protocol'
import type { CallState } from '../src/calls/types.ts'
import type { Store } from '../src/store/types.ts'

/** Opens stores for one test: `open` an empty one, `again` one more on the same data (another connection). */
export interface StoreUnderTest {
  open(): Promise<Store>
  again(): Promise<Store>
}

/**
 * What every store must do, run against each of them (SQLite and PostgreSQL) by their suites.
 * `fresh` makes the stores of one test; the stores are closed here, the data removed by the caller.
 */
export function storeContract(fresh: () => StoreUnderTest): void {
  const opened: Store[] = []
  const withStore = (name: string, body: (store: Store, t: StoreUnderTest) => Promise<void>) =>
    it(name, async () => {
      const t = fresh()
      const tracked: StoreUnderTest = {
        open: async () => track(await t.open()),
        again: async () => track(await t.again()),
      }
      const track = (store: Store) => (opened.push(store), store)
      try {
        await body(await tracked.open(), tracked)
      } finally {
        await Promise.all(opened.splice(0).map((store) => store.close()))
      }
    })

  withStore('apps: putApp creates, then replaces secret, name and multiDevice but keeps createdAt', async (store) => {
    assert.equal(await store.getApp('k1'), undefined)
    await store.putApp({ appKey: 'k1', appSecret: 's1', name: 'one', multiDevice: true, createdAt: 1_700_000_000_123 })
    assert.deepEqual(await store.getApp('k1'), {
      appKey: 'k1',
      appSecret: 's1',
      name: 'one',
      multiDevice: true,
      createdAt: 1_700_000_000_123,
    })
    await store.putApp({ appKey: 'k1', appSecret: 's2', name: 'uno', multiDevice: false, createdAt: 5 })
    assert.deepEqual(await store.getApp('k1'), {
      appKey: 'k1',
      appSecret: 's2',
      name: 'uno',
      multiDevice: false,
      createdAt: 1_700_000_000_123,
    })
  })

  withStore('settings: missing is undefined, a put replaces', async (store) => {
    assert.equal(await store.getSetting('defaultAppKey'), undefined)
    await store.putSetting('defaultAppKey', 'a')
    await store.putSetting('defaultAppKey', 'b')
    await store.putSetting('other', '')
    assert.equal(await store.getSetting('defaultAppKey'), 'b')
    assert.equal(await store.getSetting('other'), '')
  })

  withStore('accounts: create once per app, update what is given, read, and know who exists', async (store) => {
    const made = await store.createAccount('app', { accid: 'alice', name: 'Alice' }, 1000)
    assert.deepEqual(made, {
      accid: 'alice',
      name: 'Alice',
      avatar: '',
      createdAt: 1000,
      updatedAt: 1000,
      tokensValidAfter: 0,
    })
    assert.equal(await store.createAccount('app', { accid: 'alice', name: 'Other' }, 2000), undefined, 'duplicate')
    assert.equal((await store.getAccount('app', 'alice'))?.name, 'Alice', 'the duplicate changed nothing')
    assert.ok(await store.createAccount('other-app', { accid: 'alice' }, 3000), 'the same accid in another app')

    const updated = await store.updateAccount('app', 'alice', { avatar: 'https://a/1.png' }, 4000)
    assert.deepEqual(updated, {
      accid: 'alice',
      name: 'Alice',
      avatar: 'https://a/1.png',
      createdAt: 1000,
      updatedAt: 4000,
      tokensValidAfter: 0,
    })
    assert.equal((await store.updateAccount('app', 'alice', { name: 'Al' }, 5000))?.avatar, 'https://a/1.png')
    assert.equal(await store.updateAccount('app', 'nobody', { name: 'x' }, 5000), undefined)
    assert.equal(await store.getAccount('app', 'nobody'), undefined)

    assert.equal(await store.hasAccount('app', 'alice'), true)
    assert.equal(await store.hasAccount('app', 'alice'), true, 'twice: the cached answer')
    assert.equal(await store.hasAccount('app', 'bob'), false)
    assert.equal(await store.hasAccount('third-app', 'alice'), false)
    await store.createAccount('app', { accid: 'bob' }, 6000)
    assert.equal(await store.hasAccount('app', 'bob'), true, 'a "no" is not remembered')
  })

  withStore('revokeTokens moves tokensValidAfter and updatedAt, and is false for no account', async (store) => {
    await store.createAccount('app', { accid: 'alice' }, 1000)
    assert.equal(await store.revokeTokens('app', 'alice', 9_000_000_000_001), true)
    const account = await store.getAccount('app', 'alice')
    assert.equal(account?.tokensValidAfter, 9_000_000_000_001, 'epoch ms beyond 32 bits come back whole')
    assert.equal(account?.updatedAt, 9_000_000_000_001)
    assert.equal(await store.revokeTokens('app', 'nobody', 2000), false)
    assert.equal(await store.revokeTokens('other-app', 'alice', 2000), false)
  })

  withStore('a journaled call is listed with its latest state until finishCall ends it', async (store) => {
    const call = callState('c1', 'app', 1000)
    await store.journalCall(call)
    const later: CallState = { ...call, members: [{ accid: 'bob', status: 'joined', joinedAt: 1500, leftAt: 1600 }] }
    await store.journalCall(later)
    await store.journalCall(callState('c2', 'app', 1100))
    const listed = (await store.listJournaledCalls()).sort((a, b) => a.callId.localeCompare(b.callId))
    assert.deepEqual(listed, [later, callState('c2', 'app', 1100)])

    assert.equal(await store.finishCall('app', record('c1', 2000)), true)
    assert.equal(await store.finishCall('app', record('c1', 3000)), false, 'a record is written once')
    assert.deepEqual(await store.getRecord('app', 'c1'), record('c1', 2000), 'the first one stays')
    assert.deepEqual(
      (await store.listJournaledCalls()).map((s) => s.callId),
      ['c2'],
    )
    // A finish that finds the record already there still ends the journal row.
    await store.journalCall(call)
    assert.equal(await store.finishCall('app', record('c1', 4000)), false)
    assert.deepEqual(
      (await store.listJournaledCalls()).map((s) => s.callId),
      ['c2'],
    )
  })

  withStore('two finishCall of one record at once, on two connections: exactly one writes', async (store, t) => {
    const other = await t.again()
    for (let round = 0; round < 20; round++) {
      const callId = `race-${round}`
      await store.journalCall(callState(callId, 'app', 1000 + round))
      const results = await Promise.all([
        store.finishCall('app', record(callId, 2000 + round)),
        other.finishCall('app', record(callId, 2000 + round)),
      ])
      assert.deepEqual(results.filter(Boolean).length, 1, `round ${round}: ${results.join(', ')}`)
    }
    assert.deepEqual(await store.listJournaledCalls(), [])
    const page = await store.listRecords('app', 'alice', { limit: 100 })
    assert.equal(page.records.length, 20, 'each record listed once')
  })

  withStore('listRecords: newest first, every party, pages that cover all exactly once', async (store) => {
    // Ties on endedAt order by callId, bytewise.
    const ends: [string, number][] = [
      ['a', 100],
      ['b', 300],
      ['c', 200],
      ['d', 300],
      ['B', 300],
      ['e', 400],
      ['f', 50],
    ]
    for (const [id, endedAt] of ends) await store.finishCall('app', record(id, endedAt))
    await store.finishCall('app', record('g', 500, { caller: 'carol', callees: ['bob'] }))
    await store.finishCall('other-app', record('h', 600))

    const all: string[] = []
    let cursor: string | undefined
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.listRecords('app', 'alice', { limit: 3, ...(cursor ? { cursor } : {}) })
      all.push(...page.records.map((r) => r.callId))
      cursor = page.nextCursor
      if (!cursor) break
      assert.equal(page.records.length, 3, 'a page with a next cursor is full')
    }
    assert.deepEqual(all, ['e', 'd', 'b', 'B', 'c', 'a', 'f'])
    const exact = await store.listRecords('app', 'alice', { limit: 7 })
    assert.equal(exact.records.length, 7)
    assert.equal(exact.nextCursor, undefined, 'no cursor when nothing follows')
    assert.deepEqual(
      (await store.listRecords('app', 'bob', { limit: 10 })).records.map((r) => r.callId),
      ['g', 'e', 'd', 'b', 'B', 'c', 'a', 'f'],
      'a callee sees the calls too',
    )
    assert.deepEqual(
      (await store.listRecords('app', 'carol', { limit: 10 })).records.map((r) => r.callId),
      ['g'],
    )
    assert.deepEqual((await store.listRecords('app', 'nobody', { limit: 10 })).records, [])
    await assert.rejects(store.listRecords('app', 'alice', { limit: 3, cursor: 'bm90IGEgY3Vyc29y' }), {
      code: 'INVALID_PARAMS',
    })
  })

  withStore('a record is kept whole and read only within its app', async (store) => {
    const full = record('r1', 9_000_000_000_000, {
      connectedAt: 8_999_999_990_000,
      attachment: { note: 'hé \u0000 "quoted"', n: [1, 2.5] },
    })
    await store.finishCall('app-a', full)
    assert.deepEqual(await store.getRecord('app-a', 'r1'), full)
    assert.equal(await store.getRecord('app-b', 'r1'), undefined)
    assert.equal(await store.getRecord('app-a', 'nope'), undefined)
    assert.deepEqual((await store.listRecords('app-b', 'alice', { limit: 10 })).records, [])
  })

  withStore('what one store wrote another store on the same data reads', async (store, t) => {
    await store.putApp({ appKey: 'k', appSecret: 's', name: 'n', multiDevice: true, createdAt: 1 })
    await store.createAccount('k', { accid: 'alice' }, 1)
    await store.journalCall(callState('j', 'k', 1))
    const other = await t.again()
    assert.equal((await other.getApp('k'))?.appSecret, 's')
    assert.equal(await other.hasAccount('k', 'alice'), true)
    assert.deepEqual(
      (await other.listJournaledCalls()).map((s) => s.callId),
      ['j'],
    )
  })
}

export function callState(callId: string, appKey: string, createdAt: number): CallState {
  return {
    phase: 'ringing',
    callId,
    appKey,
    type: 'video',
    caller: { accid: 'alice', deviceId: 'phone' },
    callees: ['bob'],
    isGroup: false,
    createdAt,
    expiresAt: createdAt + 30_000,
    members: [{ accid: 'bob', status: 'ringing' }],
    media: 'p2p',
  }
}

export function record(callId: string, endedAt: number, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    callId,
    type: 'audio',
    caller: 'alice',
    callees: ['bob'],
    isGroup: false,
    status: 2,
    endReason: 'canceled',
    startedAt: endedAt - 10,
    endedAt,
    durationSeconds: 0,
    members: [{ accid: 'bob', status: 'missed' }],
    ...extra,
  }
}
