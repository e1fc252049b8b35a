import type { KeyObject } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { publicKeyObject } from '@backstop/shared'
import { checkMessage, createTokenCheck } from './check.ts'
import { toWorkerReply, type WorkerReply, type WorkerRequest } from './verifier.ts'

/**
 * Verification worker: runs checkMessage (decode, header, topic, signature, body, token) off the main thread.
 * Ed25519 verification is the most expensive step of the ingest; the main thread keeps aedes and SQLite.
 * The pinned key travels with each message (the main thread owns the KeyRing), so a worker holds no state that
 * could go stale except a cache of parsed keys.
 */
const tokens = createTokenCheck((workerData as { tokens: string[] }).tokens)
const keyCache = new Map<string, KeyObject | undefined>()

function keyFor(publicKey: string): KeyObject | undefined {
  if (!keyCache.has(publicKey)) {
    if (keyCache.size > 100_000) {
      keyCache.clear()
    }
    keyCache.set(publicKey, publicKeyObject(publicKey))
  }
  return keyCache.get(publicKey)
}

parentPort?.on('message', (req: WorkerRequest) => {
  const out: WorkerReply['out'] = req.items.map(([node, text, pinned]) => {
    const key = pinned === null ? undefined : keyFor(pinned)
    return toWorkerReply(
      checkMessage(node, text, {
        tokens,
        keys: { get: () => (key && pinned !== null ? { publicKey: pinned, key } : undefined) },
      }),
    )
  })
  parentPort?.postMessage({ id: req.id, out } satisfies WorkerReply)
})
