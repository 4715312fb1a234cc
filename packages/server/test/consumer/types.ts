// An app's TypeScript against the public types of the installed packages.
import { RingKit, RingKitError, type CallRecord, type RingKitOptions } from '@ringkit/client'
import { ERROR_CODES, type ErrorCode } from '@ringkit/protocol'
import { createToken, type IssuedToken, type ServerOptions } from '@ringkit/server'
import { RingkitCall } from '@ringkit/ui'

const options: RingKitOptions = { server: 'http://localhost:3000', appKey: 'key', media: false }
const kit = new RingKit(options)
kit.on(kit.EVENT.RECORD, (record: CallRecord) => console.log(record.status, record.durationSeconds))
const code: ErrorCode = 'NOT_FOUND'
const known: boolean = code in ERROR_CODES && new RingKitError(code, 'missing') instanceof Error
const issued: Promise<IssuedToken> = createToken({ appKey: 'key', appSecret: 'secret', accid: 'alice' })
const serverOptions: ServerOptions = { dataDir: './data', port: 0 }
const element: RingkitCall = document.createElement('ringkit-call')
element.kit = kit
export { issued, known, serverOptions }
