import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { AttemptLimiter } from './AttemptLimiter.ts'
import { DemoError } from './errors.ts'
import { hashPassword, verifyNobody, verifyPassword } from './passwords.ts'
import { RingKitRestError, type RingKitRest } from './ringkit-rest.ts'
import {
  clearedSessionCookie,
  newSessionToken,
  readCookie,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  sessionCookie,
  sessionKey,
} from './session-cookie.ts'
import type { DemoHistoryPage, DemoTokenResponse, DemoUser } from './types.ts'
import { toDemoUser, type UserRow, type UserStore } from './user-store.ts'

export interface ApiDeps {
  store: UserStore
  rest: RingKitRest
  /** Sign-in counted per IP and username, sign-up per IP: one guesser cannot lock everyone out. */
  limits: { signIn: AttemptLimiter; signUp: AttemptLimiter }
  appKey: string
}

const TOKEN_TTL_SECONDS = 3600
const SEARCH_LIMIT = 50
const HISTORY_PAGE = 20

// Usernames are folded to lower case first, so "Alice" and "alice" are one user.
const username = z
  .string()
  .trim()
  .toLowerCase()
  .min(3)
  .max(32)
  .regex(/^[a-z0-9_.-]+$/, 'letters, digits and _ . - only')
const displayName = z
  .string()
  .trim()
  .min(1)
  .max(40)
  .regex(/^[^\p{Cc}]*$/u, 'no control characters')
const signupBody = z.strictObject({ username, displayName, password: z.string().min(8).max(128) })
// Loose on purpose: a malformed username is just one that does not exist.
const loginBody = z.strictObject({
  username: z.string().trim().toLowerCase().min(1).max(64),
  password: z.string().min(1).max(128),
})
const searchQuery = z.object({ q: z.string().trim().max(64).default('') })
const accidParams = z.object({ accid: z.string().min(1).max(64) })
const historyQuery = z.object({
  cursor: z
    .string()
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/, 'not a cursor')
    .optional(),
})

/** The demo's JSON API, mounted under /demo/api. */
export function registerApiRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  // Answers depend on who is signed in: never let a shared cache keep them.
  scope.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })
  scope.setNotFoundHandler(() => {
    throw new DemoError('NOT_FOUND', 'no such demo API route')
  })
  registerAccountRoutes(scope, deps)
  registerAppRoutes(scope, deps)
}

function registerAccountRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  const { store, rest } = deps

  scope.post('/signup', async (request, reply): Promise<{ user: DemoUser }> => {
    limitAttempts(deps.limits.signUp, request.ip, reply, 'sign-up')
    const body = parse(signupBody, request.body)
    if (store.findByUsername(body.username)) throw taken(body.username)
    const password = await hashPassword(body.password)
    // The row is written first: its unique index settles two sign-ups racing for one username.
    const user = store.createUser({ ...body, accid: newAccid(), password }, Date.now())
    if (!user) throw taken(body.username)
    try {
      await rest.createAccount(user.accid, user.displayName)
    } catch (error) {
      store.deleteUser(user.id)
      throw fromRingKit(error)
    }
    startSession(store, request, reply, user)
    reply.code(201)
    return { user: toDemoUser(user) }
  })

  scope.post('/login', async (request, reply): Promise<{ user: DemoUser }> => {
    const body = parse(loginBody, request.body)
    limitAttempts(deps.limits.signIn, `${request.ip}\u0000${body.username}`, reply, 'sign-in')
    const found = store.findByUsername(body.username)
    const ok = found ? await verifyPassword(body.password, found.password) : await verifyNobody(body.password)
    if (!found || !ok) throw new DemoError('BAD_CREDENTIALS', 'wrong username or password')
    startSession(store, request, reply, found)
    return { user: toDemoUser(found) }
  })

  scope.post('/logout', async (request, reply) => {
    endSession(store, request)
    reply.header('set-cookie', clearedSessionCookie(isSecure(request)))
    return { ok: true }
  })

  scope.get('/me', async (request): Promise<{ user: DemoUser }> => ({ user: toDemoUser(requireUser(store, request)) }))
}

function registerAppRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  const { store, rest } = deps

  scope.get('/users', async (request): Promise<{ users: DemoUser[] }> => {
    const me = requireUser(store, request)
    const { q } = parse(searchQuery, request.query)
    return { users: store.search(q, me.id, SEARCH_LIMIT).map(toDemoUser) }
  })

  scope.get('/users/by-accid/:accid', async (request): Promise<DemoUser> => {
    requireUser(store, request)
    const { accid } = parse(accidParams, request.params)
    const user = store.findByAccid(accid)
    if (!user) throw new DemoError('USER_NOT_FOUND', `no demo user has accid "${accid}"`)
    return toDemoUser(user)
  })

  scope.post('/ringkit-token', async (request): Promise<DemoTokenResponse> => {
    const me = requireUser(store, request)
    const issued = await issueToken(rest, me).catch((error: unknown) => {
      throw fromRingKit(error)
    })
    // RingKit shares the demo's port, so the browser reaches it where it reached this page.
    const server = `${request.protocol}://${request.host}`
    return { appKey: deps.appKey, accid: me.accid, token: issued.token, expiresAt: issued.expiresAt, server }
  })

  scope.get('/history', async (request): Promise<DemoHistoryPage> => {
    const me = requireUser(store, request)
    const { cursor } = parse(historyQuery, request.query)
    const page = await rest.listCalls(me.accid, { limit: HISTORY_PAGE, cursor }).catch((error: unknown) => {
      throw fromRingKit(error)
    })
    const names = store.displayNames(page.records.flatMap((r) => [r.caller, ...r.callees]))
    const nameOf = (accid: string) => names.get(accid) ?? accid
    return {
      records: page.records.map((r) => ({ ...r, callerName: nameOf(r.caller), calleeNames: r.callees.map(nameOf) })),
      ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
    }
  })
}

/**
 * A random accid, not the username: the demo's app once was the server's default app, which may
 * hold accids made by other backends (`alice` from the quick start), and records keep accids forever.
 */
function newAccid(): string {
  return `u_${randomBytes(8).toString('hex')}`
}

/**
 * A token for the user's account; a user made while the demo still shared the default app has no
 * account in the demo's own app yet, and gets it now.
 */
async function issueToken(rest: RingKitRest, user: UserRow): Promise<{ token: string; expiresAt: number }> {
  try {
    return await rest.issueToken(user.accid, TOKEN_TTL_SECONDS)
  } catch (error) {
    if (!(error instanceof RingKitRestError) || error.code !== 'ACCOUNT_NOT_FOUND') throw error
    await rest.createAccount(user.accid, user.displayName)
    return rest.issueToken(user.accid, TOKEN_TTL_SECONDS)
  }
}

function taken(name: string): DemoError {
  return new DemoError('USERNAME_TAKEN', `the username "${name}" is taken`)
}

function limitAttempts(limiter: AttemptLimiter, key: string, reply: FastifyReply, what: string): void {
  const waitSeconds = limiter.take(key)
  if (waitSeconds === 0) return
  reply.header('retry-after', String(waitSeconds))
  throw new DemoError('TOO_MANY_ATTEMPTS', `too many ${what} attempts; try again in ${waitSeconds} s`)
}

function startSession(store: UserStore, request: FastifyRequest, reply: FastifyReply, user: UserRow): void {
  endSession(store, request)
  const token = newSessionToken()
  const now = Date.now()
  store.createSession(sessionKey(token), user.id, now, now + SESSION_TTL_SECONDS * 1000)
  reply.header('set-cookie', sessionCookie(token, isSecure(request)))
}

function endSession(store: UserStore, request: FastifyRequest): void {
  const token = readCookie(request.headers.cookie, SESSION_COOKIE)
  if (token) store.deleteSession(sessionKey(token))
}

function requireUser(store: UserStore, request: FastifyRequest): UserRow {
  const token = readCookie(request.headers.cookie, SESSION_COOKIE)
  const user = token ? store.userBySession(sessionKey(token), Date.now()) : undefined
  if (!user) throw new DemoError('NOT_SIGNED_IN', 'sign in first')
  return user
}

function isSecure(request: FastifyRequest): boolean {
  return request.protocol === 'https'
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  throw new DemoError('INVALID_PARAMS', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`)
}

/** A RingKit failure is the demo's outage, except a page cursor RingKit refused, which is the caller's. */
function fromRingKit(error: unknown): DemoError {
  if (error instanceof RingKitRestError && error.status === 400 && error.code === 'INVALID_PARAMS') {
    return new DemoError('INVALID_PARAMS', error.message, { cause: error })
  }
  return new DemoError('RINGKIT_UNAVAILABLE', 'the RingKit server did not answer as expected', { cause: error })
}
