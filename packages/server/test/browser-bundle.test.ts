import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from './support.ts'

let server: TestServer
before(async () => {
  // No mount: the API server alone, as `ringkit serve --no-demo` runs it.
  server = await startTestServer()
})
after(() => server.close())

describe('/ringkit.js from the API server alone', () => {
  it('serves the SDK and UI kit as one minified module, readable from any origin, linking its map', async () => {
    const res = await fetch(`${server.url}/ringkit.js`, { headers: { origin: 'https://site.example' } })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin')
    const code = await res.text()
    assert.match(code, /export\s*\{[^}]*\bRingKit\b/)
    assert.match(code, /customElements\.define\("ringkit-call"/)
    // Minified: long lines (only template literals of styles and markup keep their line breaks).
    assert.ok(code.length / code.split('\n').length > 200, 'minified')
    assert.match(code, /\/\/# sourceMappingURL=ringkit\.js\.map\s*$/)
  })

  it('serves the source map, whose sources include the UI kit, and a 304 for an unchanged one', async () => {
    const res = await fetch(`${server.url}/ringkit.js.map`)
    assert.equal(res.status, 200)
    const map = (await res.json()) as { version: number; sources: string[]; sourcesContent: string[] }
    assert.equal(map.version, 3)
    assert.ok(map.sources.some((s) => s.endsWith('packages/ui/src/RingkitCall.ts')))
    assert.equal(map.sourcesContent.length, map.sources.length)
    const etag = res.headers.get('etag')
    assert.ok(etag)
    const again = await fetch(`${server.url}/ringkit.js.map`, { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
  })
})
