import { availableParallelism } from 'node:os'
import { isUtf8 } from 'node:buffer'
import { Worker } from 'node:worker_threads'
import { MAX_MESSAGE_BYTES, type Envelope, type ErrorCode } from '@backstop/shared'
import type { Logger } from 'pino'
import { checkMessage, type Checked, type CheckDeps, type Verdict } from './check.ts'
import type { KeyRing } from './key-ring.ts'

/** Checks one message; `done` may run synchronously (inline) or later (worker pool). */
export interface Verifier {
  check(topicNode: string, payload: Buffer, done: (v: Checked) => void): void
  close(): Promise<void>
}

export function createInlineVerifier(deps: CheckDeps): Verifier {
  return {
    check: (topicNode, payload, done) => done(checkMessage(topicNode, payload, deps)),
    close: async () => {},
  }
}

/** [node, payload text, pinned public key or null] */
export interface WorkerRequest {
  readonly id: number
  readonly items: [string, string, string | null][]
}

/** 1 = accepted, else [code, reason, permanent, msgId] */
export type WorkerVerdict = 1 | [ErrorCode, string, boolean, string | null]

/**
 * Per message: its verdict, or for a batch whose signature verified `{ batch: msgId, items: verdict per inner event }`.
 */
export interface WorkerReply {
  readonly id: number
  readonly out: (WorkerVerdict | { readonly batch: string; readonly items: WorkerVerdict[] })[]
}

/** Worker side: a Checked → its compact reply (the main thread re-parses the payload for accepted envelopes). */
export function toWorkerReply(v: Checked): WorkerReply['out'][number] {
  return v.ok === 'batch' ? { batch: v.msgId, items: v.items.map(toWorkerVerdict) } : toWorkerVerdict(v)
}

function toWorkerVerdict(v: Verdict): WorkerVerdict {
  return v.ok ? 1 : [v.code, v.reason, v.permanent, v.msgId ?? null]
}

function fromWorkerVerdict(r: WorkerVerdict, env: () => Envelope, raw: () => string): Verdict {
  return r === 1
    ? { ok: true, env: env(), raw: raw() }
    : { ok: false, code: r[0], reason: r[1], permanent: r[2], msgId: r[3] ?? undefined }
}

interface Pending {
  readonly nodes: string[]
  readonly texts: string[]
  readonly dones: ((v: Checked) => void)[]
}

export interface WorkerVerifierOptions {
  readonly keys: Pick<KeyRing, 'get'>
  readonly tokens: readonly string[]
  /** Inline fallback for payloads that fail before any crypto (oversized, not UTF-8). */
  readonly inline: CheckDeps
  readonly log: Logger
  /** Default: the number of CPUs, at most 4. */
  readonly size?: number
  /** Messages per worker round trip (default 256). */
  readonly chunk?: number
  /** Worker script (tests substitute a crashing one). */
  readonly workerUrl?: URL
}

/**
 * A pool of verification workers. Messages are sent in chunks (one postMessage per chunk, flushed on the next
 * tick) to the least busy worker; each worker answers a chunk in order. Callers that need arrival order (the
 * pipeline does) restore it themselves, since two workers may finish out of order.
 */
export function createWorkerVerifier(opts: WorkerVerifierOptions): Verifier {
  const size = Math.max(1, opts.size ?? Math.min(4, availableParallelism()))
  const chunk = opts.chunk ?? 256
  let nextId = 1
  let closed = false
  interface Slot {
    worker: Worker
    inflight: Map<number, Pending>
    load: number
  }
  const slots: Slot[] = []

  const spawn = (): Slot => {
    const worker = new Worker(opts.workerUrl ?? new URL('./verify-worker-boot.mjs', import.meta.url), {
      workerData: { tokens: [...opts.tokens] },
    })
    const slot: Slot = { worker, inflight: new Map(), load: 0 }
    worker.on('message', (reply: WorkerReply) => {
      const p = slot.inflight.get(reply.id)
      if (!p) {
        return
      }
      slot.inflight.delete(reply.id)
      slot.load -= p.texts.length
      reply.out.forEach((r, i) => {
        const text = p.texts[i] as string
        const done = p.dones[i] as (v: Checked) => void
        if (typeof r === 'object' && !Array.isArray(r)) {
          const events = (JSON.parse(text) as { body: { events: Envelope[] } }).body.events
          done({
            ok: 'batch',
            msgId: r.batch,
            items: r.items.map((x, j) =>
              fromWorkerVerdict(
                x,
                () => events[j] as Envelope,
                () => JSON.stringify(events[j]),
              ),
            ),
          })
        } else {
          done(
            fromWorkerVerdict(
              r,
              () => JSON.parse(text) as Envelope,
              () => text,
            ),
          )
        }
      })
    })
    worker.on('error', (err) => {
      opts.log.error(
        { err },
        'verification worker crashed; its messages are checked on the main thread and a new worker starts',
      )
      failSlot(slot, err)
    })
    worker.on('exit', (code) => {
      if (!closed && slots.includes(slot)) {
        opts.log.error(
          { code },
          'verification worker crashed (exited); its messages are checked on the main thread and a new worker starts',
        )
        failSlot(slot, new Error(`verification worker exited with ${code}`))
      }
    })
    return slot
  }

  const failSlot = (slot: Slot, _err: Error): void => {
    // Nothing is lost: the messages the dead worker held are verified inline instead.
    for (const p of slot.inflight.values()) {
      p.dones.forEach((done, i) => done(checkMessage(p.nodes[i] as string, p.texts[i] as string, opts.inline)))
    }
    slot.inflight.clear()
    const i = slots.indexOf(slot)
    if (i >= 0 && !closed) {
      slots[i] = spawn()
    }
  }

  for (let i = 0; i < size; i++) {
    slots.push(spawn())
  }

  let batch: WorkerRequest['items'] = []
  let pending: Pending = { nodes: [], texts: [], dones: [] }
  let scheduled = false
  const send = (): void => {
    scheduled = false
    if (batch.length === 0) {
      return
    }
    const slot = slots.reduce((a, b) => (b.load < a.load ? b : a))
    const id = nextId++
    slot.inflight.set(id, pending)
    slot.load += batch.length
    slot.worker.postMessage({ id, items: batch } satisfies WorkerRequest)
    batch = []
    pending = { nodes: [], texts: [], dones: [] }
  }

  return {
    check: (topicNode, payload, done) => {
      if (payload.length > MAX_MESSAGE_BYTES || !isUtf8(payload)) {
        done(checkMessage(topicNode, payload, opts.inline))
        return
      }
      const text = payload.toString('utf8')
      batch.push([topicNode, text, opts.keys.get(topicNode)?.publicKey ?? null])
      pending.nodes.push(topicNode)
      pending.texts.push(text)
      pending.dones.push(done)
      if (batch.length >= chunk) {
        send()
      } else if (!scheduled) {
        scheduled = true
        setImmediate(send)
      }
    },
    close: async () => {
      send()
      // Let chunks already in a worker finish (their messages then settle normally), at most 5 s.
      for (let waited = 0; waited < 5000 && slots.some((s) => s.inflight.size > 0); waited += 5) {
        await new Promise((r) => setTimeout(r, 5))
      }
      closed = true
      await Promise.all(slots.map((s) => s.worker.terminate()))
    },
  }
}
