import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

export interface PasswordHash {
  salt: Buffer
  hash: Buffer
}

const SALT_BYTES = 16
const KEY_BYTES = 64
// Node's defaults (N = 2^14): about 50 ms a guess, yet cheap enough for a sign-up burst.
const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // NFC: the same password typed on two keyboards may arrive in two Unicode forms.
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES)
  return { salt, hash: await derive(password, salt) }
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const key = await derive(password, stored.salt)
  return key.length === stored.hash.length && timingSafeEqual(key, stored.hash)
}

// Checked against when the username does not exist, so a wrong username costs as long as a wrong password.
const NOBODY: PasswordHash = { salt: randomBytes(SALT_BYTES), hash: randomBytes(KEY_BYTES) }

export async function verifyNobody(password: string): Promise<false> {
  await verifyPassword(password, NOBODY)
  return false
}
