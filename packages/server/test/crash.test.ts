import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { rest, TestDevice, type ServerTarget } from './support.ts'

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-crash-'))
const app = {
  appKey: 'crash-app',
  appSecret: randomBytes(24).toString('hex'),
  name: 'default',
  multiDevice: true,
  createdAt: 0,
}
const children = new Set<ChildProcess>()
const killAll = () => {
  for (const child of children) child.kill('SIGKILL')
}
// Even if this process dies before `after` runs, no server is left behind.
process.once('exit', killAll)

after(async () => {
  killAll()
  await TestDevice.closeAll()
  rmSync(dataDir, { recursive: true, force: true })
})

interface Served {
  target: ServerTarget
  child: ChildProcess
  port: number
  stdout: () => string
}

/** `ringkit serve --port 0` as its own process, the way it runs in production. */
async function serve(): Promise<Served> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--host', '127.0.0.1'],
    {
      env: {
        ...process.env,
        RINGKIT_APP_KEY: app.appKey,
        RINGKIT_APP_SECRET: app.appSecret,
        RINGKIT_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  children.add(child)
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ringkit serve printed no URL within 20 s: ${out}`)), 20_000)
    const look = () => {
      const match = /^RingKit is serving at (http:\/\/\S+)/m.exec(out)
      if (!match) return
      clearTimeout(timer)
      resolve(match[1]!)
    }
    child.stdout!.on('data', look)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`ringkit serve exited (${code ?? signal}) before serving: ${out}`))
    })
  })
  // --port 0: the printed URL must carry the port the kernel picked, and answer there.
  const parsed = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(url)
  assert.ok(parsed, `printed URL ${url}`)
  const port = Number(parsed[1])
  assert.ok(port > 0, `printed port ${port}`)
  assert.equal((await fetch(`${url}/healthz`)).status, 200)
  return { target: { url, app, rest: rest(url, app) }, child, port, stdout: () => out }
}

async function stop(child: ChildProcess, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })
  child.kill(signal)
  const code = await exited
  children.delete(child)
  return code
}

/** Every record in an account's history, two per page, newest first. */
async function history(target: ServerTarget, accid: string): Promise<CallRecord[]> {
  const records: CallRecord[] = []
  let cursor: string | undefined
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 50, 'history pages never end')
    const query = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const res = await target.rest('GET', `/v1/accounts/${accid}/calls?${query}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    records.push(...(res.body.records as CallRecord[]))
    cursor = res.body.nextCursor
    if (cursor === undefined) return records
  }
}

interface Placed {
  callId: string
  caller: string
  callee: string
}

/** Where each call must show up: its two parties' histories, once each, and nowhere else. */
async function everything(target: ServerTarget, calls: Placed[]) {
  const byAccount = new Map<string, string[]>()
  const records = new Map<string, CallRecord>()
  for (const { caller, callee } of calls) {
    for (const accid of [caller, callee]) {
      const list = await history(target, accid)
      byAccount.set(
        accid,
        list.map((r) => r.callId),
      )
      for (const r of list) records.set(r.callId, r)
    }
  }
  return { byAccount, records }
}

async function recordOf(target: ServerTarget, callId: string): Promise<CallRecord> {
  const res = await target.rest('GET', `/v1/calls/${callId}`)
  assert.equal(res.status, 200, `record of ${callId}: ${JSON.stringify(res.body)}`)
  return res.body as CallRecord
}

