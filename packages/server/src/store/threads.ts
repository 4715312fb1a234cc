import { Worker } from 'node:worker_threads'
import type { Reply, ThreadRole, ToThread } from './sqlite-worker.ts'

type Request = ToThread extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never

/** The main thread's end of one store thread: requests in, one promise each, settled by its reply. */
export class StoreThread {
  readonly #role: ThreadRole
  #worker: Worker | undefined
  #dead: Error | undefined
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  /** Told when this thread dies; the store carries on without it where it can. */
  onDeath: ((error: Error) => void) | undefined

  constructor(role: ThreadRole) {
    this.#role = role
  }

  request(message: Request): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead)
    const worker = (this.#worker ??= this.#spawn())
    const id = this.#nextId++
    // An idle thread does not keep the process alive; one with a request in flight does.
    if (this.#pending.size === 0) worker.ref()
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ ...message, id })
    })
  }

  /** The checkpointer is unavailable: the writer checkpoints as SQLite does by default. */
  fallBack(error: unknown): void {
    process.emitWarning(`SQLite checkpointer unavailable, checkpointing inline: ${String(error)}`)
    this.#worker?.postMessage({ type: 'autocheckpoint' } satisfies ToThread)
  }

  #spawn(): Worker {
    const worker = spawnStoreWorker(this.#role)
    worker.unref()
    worker.on('message', (replies: Reply[]) => {
      for (const reply of replies) {
        const waiting = this.#pending.get(reply.id)
        if (!waiting) continue
        this.#pending.delete(reply.id)
        if (reply.ok) waiting.resolve(reply.value)
        else waiting.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }))
      }
      if (this.#pending.size === 0) worker.unref()
    })
    const die = (error: Error) => {
      if (this.#dead) return
      this.#dead = error
      for (const waiting of this.#pending.values()) waiting.reject(error)
      this.#pending.clear()
      this.onDeath?.(error)
    }
    worker.on('error', die)
    worker.on('exit', (code) => die(new Error(`the SQLite ${this.#role} thread exited (${code})`)))
    return worker
  }
}

/**
 * Runs sqlite-worker in a thread. From TypeScript source the thread needs the TypeScript loader
 * too: Node does not carry a loader registered in this thread over to new ones.
 */
function spawnStoreWorker(role: ThreadRole): Worker {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  const entry = new URL(`./sqlite-worker${ext}`, import.meta.url)
  if (ext === '.js') return new Worker(entry, { workerData: role })
  const tsx = import.meta.resolve('tsx/esm/api')
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(boot, { eval: true, workerData: role })
}

let shared: { writer: StoreThread; checkpointer: StoreThread } | undefined

/** Two threads per process, whatever the number of stores: each costs a loader start-up. */
export function storeThreads(): { writer: StoreThread; checkpointer: StoreThread } {
  if (shared) return shared
  const writer = new StoreThread('writer')
  const checkpointer = new StoreThread('checkpointer')
  checkpointer.onDeath = (error) => writer.fallBack(error)
  return (shared = { writer, checkpointer })
}
