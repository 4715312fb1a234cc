// Runs every test file with Node's test runner (TypeScript through tsx): first the suites without
// media, two files at a time; then the suites that carry real media (Chromium pages, WebRTC bots),
// one at a time, since each of those keeps both cores of a small machine busy on its own and two
// together starve each other's video. Ends with one line of totals over both.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

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

const filter = process.argv[2]
const files = ['packages', 'apps']
  .filter((root) => existsSync(root))
  .flatMap((root) => find(root))
  .filter((f) => !filter || f.includes(filter))
  .sort()
const withMedia = (file) => /-(browser|node)\.test\.ts$/.test(file)
const phases = [
  { files: files.filter((f) => !withMedia(f)), concurrency: 2 },
  { files: files.filter(withMedia), concurrency: 1 },
]

const scratch = mkdtempSync(join(tmpdir(), 'ringkit-tests-'))
const totals = { pass: 0, fail: 0, cancelled: 0, skipped: 0 }
let status = 0
phases.forEach((phase, i) => {
  if (phase.files.length === 0) return
  // What people read goes to the terminal; a TAP copy in a file gives the counts.
  const tap = join(scratch, `phase-${i}.tap`)
  const args = [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${phase.concurrency}`,
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...phase.files,
  ]
  const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: withSourceCondition(process.env) })
  if (result.status !== 0) status = result.status ?? 1
  const summary = existsSync(tap) ? readFileSync(tap, 'utf8') : ''
  for (const key of Object.keys(totals)) {
    totals[key] += Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0)
  }
})
rmSync(scratch, { recursive: true, force: true })
console.log(`tests: ${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${totals.skipped} skipped`)
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
