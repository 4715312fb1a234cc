import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rest, startTestServer, TestDevice, type TestServer } from '../../../packages/server/test/support.ts'
import { registerDemo } from '../src/server/index.ts'
import { Browser, outcome } from './demo-http.ts'
import { startDemoServer } from './flows.ts'

let server: TestServer
before(async () => {
  server = await startDemoServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

/** A demo user, signed in, with a signaling-only device logged in by the token the page gets. */
async function demoUser(username: string) {
  const browser = new Browser(server.url)
  const { user } = (await browser.signup(username, username)).body
  const issued = await browser.send('POST', '/demo/api/ringkit-token')
  assert.equal(issued.status, 200)
  const device = new TestDevice({ ...server, url: issued.body.server }, user.accid)
  await device.kit.login({ accid: user.accid, token: issued.body.token })
  return { browser, user, device, appKey: issued.body.appKey as string }
}

describe('the demo has an app of its own', () => {
  it("the browser gets the demo app's AppKey, and the default app's accounts are out of reach", async () => {
    assert.notEqual(server.app.appKey, server.defaultApp.appKey)
    const defaultTarget = { url: server.url, app: server.defaultApp, rest: rest(server.url, server.defaultApp) }
    const backendUser = await TestDevice.online(defaultTarget, 'alice')
    const mallory = await demoUser('mallory')
    assert.equal(mallory.appKey, server.app.appKey)

    await assert.rejects(mallory.device.kit.call({ to: 'alice', type: 'audio' }), { code: 'ACCOUNT_NOT_FOUND' })
    assert.ok(await backendUser.quiet('invited'), 'the default app account was not rung')
    const inDefault = await defaultTarget.rest('GET', `/v1/accounts/${mallory.user.accid}`)
    assert.deepEqual([inDefault.status, inDefault.body.error.code], [404, 'ACCOUNT_NOT_FOUND'])
    // Demo users still reach each other.
    const peer = await demoUser('peer')
    const call = await mallory.device.kit.call({ to: peer.user.accid, type: 'audio' })
    await peer.device.next('invited')
    await call.cancel()
    await mallory.device.next('record')
  })

  it('a restart finds the same app again: its users sign in and their tokens still log in', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-demo-restart-'))
    try {
      const first = await startDemoServer({ dataDir })
      const signedUp = (await new Browser(first.url).signup('ray', 'Ray', 'ray password')).body.user
      const appKey = first.app.appKey
      await first.close()

      const second = await startDemoServer({ dataDir })
      try {
        assert.equal(second.app.appKey, appKey)
        const ray = new Browser(second.url)
        assert.equal(
          (await ray.send('POST', '/demo/api/login', { username: 'ray', password: 'ray password' })).status,
          200,
        )
        const issued = await ray.send('POST', '/demo/api/ringkit-token')
        assert.equal(issued.body.appKey, appKey)
        const device = new TestDevice({ ...second, url: issued.body.server }, signedUp.accid)
        await device.kit.login({ accid: signedUp.accid, token: issued.body.token })
        await device.close()
      } finally {
        await second.close()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('a user made when the demo used the default app gets an account in its own app at the next token', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-demo-upgrade-'))
    try {
      // The demo as it was: mounted on the default app.
      const before = await startTestServer({
        dataDir,
        mount: (app, ctx) =>
          registerDemo(app, {
            dataDir,
            ringkitUrl: ctx.url,
            appKey: ctx.defaultApp.appKey,
            appSecret: ctx.defaultApp.appSecret,
          }),
      })
      const old = (await new Browser(before.url).signup('olden', 'Olden', 'olden password')).body.user
      await before.close()

      const after = await startDemoServer({ dataDir })
      try {
        const olden = new Browser(after.url)
        await olden.send('POST', '/demo/api/login', { username: 'olden', password: 'olden password' })
        const issued = await olden.send('POST', '/demo/api/ringkit-token')
        assert.equal(issued.status, 200)
        assert.equal(issued.body.appKey, after.app.appKey)
        const account = await after.rest('GET', `/v1/accounts/${old.accid}`)
        assert.deepEqual([account.status, account.body.name], [200, 'Olden'])
        const device = new TestDevice({ ...after, url: issued.body.server }, old.accid)
        await device.kit.login({ accid: old.accid, token: issued.body.token })
        await device.close()
      } finally {
        await after.close()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe('cross-site requests', () => {
  const EVIL = 'https://evil.example'

  it("a page of another site cannot take a signed-in user's token or sign them out: 403 CROSS_ORIGIN", async () => {
    const { browser } = await demoUser('victim')
    const cookie = browser.cookie
    // What a form or a no-preflight fetch from another site carries: the cookie, text/plain, its Origin.
    const forged = { origin: EVIL, 'content-type': 'text/plain;charset=UTF-8', 'sec-fetch-site': 'cross-site' }
    for (const path of ['/demo/api/ringkit-token', '/demo/api/logout']) {
      const res = await browser.send('POST', path, '{}', forged)
      assert.deepEqual(outcome(res), [403, 'CROSS_ORIGIN'], path)
      assert.equal(res.body.token, undefined)
      assert.equal(res.headers.get('set-cookie'), null)
    }
    const form = { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }
    assert.deepEqual(outcome(await browser.send('POST', '/demo/api/logout', 'a=1', form)), [403, 'CROSS_ORIGIN'])
    // JSON with another site's Origin (a CORS preflight the demo never grants) is refused as well.
    const json = { origin: EVIL }
    assert.deepEqual(outcome(await browser.send('POST', '/demo/api/ringkit-token', '{}', json)), [403, 'CROSS_ORIGIN'])
    const framed = { origin: 'null', 'sec-fetch-site': 'cross-site' }
    assert.deepEqual(outcome(await browser.send('POST', '/demo/api/logout', undefined, framed)), [403, 'CROSS_ORIGIN'])

    assert.equal(browser.cookie, cookie)
    assert.equal((await browser.send('GET', '/demo/api/me')).status, 200, 'the session is untouched')
    const own = { origin: server.url, 'sec-fetch-site': 'same-origin' }
    assert.equal((await browser.send('POST', '/demo/api/ringkit-token', undefined, own)).status, 200)
  })

  it('sign-up and sign-in refuse anything but JSON, so another site cannot make or log in users', async () => {
    const body = JSON.stringify({ username: 'planted', displayName: 'Planted', password: 'planted password' })
    const guest = new Browser(server.url)
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await guest.send('POST', '/demo/api/signup', body, { 'content-type': type })
      assert.deepEqual(outcome(res), [403, 'CROSS_ORIGIN'], type)
    }
    const login = JSON.stringify({ username: 'planted', password: 'planted password' })
    assert.deepEqual(outcome(await guest.send('POST', '/demo/api/login', login, { 'content-type': 'text/plain' })), [
      403,
      'CROSS_ORIGIN',
    ])
    assert.equal(guest.cookie, undefined)
    const { browser } = await demoUser('looker')
    const found = await browser.send('GET', '/demo/api/users?q=planted')
    assert.deepEqual(found.body.users, [], 'no user was made')
  })
})

describe('framing and content policy', () => {
  it('the page and the API forbid framing and run no inline or foreign script', async () => {
    for (const path of ['/', '/app.js', '/demo/api/me']) {
      const res = await fetch(server.url + path)
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path)
      const policy = res.headers.get('content-security-policy') ?? ''
      assert.match(policy, /frame-ancestors 'none'/, path)
      assert.match(policy, /(?:^|; )script-src 'self'(?:;|$)/, path)
      assert.match(policy, /object-src 'none'/, path)
    }
  })

  it('/ringkit.js stays loadable by pages of any origin', async () => {
    const res = await fetch(`${server.url}/ringkit.js`, { headers: { origin: 'https://app.example' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin')
  })
})

describe('sign-in and sign-up throttles', () => {
  let limited: TestServer
  before(async () => {
    limited = await startDemoServer({ demo: { authAttemptsPerMinute: 3, signupsPerMinute: 3 } })
  })
  after(() => limited.close())

  it('a guesser is slowed on the username it guesses at, not the others of its IP, nor sign-up', async () => {
    const signup = (name: string) => new Browser(limited.url).signup(name, name, `${name} password`)
    const login = (name: string, password = `${name} password`) =>
      new Browser(limited.url).send('POST', '/demo/api/login', { username: name, password })
    assert.equal((await signup('target')).status, 201)
    assert.equal((await signup('bystander')).status, 201)

    for (let i = 0; i < 3; i++) assert.deepEqual(outcome(await login('target', 'guess 123')), [401, 'BAD_CREDENTIALS'])
    const locked = await login('TARGET')
    assert.deepEqual(outcome(locked), [429, 'TOO_MANY_ATTEMPTS'], 'even the right password waits, whatever its case')
    const retryAfter = Number(locked.headers.get('retry-after'))
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`)
    assert.equal((await login('bystander')).status, 200, 'another user of the same IP signs in')

    assert.equal((await signup('newcomer')).status, 201, 'sign-ins did not use the sign-up budget')
    const refused = await signup('fourth')
    assert.deepEqual(outcome(refused), [429, 'TOO_MANY_ATTEMPTS'])
    assert.ok(Number(refused.headers.get('retry-after')) >= 1)
    assert.equal((await login('newcomer')).status, 200, 'sign-ups did not use the sign-in budget')
    assert.deepEqual(outcome(await login('fourth')), [401, 'BAD_CREDENTIALS'], 'the refused sign-up made no user')
  })
})
