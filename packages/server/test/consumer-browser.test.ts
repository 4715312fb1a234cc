// The packages as an app maker gets them: built, packed with `npm pack`, installed from the tarballs
// into a fresh project outside this repository (registry dependencies as usual), and used there by
// plain Node (ESM and CommonJS), by TypeScript and by a Vite app in Chromium.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { RECORD_STATUS } from '@ringkit/protocol'
import { chromiumPath, launchChromium } from '../../client/test/browser.ts'
import { rest, TestDevice, tokenFor, type ServerTarget } from './support.ts'

const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const FIXTURES = fileURLToPath(new URL('./consumer/', import.meta.url))
const PACKAGES = ['@ringkit/protocol', '@ringkit/client', '@ringkit/ui', '@ringkit/server']
const TSC = join(REPO, 'node_modules/typescript/bin/tsc')
const VITE = join(REPO, 'node_modules/vite/bin/vite.js')

const scratch = mkdtempSync(join(tmpdir(), 'ringkit-consumer-'))
const app = join(scratch, 'app')

/**
 * What an app's own shell has: none of this repository's npm or source-condition settings. Kept:
 * where the running Node's headers are (nodedir), so that an addon compiled on install fits it.
 */
function consumerEnv(): NodeJS.ProcessEnv {
  const kept = (key: string) => !/^npm_/i.test(key) || /^npm_config_nodedir$/i.test(key)
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => kept(key) && key !== 'NODE_OPTIONS'))
  return { ...env, RINGKIT_LOG_LEVEL: 'warn' }
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, env: consumerEnv(), encoding: 'utf8', timeout: 480_000 })
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

before(
  () => {
    run('npm', ['run', 'build'], REPO)
    const tarballs = join(scratch, 'tarballs')
    mkdirSync(tarballs)
    const packed = run(
      'npm',
      ['pack', '--json', '--ignore-scripts', `--pack-destination=${tarballs}`, ...PACKAGES.flatMap((p) => ['-w', p])],
      REPO,
    )
    const files = (JSON.parse(packed) as Array<{ name: string; filename: string }>).map((p) => [p.name, p.filename])
    cpSync(FIXTURES, app, { recursive: true })
    const dependencies = Object.fromEntries(files.map(([name, file]) => [name, `file:${join(tarballs, file!)}`]))
    const manifest = {
      name: 'ringkit-consumer',
      private: true,
      type: 'module',
      dependencies: { ...dependencies, ws: '^8.18.3' },
      // @roamhq/wrtc: the optional peer that @ringkit/client/node's types name.
      devDependencies: { '@types/node': '^20.19.0', '@roamhq/wrtc': '^0.10.0' },
      // better-sqlite3 compiles its addon on install when no prebuilt binary can be fetched.
      allowScripts: { 'better-sqlite3': true },
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2))
    run('npm', ['install', '--no-audit', '--no-fund'], app)
  },
  { timeout: 900_000 },
)
after(() => rmSync(scratch, { recursive: true, force: true }))

describe('installed from packed tarballs', () => {
  it('installs no TypeScript loader and no source of the private demo', () => {
    assert.equal(existsSync(join(app, 'node_modules/tsx')), false)
    assert.equal(existsSync(join(app, 'node_modules/@ringkit/demo')), false)
    const server = JSON.parse(readFileSync(join(app, 'node_modules/@ringkit/server/package.json'), 'utf8'))
    assert.equal(server.dependencies['@ringkit/demo'], undefined)
  })

  it('a plain Node ESM app starts ringkit serve from the bin, and two devices call, answer and get the record', () => {
    const out = run(process.execPath, ['call.mjs', mkdtempSync(join(scratch, 'data-'))], app)
    const { from, aliceRecord, bobRecord } = JSON.parse(out.trim().split('\n').at(-1)!)
    assert.equal(from, 'alice')
    assert.equal(aliceRecord.callId, bobRecord.callId)
    assert.equal(aliceRecord.status, RECORD_STATUS.completed)
    assert.equal(bobRecord.status, RECORD_STATUS.completed)
  })

  it('a CommonJS app requires createToken and verifyToken, and a token for another account is refused', () => {
    const out = run(process.execPath, ['token.cjs'], app)
    assert.deepEqual(JSON.parse(out), { sameExpiry: true, refused: 'TOKEN_INVALID' })
  })

  // types.ts checks the packages' declarations too (skipLibCheck off); node-media.ts needs lib
  // checks skipped, as any app importing @roamhq/wrtc does, whose own declarations do not pass them.
  const checks = [
    { file: 'types.ts', skipLibCheck: false },
    { file: 'node-media.ts', skipLibCheck: true },
  ]
  for (const resolution of ['bundler', 'node16'] as const) {
    it(`tsc typechecks an app against the public types under moduleResolution ${resolution}`, () => {
      const module = resolution === 'bundler' ? 'esnext' : 'node16'
      for (const { file, skipLibCheck } of checks) {
        const compilerOptions = { module, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true }
        const config = `tsconfig.${resolution}.${file}.json`
        writeFileSync(
          join(app, config),
          JSON.stringify({ compilerOptions: { ...compilerOptions, skipLibCheck }, files: [file] }),
        )
        run(process.execPath, [TSC, '-p', config], app)
      }
    })
  }
})

