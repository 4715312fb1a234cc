import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { rest, TestDevice, type ServerTarget } from './support.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-crash-'))
const app = {
  appKey: 'crash-app',
  appSecret: randomBytes(24).toString('hex'),
  name: 'default',
  multiDevice: true,
  createdAt: 0,
}
const children = new Set<ChildProcess>()

after(async () => {
  await TestDevice.closeAll()
  for (const child of children) child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

/** `ringkit serve` as its own process, the way it runs in production. */
async function serve(): Promise<{ target: ServerTarget; child: ChildProcess }> {
  const cli = new URL('../src/cli/main.ts', import.meta.url).pathname
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
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
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const match = /serving at (http:\/\/\S+)/.exec(out)
      if (match) resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`ringkit serve exited with ${code}: ${out}`)))
  })
  return { target: { url, app, rest: rest(url, app) }, child }
}

async function kill(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  children.delete(child)
}

/** Every record in an account's history, paging through it. */
async function history(target: ServerTarget, accid: string): Promise<CallRecord[]> {
  const records: CallRecord[] = []
  let cursor: string | undefined
  do {
    const res = await target.rest('GET', `/v1/accounts/${accid}/calls?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
    assert.equal(res.status, 200)
    records.push(...(res.body.records as CallRecord[]))
    cursor = res.body.nextCursor
  } while (cursor)
  return records
}

describe('a server killed with SIGKILL', () => {
  it('keeps every ended call to its one record and ends the calls it was carrying with an interrupted record', async () => {
    const first = await serve()
    const pairs = async (prefix: string, count: number) => {
      const made = []
      for (let i = 0; i < count; i++) {
        const caller = await TestDevice.online(first.target, `${prefix}${i}a`)
        const callee = await TestDevice.online(first.target, `${prefix}${i}b`)
        made.push({ caller, callee })
      }
      return made
    }
    const ended: CallRecord[] = []
    for (const { caller, callee } of await pairs('done', 3)) {
      const call = await caller.kit.call({ to: callee.accid, type: 'audio' })
      await (await callee.next('invited')).call.accept()
      await caller.next('userAccept')
      await call.hangup()
      ended.push(await caller.next('record'))
    }
    const ringing: string[] = []
    for (const { caller, callee } of await pairs('ring', 2)) {
      ringing.push((await caller.kit.call({ to: callee.accid, type: 'video' })).callId)
      await callee.next('invited')
    }
    const connected: string[] = []
    for (const { caller, callee } of await pairs('live', 2)) {
      const call = await caller.kit.call({ to: callee.accid, type: 'video' })
      await (await callee.next('invited')).call.accept()
      await caller.next('userAccept')
      connected.push(call.callId)
    }

    await kill(first.child)
    await TestDevice.closeAll()
    const second = await serve()

    for (const record of ended) {
      const res = await second.target.rest('GET', `/v1/calls/${record.callId}`)
      assert.deepEqual(res.body, record, 'an ended call keeps its record as it was')
    }
    const records = async (callId: string) =>
      (await second.target.rest('GET', `/v1/calls/${callId}`)).body as CallRecord
    for (const callId of ringing) {
      const r = await records(callId)
      assert.equal(r.endReason, 'interrupted')
      assert.equal(r.status, RECORD_STATUS.timeout)
      assert.equal(r.members[1]?.status, 'missed')
      assert.equal(r.connectedAt, undefined)
    }
    for (const callId of connected) {
      const r = await records(callId)
      assert.equal(r.endReason, 'interrupted')
      assert.equal(r.status, RECORD_STATUS.completed)
      assert.ok(r.connectedAt !== undefined)
    }
    const all = async (target: ServerTarget) => {
      const ids: string[] = []
      for (const prefix of ['done', 'ring', 'live']) {
        for (let i = 0; i < 3; i++) {
          for (const side of ['a', 'b']) {
            const res = await target.rest('GET', `/v1/accounts/${prefix}${i}${side}`)
            if (res.status === 200) ids.push(...(await history(target, `${prefix}${i}${side}`)).map((r) => r.callId))
          }
        }
      }
      return ids.sort()
    }
    const afterFirstRestart = await all(second.target)
    // Every call appears once in each of its two parties' histories, and no call twice.
    assert.equal(afterFirstRestart.length, 2 * (ended.length + ringing.length + connected.length))
    assert.equal(new Set(afterFirstRestart).size, ended.length + ringing.length + connected.length)

    await kill(second.child)
    const third = await serve()
    assert.deepEqual(await all(third.target), afterFirstRestart, 'another restart writes nothing more')
    await kill(third.child)
  })
})
