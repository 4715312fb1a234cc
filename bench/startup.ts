/**
 * How long `ringkit serve` takes from spawn to the first 200 on /healthz: compiled (the package's
 * bin on plain Node, as installed from the registry) against the TypeScript source through tsx
 * (how the repository runs it), alternating, RUNS times each, each on a fresh data dir.
 * Run: npx tsx bench/startup.ts   (RUNS=7; builds dist first)
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pct } from './percentile.ts'

const REPO = new URL('../', import.meta.url).pathname
const RUNS = Number(process.env.RUNS ?? 7)
const ARGS = ['serve', '--port=0', '--host=127.0.0.1', '--no-demo']

interface Variant {
  name: string
  args: string[]
}

const VARIANTS: Variant[] = [
  { name: 'compiled (node bin/ringkit.mjs → dist)', args: [join(REPO, 'packages/server/bin/ringkit.mjs')] },
  {
    name: 'tsx (node --import tsx src/cli/main.ts)',
    args: ['--conditions=@ringkit/source', '--import', 'tsx', join(REPO, 'packages/server/src/cli/main.ts')],
  },
]

/** Spawn → first 200 from /healthz, in ms; the server is stopped after. */
async function startOnce(variant: Variant): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-startup-'))
  // NODE_OPTIONS may carry the repo's source condition: the compiled run must resolve dist.
  const { NODE_OPTIONS: _options, ...env } = process.env
  const began = performance.now()
  const child = spawn(process.execPath, [...variant.args, ...ARGS, `--data-dir=${dataDir}`], {
    cwd: REPO,
    env: { ...env, RINGKIT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const found = /serving at (\S+)/.exec(out)
        if (found?.[1]) resolve(found[1])
      })
      child.once('exit', (code) => reject(new Error(`${variant.name} exited with ${code}: ${out}`)))
    })
    for (;;) {
      const ok = await fetch(`${url}/healthz`).then(
        (res) => res.status === 200,
        () => false,
      )
      if (ok) return performance.now() - began
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const build = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] })
if (build.status !== 0) throw new Error('npm run build failed')

const samples = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]))
for (let run = 0; run < RUNS; run++) {
  for (const variant of VARIANTS) samples.get(variant)!.push(await startOnce(variant))
}

const ms = (n: number) => n.toFixed(0)
const rows = VARIANTS.map((v) => {
  const s = samples.get(v)!
  return `| ${v.name} | ${s.length} | ${ms(Math.min(...s))} | ${ms(pct(s, 50))} | ${ms(Math.max(...s))} |`
})
const [compiled, source] = VARIANTS.map((v) => pct(samples.get(v)!, 50))
console.log(`\nringkit serve: spawn → first 200 on /healthz (ms, fresh data dir each run)\n`)
console.log('| variant | runs | min | median | max |')
console.log('| --- | --- | --- | --- | --- |')
console.log(rows.join('\n'))
console.log(`\ncompiled median is ${((compiled! / source!) * 100).toFixed(0)}% of tsx's`)
