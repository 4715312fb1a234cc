// An app backend and two devices in plain Node, using only the installed packages: starts
// `ringkit serve` from the package's bin, makes accounts and tokens, places a call, answers it and
// prints the record each side got as one JSON line.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { RingKit } from '@ringkit/client'
import { computeCheckSum, createToken } from '@ringkit/server'
import WebSocket from 'ws'

const [dataDir] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const bin = join(dirname(require.resolve('@ringkit/server/package.json')), 'bin', 'ringkit.mjs')
const server = spawn(bin, ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo'], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
const printed = await new Promise((resolve, reject) => {
  let out = ''
  server.stdout.on('data', (chunk) => {
    out += chunk
    if (/AppSecret: +\w+/.test(out)) resolve(out)
  })
  server.once('exit', (code) => reject(new Error(`ringkit serve exited with ${code}:\n${out}`)))
})
const url = /serving at (\S+)/.exec(printed)[1]
const appKey = /AppKey: +(\w+)/.exec(printed)[1]
const appSecret = /AppSecret: +(\w+)/.exec(printed)[1]

async function account(accid) {
  const nonce = randomUUID()
  const curTime = String(Math.floor(Date.now() / 1000))
  const headers = {
    AppKey: appKey,
    Nonce: nonce,
    CurTime: curTime,
    CheckSum: computeCheckSum(appSecret, nonce, curTime),
  }
  const res = await fetch(`${url}/v1/accounts`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ accid }),
  })
  if (res.status !== 200 && res.status !== 201) throw new Error(`account ${accid}: ${res.status}`)
  const kit = new RingKit({ server: url, appKey, WebSocket, media: false })
  const { token } = await createToken({ appKey, appSecret, accid })
  await kit.login({ accid, token })
  return kit
}

const next = (kit, name) => new Promise((resolve) => kit.on(name, resolve))
try {
  const alice = await account('alice')
  const bob = await account('bob')
  const invited = next(bob, bob.EVENT.INVITED)
  const accepted = next(alice, alice.EVENT.USER_ACCEPT)
  const call = await alice.call({ to: 'bob', type: 'audio' })
  const { call: incoming, from } = await invited
  await incoming.accept()
  await accepted
  const records = Promise.all([next(alice, alice.EVENT.RECORD), next(bob, bob.EVENT.RECORD)])
  await call.hangup()
  const [aliceRecord, bobRecord] = await records
  process.stdout.write(JSON.stringify({ from, aliceRecord, bobRecord }) + '\n')
  await Promise.all([alice.logout(), bob.logout()])
} finally {
  server.kill('SIGTERM')
}