describe('a Vite app that imports @ringkit/ui and @ringkit/client', () => {
  let browser: Browser | undefined
  let ringkit: ChildProcess | undefined
  let pages: Server | undefined
  after(async () => {
    await TestDevice.closeAll()
    await browser?.close()
    pages?.close()
    ringkit?.kill('SIGTERM')
  })

  it(
    'builds, and the page served rings in <ringkit-call> when called; the installed server serves /ringkit.js',
    { timeout: 240_000 },
    async (t) => {
      run(process.execPath, [VITE, 'build', 'web', '--outDir', '../web-dist', '--logLevel', 'warn'], app)
      if (typeof chromiumPath !== 'string') return t.skip(chromiumPath.skip)
      const started = await startInstalledServer()
      ringkit = started.child
      const server = started.target
      // The compiled server serves the bundle that @ringkit/ui's build wrote, with its map.
      for (const path of ['/ringkit.js', '/ringkit.js.map']) {
        assert.equal((await fetch(`${server.url}${path}`)).status, 200, path)
      }
      pages = await serveStatic(join(app, 'web-dist'))
      const hash = new URLSearchParams({
        server: server.url,
        appKey: server.app.appKey,
        accid: 'bob',
        token: await tokenFor(server, 'bob'),
      })
      browser = await launchChromium()
      const page = await browser.newPage()
      await page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/#${hash}`)
      await page.waitForFunction(
        () => (document.querySelector('ringkit-call') as { kit?: { online?: boolean } })?.kit?.online,
      )
      const alice = await TestDevice.online(server, 'alice')
      await alice.kit.call({ to: 'bob', type: 'audio' })
      await page.waitForSelector('ringkit-call[state="incoming"]', { timeout: 30_000 })
      const shown = await page.evaluate(() => document.querySelector('ringkit-call')?.shadowRoot?.textContent ?? '')
      assert.match(shown, /alice/)
    },
  )
})

/** The installed `ringkit serve`, on plain Node, with the AppKey and AppSecret it prints on first start. */
async function startInstalledServer(): Promise<{ child: ChildProcess; target: ServerTarget }> {
  const bin = join(app, 'node_modules/.bin/ringkit')
  const dataDir = mkdtempSync(join(scratch, 'data-'))
  const child = spawn(bin, ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo'], {
    cwd: app,
    env: consumerEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const printed = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (/AppSecret: +\w+/.test(out)) resolve(out)
    })
    child.once('exit', (code) => reject(new Error(`ringkit serve exited with ${code}:\n${out}`)))
  })
  const field = (pattern: RegExp) => pattern.exec(printed)?.[1] ?? assert.fail(`not printed: ${pattern}`)
  const url = field(/serving at (\S+)/)
  const keys = { appKey: field(/AppKey: +(\w+)/), appSecret: field(/AppSecret: +(\w+)/) }
  const appRecord = { ...keys, name: 'default', multiDevice: true, createdAt: 0 }
  return { child, target: { url, app: appRecord, rest: rest(url, keys) } }
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }

/** The Vite build's output, as any static host would serve it. */
async function serveStatic(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split(/[?#]/)[0]!
    const file = join(root, path === '/' ? 'index.html' : path)
    if (!file.startsWith(root) || !existsSync(file)) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}
