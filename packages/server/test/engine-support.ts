import { after } from 'node:test'
import fc from 'fast-check'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DeviceRef, ServerEvent } from '@ringkit/protocol'
import { redisCallStateStore } from '../src/bus/redis-call-state.ts'
import { memoryCallStateStore, type CallStateStore, type EventDelivery, type Scheduler } from '../src/calls/ports.ts'
import type { Audience } from '../src/calls/types.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { redisScope } from './redis.ts'

/** What the engine's property tests share: real stores per run, and a delivery to fake devices. */

export const APP = 'prop-app'

const root = mkdtempSync(join(tmpdir(), 'ringkit-prop-'))
after(() => rmSync(root, { recursive: true, force: true }))

export type Store = ReturnType<typeof openSqliteStore>
export type Calls = CallStateStore
let runs = 0
/**
 * A real SQLite store and live-state store per run: what one run leaves behind must not fail the
 * next, or fast-check could not shrink a failure to its cause. With RINGKIT_TEST_REDIS_STATE=1 the
 * live state is kept in Redis, under a prefix of the run's own, dropped when the store closes.
 */
export async function freshStores(accids: string[]): Promise<{ store: Store; calls: Calls }> {
  const store = openSqliteStore(join(root, String(++runs)))
  await store.putApp({ appKey: APP, appSecret: 's', name: 'prop', multiDevice: true, createdAt: 0 })
  for (const accid of accids) await store.createAccount(APP, { accid }, 0)
  if (process.env.RINGKIT_TEST_REDIS_STATE !== '1') return { store, calls: memoryCallStateStore() }
  const scope = redisScope(process.env.RINGKIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
  const close = async () => {
    await store.close()
    await scope.drop()
  }
  return { store: { ...store, close }, calls: redisCallStateStore(scope.open()) }
}

/**
 * The engine's clock in a property test, with the timers that go with it (give the engine both
 * `now` and `scheduler`): no timer runs but those the test lets run by moving the clock, so a run
 * does the same whatever the machine's speed.
 */
export class Clock {
  now: number
  readonly #timers = new Map<number, { at: number; run: () => unknown }>()
  #nextId = 0
  readonly scheduler: Scheduler = {
    after: (ms, run) => {
      const id = this.#nextId++
      this.#timers.set(id, { at: this.now + ms, run })
      return () => void this.#timers.delete(id)
    },
  }

  constructor(now: number) {
    this.now = now
  }

  /** Timers set and neither run nor canceled. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves the clock on by `ms`, then runs the timers due by then, earliest first, each to its end. */
  async advance(ms: number): Promise<void> {
    this.now += ms
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= this.now).sort(([, a], [, b]) => a.at - b.at)[0]
      if (!due) return
      this.#timers.delete(due[0])
      await due[1].run()
    }
  }
}

/**
 * The property over `arbitrary`, each run on fresh stores with `accids` signed up and the engine's
 * clock a minute on from the run before, so that no run's records reach the next.
 */
export function onFreshStores<T>(
  arbitrary: fc.Arbitrary<T>,
  accids: string[],
  run: (value: T, clock: Clock, stores: { store: Store; calls: Calls }) => Promise<void>,
) {
  const clock = new Clock(1_700_000_000_000)
  return fc.asyncProperty(arbitrary, async (value) => {
    clock.now += 60_000
    const stores = await freshStores(accids)
    try {
      await run(value, clock, stores)
    } finally {
      await stores.store.close()
    }
  })
}

export const key = (d: DeviceRef) => `${d.accid}/${d.deviceId}`

/**
 * Delivery to the devices online in the test. A lost device hears nothing; one that comes back
 * starts a new session, as a fresh login does, and what it heard before is kept apart.
 */
export function fakeDelivery(devices: DeviceRef[]) {
  const online = new Set(devices.map(key))
  const sessions = new Map<string, ServerEvent[][]>(devices.map((d) => [key(d), [[]]]))
  const recordSends: { account: string; reached: string[] }[] = []
  const strays: string[] = []
  const delivery: EventDelivery = {
    send(appKey: string, to: Audience, event: ServerEvent) {
      if (appKey !== APP) strays.push(`${event.name} to app ${appKey}`)
      const targets =
        'device' in to
          ? devices.filter((d) => key(d) === key(to.device))
          : devices.filter((d) => d.accid === to.account && d.deviceId !== to.exceptDevice)
      if ('device' in to && targets.length === 0) strays.push(`${event.name} to unknown ${key(to.device)}`)
      const reached = targets.filter((d) => online.has(key(d)))
      for (const d of reached) sessions.get(key(d))!.at(-1)!.push(event)
      if (event.name !== 'record') return
      if ('account' in to) recordSends.push({ account: to.account, reached: reached.map(key) })
      else strays.push(`record to one device ${key(to.device)}`)
    },
    async onlineDevices(_appKey: string, accid: string) {
      return devices.filter((d) => d.accid === accid && online.has(key(d)))
    },
  }
  return { delivery, online, sessions, recordSends, strays }
}

/** How many times `accid`'s history lists the call: it must be once. */
export async function listsOnce(store: Store, accid: string, callId: string): Promise<number> {
  let seen = 0
  let cursor: string | undefined
  do {
    const page = await store.listRecords(APP, accid, { limit: 100, ...(cursor ? { cursor } : {}) })
    seen += page.records.filter((r) => r.callId === callId).length
    cursor = page.nextCursor
  } while (cursor)
  return seen
}
