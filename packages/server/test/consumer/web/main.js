// An app bundled by Vite that imports the UI kit and the SDK by package name. The test passes the
// server, app key, account and token in the page's hash.
import { RingKit } from '@ringkit/client'
import '@ringkit/ui'

const { server, appKey, accid, token } = Object.fromEntries(new URLSearchParams(location.hash.slice(1)))
const kit = new RingKit({ server, appKey })
await kit.login({ accid, token })
document.querySelector('ringkit-call').kit = kit
