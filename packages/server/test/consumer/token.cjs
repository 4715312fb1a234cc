// A CommonJS backend: require() of the ESM-only @ringkit/server (Node 20.19 and later).
const { createToken, verifyToken } = require('@ringkit/server')

async function main() {
  const app = { appKey: 'consumer-app', appSecret: 'a secret of the consumer app' }
  const { token, expiresAt } = await createToken({ ...app, accid: 'carol', ttlSeconds: 60 })
  const verified = await verifyToken(token, { ...app, accid: 'carol', tokensValidAfter: 0 })
  const refused = await verifyToken(token, { ...app, accid: 'dave', tokensValidAfter: 0 }).then(
    () => 'accepted',
    (error) => error.code,
  )
  process.stdout.write(JSON.stringify({ sameExpiry: verified.expiresAt === expiresAt, refused }) + '\n')
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exitCode = 1
})
