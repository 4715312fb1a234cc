// Runs every test file with Node's test runner (TypeScript through tsx), each file in a process of
// its own with a time limit, so that a hang fails with the file's name. First the suites without
// media, two files at a time; then the suites that carry real media (Chromium pages, WebRTC bots),
// one at a time, since each of those keeps both cores of a small machine busy on its own and two
// together starve each other's video. Ends with one line of totals over both, with the Node
// version that ran them and the time taken.
//
// With RINGKIT_REQUIRE_ALL=1 (CI) a skipped or todo test, a file that ran no test, or a run that
// ran none fails the run: what CI reports green has run.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { clearTimeout, setTimeout } from 'node:timers'

/** Per-file limits, generous: the slowest media file takes a few minutes on a 2-core machine. */
const LIMIT_SECONDS = {
  light: Number(process.env.RINGKIT_TEST_LIMIT_S ?? 300),
  media: Number(process.env.RINGKIT_TEST_MEDIA_LIMIT_S ?? 900),
}
const requireAll = process.env.RINGKIT_REQUIRE_ALL === '1'

function find(dir) {
  let found = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found = found.concat(find(path))
    else if (name.endsWith('.test.ts')) found.push(path)
  }
  return found
}

/**
 * Whether a suite carries real media, from what it uses rather than its name: libwebrtc or
 * Chromium loaded for their code (not for types), one of the helpers that start them, or a
 * `// ringkit-test: media` line among its first ones.
 */
const MEDIA_PACKAGES = ['@roamhq/wrtc', 'playwright-core']
const MEDIA_HELPERS = ['wrtcBot', 'launchChromium', 'loggedInPage', 'demoInChromium']
function carriesMedia(file) {
  const source = readFileSync(file, 'utf8')
  if (/^\/\/ ringkit-test: media$/m.test(source.split('\n').slice(0, 20).join('\n'))) return true
  for (const [, names, from] of source.matchAll(/^import (?!type )([\s\S]*?) from '([^']+)'/gm)) {
    if (MEDIA_PACKAGES.includes(from)) return true
    const imported = names.replace(/\btype \w+/g, '').match(/\w+/g) ?? []
    if (imported.some((name) => MEDIA_HELPERS.includes(name))) return true
  }
  return false
}

const filter = process.argv[2]
const files = ['packages', 'apps']
  .filter((root) => existsSync(root))
  .flatMap((root) => find(root))
  .filter((f) => !filter || f.includes(filter))
  .sort()
const media = new Set(files.filter(carriesMedia))
const phases = [
  { kind: 'light', files: files.filter((f) => !media.has(f)), concurrency: 2 },
  { kind: 'media', files: files.filter((f) => media.has(f)), concurrency: 1 },
]

const startedAt = Date.now()
const scratch = mkdtempSync(join(tmpdir(), 'ringkit-tests-'))
const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
const problems = []
const running = new Set()
let status = 0
let tapCount = 0

/** Runs one file in its own process group; kills the group when the file passes its limit. */
function runFile(file, limitSeconds, streamed) {
  const tap = join(scratch, `${tapCount++}.tap`)
  const args = [
    '--import',
    'tsx',
    '--test',
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    file,
  ]
  const started = Date.now()
  if (streamed) process.stdout.write(`# ${file}\n`)
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: withSourceCondition(process.env),
  })
  running.add(child)
  let output = ''
  const take = (stream) => (chunk) => (streamed ? stream.write(chunk) : (output += chunk))
  child.stdout.on('data', take(process.stdout))
  child.stderr.on('data', take(process.stderr))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    process.stdout.write(`# ${file}: still running after its limit of ${limitSeconds} s: killed\n`)
    killGroup(child)
  }, limitSeconds * 1000)
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      if (!streamed) process.stdout.write(`# ${file}\n${output}`)
      process.stdout.write(`# ${file}: ${Math.round((Date.now() - started) / 1000)} s\n`)
      resolve({ file, tap, code, signal, timedOut, limitSeconds })
    })
  })
}

function killGroup(child) {
  try {
    // Negative: the whole group, so Chromium, Janus or coturn started by the file go too.
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

function tally({ file, tap, code, signal, timedOut, limitSeconds }) {
  const summary = existsSync(tap) ? readFileSync(tap, 'utf8') : ''
  const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0)
  const counts = Object.fromEntries(Object.keys(totals).map((key) => [key, count(key)]))
  // A skipped suite is not in the summary's counts: each skipped or todo test or suite has its line.
  const skips = [...summary.matchAll(/^\s*(?:not )?ok \d+ - (.*) # (SKIP|TODO)\b(.*)$/gm)]
  counts.skipped = Math.max(counts.skipped, skips.filter((m) => m[2] === 'SKIP').length)
  counts.todo = Math.max(counts.todo, skips.filter((m) => m[2] === 'TODO').length)
  // A file that declares no test is reported as one test named by its path: it is not one.
  const escaped = resolve(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  if (counts.tests === 1 && new RegExp(`^ok 1 - ${escaped}$`, 'm').test(summary)) {
    counts.tests = 0
    counts.pass = 0
  }
  for (const key of Object.keys(totals)) totals[key] += counts[key]
  if (timedOut) {
    totals.fail++
    problems.push(`${file}: timed out after ${limitSeconds} s and was killed`)
  } else if (code !== 0) {
    if (counts.fail + counts.cancelled === 0) totals.fail++
    problems.push(`${file}: failed (exit ${code ?? signal})`)
  }
  if (timedOut || code !== 0) status = 1
  if (!requireAll) return
  if (skips.length > 0) {
    problems.push(`${file}: ${counts.skipped} skipped, ${counts.todo} todo (RINGKIT_REQUIRE_ALL=1)`)
    for (const [, name, directive, why] of skips) problems.push(`  ${directive} ${name}${why}`)
    status = 1
  }
  if (!timedOut && counts.tests === 0) {
    problems.push(`${file}: ran no test (RINGKIT_REQUIRE_ALL=1)`)
    status = 1
  }
}

async function runPhase({ kind, files: queue, concurrency }) {
  const pending = [...queue]
  const worker = async () => {
    for (let file = pending.shift(); file; file = pending.shift()) {
      tally(await runFile(file, LIMIT_SECONDS[kind], concurrency === 1))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of running) killGroup(child)
    process.exit(130)
  })
}

for (const phase of phases) await runPhase(phase)
rmSync(scratch, { recursive: true, force: true })
if (requireAll && totals.tests === 0) {
  problems.push(`no test ran${filter ? ` for "${filter}"` : ''} (RINGKIT_REQUIRE_ALL=1)`)
  status = 1
}
for (const line of problems) console.log(`# ${line}`)
// Which Node ran them, since CI runs the suite on more than one.
const seconds = Math.round((Date.now() - startedAt) / 1000)
console.log(
  `tests: ${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${totals.skipped + totals.todo} skipped` +
    ` on Node ${process.version} in ${seconds} s`,
)
process.exit(status)

/**
 * The packages resolve to their TypeScript source (the "@ringkit/source" export condition), in the
 * test files and in every process they start (a CLI, a worker), as .npmrc does for npm scripts.
 */
function withSourceCondition(env) {
  const flag = '--conditions=@ringkit/source'
  const options = env.NODE_OPTIONS ?? ''
  return { ...env, NODE_OPTIONS: options.includes(flag) ? options : `${options} ${flag}`.trim() }
}