describe('ringkit serve killed with SIGKILL', () => {
  it('keeps each ended call to its one record and gives each live call one interrupted record, once', async () => {
    const first = await serve()
    let pairs = 0
    const pair = async () => {
      pairs++
      const caller = await TestDevice.online(first.target, `crash${pairs}a`)
      const callee = await TestDevice.online(first.target, `crash${pairs}b`)
      return { caller, callee }
    }

    const ended: Placed[] = []
    for (let i = 0; i < 3; i++) {
      const { caller, callee } = await pair()
      const call = await caller.kit.call({ to: callee.accid, type: 'audio' })
      const invited = await callee.next('invited')
      await invited.call.accept()
      await caller.next('userAccept')
      // Both sides may hang up; the record must not care who did.
      await (i % 2 === 0 ? call.hangup() : invited.call.hangup())
      await Promise.all([caller.next('record'), callee.next('record')])
      ended.push({ callId: call.callId, caller: caller.accid, callee: callee.accid })
    }
    const ringing: Placed[] = []
    for (let i = 0; i < 3; i++) {
      const { caller, callee } = await pair()
      const call = await caller.kit.call({ to: callee.accid, type: 'video', timeoutMs: 120_000 })
      await callee.next('invited')
      ringing.push({ callId: call.callId, caller: caller.accid, callee: callee.accid })
    }
    const connected: Placed[] = []
    for (let i = 0; i < 3; i++) {
      const { caller, callee } = await pair()
      const call = await caller.kit.call({ to: callee.accid, type: 'video' })
      await (await callee.next('invited')).call.accept()
      await caller.next('userAccept')
      connected.push({ callId: call.callId, caller: caller.accid, callee: callee.accid })
    }
    const live = [...ringing, ...connected]
    const all = [...ended, ...live]

    const before = new Map<string, CallRecord>()
    for (const { callId } of ended) before.set(callId, await recordOf(first.target, callId))
    for (const { callId } of live) {
      const res = await first.target.rest('GET', `/v1/calls/${callId}`)
      assert.deepEqual([res.status, res.body.error?.code], [404, 'CALL_NOT_FOUND'], 'a live call has no record yet')
    }

    const killedAt = Date.now()
    await stop(first.child, 'SIGKILL')
    await TestDevice.closeAll()

    const second = await serve()
    assert.match(second.stdout(), /"calls":6,.*interrupted by the last shutdown/)
    for (const { callId } of ended) {
      assert.deepEqual(await recordOf(second.target, callId), before.get(callId), 'an ended call keeps its record')
    }
    for (const { callId, caller, callee } of ringing) {
      const r = await recordOf(second.target, callId)
      assert.equal(r.endReason, 'interrupted')
      assert.equal(r.status, RECORD_STATUS.timeout)
      assert.equal(r.connectedAt, undefined)
      assert.equal(r.durationSeconds, 0)
      assert.deepEqual(
        r.members.map((m) => [m.accid, m.status]),
        [
          [caller, 'joined'],
          [callee, 'missed'],
        ],
      )
      // Dated to when the dead server was last known up (it marks that every 5 s), not to the restart.
      assert.ok(
        r.endedAt >= r.startedAt && r.endedAt <= killedAt && killedAt - r.endedAt < 6000,
        `endedAt ${r.endedAt}`,
      )
    }
    for (const { callId, caller, callee } of connected) {
      const r = await recordOf(second.target, callId)
      assert.equal(r.endReason, 'interrupted')
      assert.equal(r.status, RECORD_STATUS.completed)
      assert.ok(r.connectedAt !== undefined && r.connectedAt < killedAt, `connectedAt ${r.connectedAt}`)
      assert.ok(
        r.endedAt >= r.connectedAt && r.endedAt <= killedAt && killedAt - r.endedAt < 6000,
        `endedAt ${r.endedAt}`,
      )
      assert.equal(r.durationSeconds, Math.round((r.endedAt - r.connectedAt) / 1000), 'downtime is not talk time')
      assert.deepEqual(
        r.members.map((m) => [m.accid, m.status]),
        [
          [caller, 'joined'],
          [callee, 'joined'],
        ],
      )
    }

    const afterFirst = await everything(second.target, all)
    for (const { callId, caller, callee } of all) {
      for (const accid of [caller, callee]) {
        assert.deepEqual(afterFirst.byAccount.get(accid), [callId], `${accid}'s history holds its one call, once`)
      }
    }
    assert.equal(afterFirst.records.size, all.length)
    for (const { callId } of all)
      assert.deepEqual(afterFirst.records.get(callId), await recordOf(second.target, callId))

    // A clean stop and a third start on the same data dir recover nothing and write nothing.
    assert.equal(await stop(second.child, 'SIGTERM'), 0, 'SIGTERM stops the server cleanly')
    const third = await serve()
    assert.match(third.stdout(), /Default app: AppKey crash-app/)
    assert.doesNotMatch(third.stdout(), /interrupted by the last shutdown/, 'the journal was left empty')
    const afterSecond = await everything(third.target, all)
    assert.deepEqual(afterSecond.byAccount, afterFirst.byAccount)
    assert.deepEqual(afterSecond.records, afterFirst.records)
    await stop(third.child, 'SIGKILL')
  })
})
