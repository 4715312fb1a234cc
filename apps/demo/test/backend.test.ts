import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { scryptSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { RECORD_STATUS } from '@ringkit/protocol'
import { TestDevice, type TestServer } from '../../../packages/server/test/support.ts'
import type { DemoOptions } from '../src/server/index.ts'
import { Browser, outcome } from './demo-http.ts'
import { startDemoServer } from './flows.ts'

/** A real server with the demo mounted as `ringkit serve` does, SQLite in a fresh temp dir. */
function startWithDemo(demo: Partial<DemoOptions> = {}): Promise<TestServer> {
  // The history test makes calls back to back, faster than a person could.
  return startDemoServer({ demo, server: { limits: { invites: { perSecond: 100, burst: 100 } } } })
}

let server: TestServer
before(async () => {
  // The sign-in rate limit is tested on a server of its own; this one signs many users up.
  server = await startWithDemo({ authAttemptsPerMinute: 1000 })
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

describe('demo accounts', () => {
  it('sign-up creates the RingKit account, signs in with an HttpOnly cookie and returns the user', async () => {
    const ann = new Browser(server.url)
    const res = await ann.signup('ann', 'Ann Archer')
    assert.equal(res.status, 201)
    const { user } = res.body
    assert.equal(user.username, 'ann')
    assert.equal(user.displayName, 'Ann Archer')
    assert.match(user.accid, /^u_[0-9a-f]{16}$/)
    assert.match(user.avatarColor, /^#[0-9a-f]{6}$/)
    const setCookie = res.headers.get('set-cookie') ?? ''
    assert.match(setCookie, /HttpOnly/)
    assert.match(setCookie, /SameSite=Lax/)
    assert.match(ann.cookie ?? '', /^[A-Za-z0-9_-]{43}$/)

    const account = await server.rest('GET', `/v1/accounts/${user.accid}`)
    assert.equal(account.status, 200)
    assert.equal(account.body.accid, user.accid)
    assert.equal(account.body.name, 'Ann Archer')
    assert.deepEqual((await ann.send('GET', '/demo/api/me')).body, { user })
  })

  it('a taken username is 409 USERNAME_TAKEN, whatever its case', async () => {
    const first = await new Browser(server.url).signup('Bea.B', 'Bea')
    assert.equal(first.status, 201)
    assert.equal(first.body.user.username, 'bea.b')
    const again = new Browser(server.url)
    assert.deepEqual(outcome(await again.signup('bea.b', 'Other Bea')), [409, 'USERNAME_TAKEN'])
    assert.deepEqual(outcome(await again.signup('BEA.B', 'Other Bea')), [409, 'USERNAME_TAKEN'])
    assert.equal(again.cookie, undefined)
  })

  it('a wrong password or unknown username is 401 BAD_CREDENTIALS and sets no cookie', async () => {
    await new Browser(server.url).signup('cam', 'Cam', 'cams password')
    const guest = new Browser(server.url)
    for (const body of [
      { username: 'cam', password: 'not the password' },
      { username: 'nobody-here', password: 'cams password' },
    ]) {
      const res = await guest.send('POST', '/demo/api/login', body)
      assert.deepEqual(outcome(res), [401, 'BAD_CREDENTIALS'])
      assert.equal(res.headers.get('set-cookie'), null)
    }
    const ok = await guest.send('POST', '/demo/api/login', { username: 'CAM', password: 'cams password' })
    assert.equal(ok.status, 200)
    assert.equal(ok.body.user.username, 'cam')
    assert.equal((await guest.send('GET', '/demo/api/me')).body.user.username, 'cam')
  })

  it('stores passwords as salted scrypt hashes, never in clear', async () => {
    await new Browser(server.url).signup('dee', 'Dee', 'same secret 123')
    await new Browser(server.url).signup('eve', 'Eve', 'same secret 123')
    const dbFile = join(server.dataDir, 'demo.sqlite')
    for (const file of [dbFile, `${dbFile}-wal`]) {
      const bytes = readFileSync(file, { flag: 'r' })
      assert.equal(bytes.includes('same secret 123'), false, `${file} holds the password`)
    }
    const db = new Database(dbFile, { readonly: true })
    const rows = db
      .prepare<[], { salt: Buffer; hash: Buffer }>(
        `SELECT password_salt AS salt, password_hash AS hash FROM users WHERE username IN ('dee', 'eve')`,
      )
      .all()
    db.close()
    assert.equal(rows.length, 2)
    const [dee, eve] = rows
    assert.ok(dee && eve)
    assert.notDeepEqual(dee.salt, eve.salt, 'each user has a salt of their own')
    assert.notDeepEqual(dee.hash, eve.hash)
    assert.deepEqual(scryptSync('same secret 123', dee.salt, 64), dee.hash)
  })

  it('logout ends the session: the old cookie is refused afterwards', async () => {
    const fay = new Browser(server.url)
    await fay.signup('fay', 'Fay')
    const cookie = fay.cookie
    assert.equal((await fay.send('POST', '/demo/api/logout')).status, 200)
    assert.equal(fay.cookie, undefined, 'the cookie is cleared')
    fay.cookie = cookie
    assert.deepEqual(outcome(await fay.send('GET', '/demo/api/me')), [401, 'NOT_SIGNED_IN'])
  })
})

describe('demo users and RingKit', () => {
  it('search matches username or display name case-insensitively, leaves me out, sorts by display name', async () => {
    const me = new Browser(server.url)
    await me.signup('searcher', 'Zed Searcher')
    await new Browser(server.url).signup('gus.k', 'Gus Kowalski')
    await new Browser(server.url).signup('kowal', 'Ärne Kowal')
    await new Browser(server.url).signup('hal', 'Hal')
    await new Browser(server.url).signup('kowal-too', 'ÄRNIE')
    const names = async (q: string) => {
      const res = await me.send('GET', `/demo/api/users?q=${encodeURIComponent(q)}`)
      assert.equal(res.status, 200)
      return (res.body.users as { username: string }[]).map((u) => u.username)
    }
    assert.deepEqual(await names('KOWAL'), ['kowal', 'kowal-too', 'gus.k'])
    assert.deepEqual(await names('ärn'), ['kowal', 'kowal-too'])
    assert.deepEqual(await names('searcher'), [], 'I am not in my own results')
    assert.ok((await names('')).includes('hal'), 'an empty query lists users')
    assert.equal((await names('')).includes('searcher'), false)
  })

  it('search returns at most 50 users', async () => {
    const me = new Browser(server.url)
    await me.signup('bulk-reader', 'Reader')
    const made = await Promise.all(
      Array.from({ length: 51 }, (_, i) => new Browser(server.url).signup(`bulk${i}`, `Bulk ${i}`, 'bulk password')),
    )
    assert.ok(made.every((res) => res.status === 201))
    const res = await me.send('GET', '/demo/api/users?q=bulk')
    assert.equal(res.body.users.length, 50)
    assert.equal(res.body.users[0].username, 'bulk0')
  })

  it('resolves an accid to the demo user, and an unknown accid to 404 USER_NOT_FOUND', async () => {
    const me = new Browser(server.url)
    const { user } = (await me.signup('ida', 'Ida Ives')).body
    const found = await me.send('GET', `/demo/api/users/by-accid/${user.accid}`)
    assert.equal(found.status, 200)
    assert.deepEqual(found.body, user)
    assert.deepEqual(outcome(await me.send('GET', '/demo/api/users/by-accid/u_nobody')), [404, 'USER_NOT_FOUND'])
  })

  it('hands out a RingKit token that logs the SDK in as the user, without the AppSecret', async () => {
    const joy = new Browser(server.url)
    const { user } = (await joy.signup('joy', 'Joy')).body
    const res = await joy.send('POST', '/demo/api/ringkit-token')
    assert.equal(res.status, 200)
    assert.deepEqual(Object.keys(res.body).sort(), ['accid', 'appKey', 'expiresAt', 'server', 'token'])
    assert.equal(res.body.accid, user.accid)
    assert.equal(res.body.appKey, server.app.appKey)
    assert.equal(res.body.server, server.url)
    assert.ok(res.body.expiresAt > Date.now() + 3500_000 && res.body.expiresAt <= Date.now() + 3601_000)
    assert.equal(JSON.stringify(res.body).includes(server.app.appSecret), false)
    const device = new TestDevice({ ...server, url: res.body.server }, user.accid)
    // login() rejects on a token that is not this account's.
    await device.kit.login({ accid: user.accid, token: res.body.token })
    await device.close()
  })

  it('history lists a call between two demo users with both display names', async () => {
    const kim = new Browser(server.url)
    const lou = new Browser(server.url)
    const kimUser = (await kim.signup('kim', 'Kim Kline')).body.user
    const louUser = (await lou.signup('lou', 'Lou Lane')).body.user
    const [kimDevice, louDevice] = await Promise.all([online(kim, kimUser.accid), online(lou, louUser.accid)])
    const call = await kimDevice.kit.call({ to: louUser.accid, type: 'audio' })
    await louDevice.next('invited')
    await call.cancel()
    const record = await kimDevice.next('record')
    await louDevice.next('record')

    for (const browser of [kim, lou]) {
      const res = await browser.send('GET', '/demo/api/history')
      assert.equal(res.status, 200)
      assert.equal(res.body.records.length, 1)
      assert.deepEqual(res.body.records[0], { ...record, callerName: 'Kim Kline', calleeNames: ['Lou Lane'] })
      assert.equal(res.body.records[0].status, RECORD_STATUS.canceled)
      assert.equal(res.body.nextCursor, undefined)
    }
  })

  it('pages history 20 at a time with the cursor RingKit gives', async () => {
    const ned = new Browser(server.url)
    const oli = new Browser(server.url)
    const nedUser = (await ned.signup('ned', 'Ned')).body.user
    const oliUser = (await oli.signup('oli', 'Oli')).body.user
    const [nedDevice, oliDevice] = await Promise.all([online(ned, nedUser.accid), online(oli, oliUser.accid)])
    for (let i = 0; i < 21; i++) {
      const call = await nedDevice.kit.call({ to: oliUser.accid, type: 'audio' })
      await oliDevice.next('invited')
      await call.cancel()
      await nedDevice.next('record')
    }
    const first = await ned.send('GET', '/demo/api/history')
    assert.equal(first.body.records.length, 20)
    assert.equal(typeof first.body.nextCursor, 'string')
    const second = await ned.send('GET', `/demo/api/history?cursor=${first.body.nextCursor}`)
    assert.equal(second.body.records.length, 1)
    assert.equal(second.body.nextCursor, undefined)
    const ids = new Set([...first.body.records, ...second.body.records].map((r: { callId: string }) => r.callId))
    assert.equal(ids.size, 21)
  })
})

/** A signaling-only SDK client logged in with the token the demo hands the browser. */
async function online(browser: Browser, accid: string): Promise<TestDevice> {
  const { body } = await browser.send('POST', '/demo/api/ringkit-token')
  const device = new TestDevice(server, accid)
  await device.kit.login({ accid, token: body.token })
  return device
}

describe('demo API refusals', () => {
  it('refuses every signed-in route without a session, or with a made-up cookie: 401 NOT_SIGNED_IN', async () => {
    const stranger = new Browser(server.url)
    const forged = new Browser(server.url)
    forged.cookie = 'A'.repeat(43)
    const routes: [string, string][] = [
      ['GET', '/demo/api/me'],
      ['GET', '/demo/api/users?q=a'],
      ['GET', '/demo/api/users/by-accid/u_x'],
      ['POST', '/demo/api/ringkit-token'],
      ['GET', '/demo/api/history'],
    ]
    for (const browser of [stranger, forged]) {
      for (const [method, path] of routes) {
        const res = await browser.send(method, path)
        assert.deepEqual(outcome(res), [401, 'NOT_SIGNED_IN'], `${method} ${path}`)
        assert.equal(res.headers.get('cache-control'), 'no-store')
      }
    }
  })

  it('bad input is 400 INVALID_PARAMS naming the field; unknown routes are 404 NOT_FOUND', async () => {
    const guest = new Browser(server.url)
    const cases: [unknown, string][] = [
      [{ username: 'ab', displayName: 'A', password: 'long enough' }, 'username'],
      [{ username: 'has space', displayName: 'A', password: 'long enough' }, 'username'],
      [{ username: 'x'.repeat(33), displayName: 'A', password: 'long enough' }, 'username'],
      [{ username: 'okname', displayName: '', password: 'long enough' }, 'displayName'],
      [{ username: 'okname', displayName: 'x'.repeat(41), password: 'long enough' }, 'displayName'],
      [{ username: 'okname', displayName: 'A', password: 'short' }, 'password'],
      [{ username: 'okname', displayName: 'A', password: 'p'.repeat(129) }, 'password'],
      [{ username: 'okname', displayName: 'A' }, 'password'],
      [{ username: 'okname', displayName: 'A', password: 'long enough', admin: true }, 'body'],
      [['not', 'an', 'object'], 'body'],
      ['{not json', ''],
    ]
    for (const [body, field] of cases) {
      const res = await guest.send('POST', '/demo/api/signup', body)
      assert.deepEqual(outcome(res), [400, 'INVALID_PARAMS'], JSON.stringify(body))
      assert.ok(res.body.error.message.startsWith(field), `${res.body.error.message} names ${field}`)
    }
    assert.equal(guest.cookie, undefined)
    const me = new Browser(server.url)
    await me.signup('pia', 'Pia')
    assert.deepEqual(outcome(await me.send('GET', '/demo/api/history?cursor=%2F%2F')), [400, 'INVALID_PARAMS'])
    assert.deepEqual(outcome(await me.send('GET', `/demo/api/users?q=${'q'.repeat(65)}`)), [400, 'INVALID_PARAMS'])
    assert.deepEqual(outcome(await me.send('GET', '/demo/api/nothing-here')), [404, 'NOT_FOUND'])
  })

  it('the REST API still wants its CheckSum: a demo cookie does not open /v1', async () => {
    const me = new Browser(server.url)
    const { user } = (await me.signup('quinn', 'Quinn')).body
    assert.deepEqual(outcome(await me.send('GET', `/v1/accounts/${user.accid}`)), [401, 'AUTH_MISSING'])
  })
})

describe('a demo whose RingKit calls fail', () => {
  let broken: TestServer
  before(async () => {
    broken = await startWithDemo({ appSecret: 'not-the-secret' })
  })
  after(() => broken.close())

  it('sign-up is 502 RINGKIT_UNAVAILABLE and leaves no half-made user behind', async () => {
    const res = await new Browser(broken.url).signup('rae', 'Rae')
    assert.deepEqual(outcome(res), [502, 'RINGKIT_UNAVAILABLE'])
    const db = new Database(join(broken.dataDir, 'demo.sqlite'), { readonly: true })
    const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users').get()
    db.close()
    assert.equal(count?.n, 0)
  })
})

describe('demo pages', () => {
  it('/ serves the demo page as HTML', async () => {
    const res = await fetch(`${server.url}/`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(await res.text(), /<html/i)
  })

  it('/app.js is the demo script bundled as an ES module', async () => {
    const res = await fetch(`${server.url}/app.js`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/)
    assertModuleParses(await res.text())
  })

  it('/ringkit.js is the UI kit for any site: CORS open, JS, exports RingKit, revalidates with its ETag', async () => {
    const res = await fetch(`${server.url}/ringkit.js`, { headers: { origin: 'https://elsewhere.example' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.equal(res.headers.get('cache-control'), 'no-cache')
    const code = await res.text()
    assertModuleParses(code)
    assert.match(code, /export\s*\{[^}]*\bRingKit\b/)
    assert.doesNotMatch(code, /(?:^|[;}])\s*import\s*[\w*{"']/, 'everything is bundled in, no import statement left')

    const etag = res.headers.get('etag')
    assert.ok(etag)
    const again = await fetch(`${server.url}/ringkit.js`, { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
  })
})

/** `node --check` parses the text as an ES module without running it. */
function assertModuleParses(code: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'ringkit-demo-js-'))
  try {
    const file = join(dir, 'bundle.mjs')
    writeFileSync(file, code)
    const result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' })
    assert.equal(result.status, 0, result.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
