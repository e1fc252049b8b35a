import { BackstopError } from '@backstop/shared'
import type { Db } from './db.ts'

/**
 * What the ingest committed that the compliance ledger must evaluate. The ingest handlers mark these explicitly
 * in the batch transaction (no triggers); the ledger drains them after `onCommitted`. Adding a kind: add it here,
 * then the compiler points at `encode`, `decode` and the ledger's `applyChange` switch.
 */
export type LedgerChange =
  /** A copy of the asset was reported, deleted, re-verified or restore-tested: re-judge its verdict. */
  | { readonly kind: 'asset'; readonly node: string; readonly assetKind: string; readonly assetId: string }
  /** The inventory (re)listed the asset or stopped listing it: coverage gap, expectations. */
  | { readonly kind: 'inventory'; readonly node: string; readonly assetKind: string; readonly assetId: string }
  /** A run was first seen running. */
  | { readonly kind: 'run-started'; readonly node: string; readonly runId: string }
  /** A run left `running` (or was first seen finished). */
  | { readonly kind: 'run-finished'; readonly node: string; readonly runId: string }
  /** The node's status or heartbeat changed: liveness. */
  | { readonly kind: 'node'; readonly node: string }
  /** The node declared its jobs (event `msgId`, stored in `events`): expectations from schedules, retirements. */
  | { readonly kind: 'jobs-declared'; readonly node: string; readonly msgId: string }

export type LedgerChangeKind = LedgerChange['kind']

/** Where handlers mark changes; inside one ingest batch this is a buffer written once before the commit. */
export interface LedgerChangeSink {
  mark(c: LedgerChange): void
  /** Run `runId` reported a live copy of the asset (its expectation is met by that run); also marks the asset. */
  runProduced(node: string, runId: string, assetKind: string, assetId: string): void
}

/**
 * One ingest batch's changes, coalesced in memory: 1,000 events about one asset are one row. `checkpoint` and
 * `rollbackTo` follow the batch's per-message savepoints, so a message that was rolled back leaves no change.
 */
export interface LedgerChangeBuffer extends LedgerChangeSink {
  checkpoint(): number
  rollbackTo(checkpoint: number): void
  /** Stores the distinct changes (call inside the batch transaction, before the commit); returns how many. */
  write(): number
}

export interface StoredLedgerChange {
  readonly seq: number
  readonly change: LedgerChange
}

export interface LedgerChangesRepo extends LedgerChangeSink {
  buffer(): LedgerChangeBuffer
  /** Oldest first. */
  take(limit: number): StoredLedgerChange[]
  /** Removes every change up to and including `seq` (all of them were taken and applied). */
  doneThrough(seq: number): void
  /** Queues every asset of the node that has a verdict (e.g. its device health changed). */
  requeueNode(node: string): void
  pending(): number
}

interface Row {
  readonly kind: string
  readonly node: string
  readonly a: string
  readonly b: string
}

/** Column layout of `ledger_changes`: `a` = asset kind | run id | msg id, `b` = asset id. */
function encode(c: LedgerChange): Row {
  switch (c.kind) {
    case 'asset':
    case 'inventory':
      return { kind: c.kind, node: c.node, a: c.assetKind, b: c.assetId }
    case 'run-started':
    case 'run-finished':
      return { kind: c.kind, node: c.node, a: c.runId, b: '' }
    case 'node':
      return { kind: c.kind, node: c.node, a: '', b: '' }
    case 'jobs-declared':
      return { kind: c.kind, node: c.node, a: c.msgId, b: '' }
    default: {
      const never: never = c
      throw new BackstopError('BK_ERR_INTERNAL_ERROR', `unknown ledger change ${JSON.stringify(never)}`)
    }
  }
}

function decode(r: Row): LedgerChange {
  const kind = r.kind as LedgerChangeKind
  switch (kind) {
    case 'asset':
    case 'inventory':
      return { kind, node: r.node, assetKind: r.a, assetId: r.b }
    case 'run-started':
    case 'run-finished':
      return { kind, node: r.node, runId: r.a }
    case 'node':
      return { kind, node: r.node }
    case 'jobs-declared':
      return { kind, node: r.node, msgId: r.a }
    default: {
      const never: never = kind
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `ledger_changes holds kind ${JSON.stringify(never)} that this collector does not know; ` +
          'it was written by a newer version: run that version, or delete the row to skip it',
      )
    }
  }
}

const keyOf = (r: Row): string => `${r.kind}\u0000${r.node}\u0000${r.a}\u0000${r.b}`

export function createLedgerChangesRepo(db: Db): LedgerChangesRepo {
  // seq orders the drain; INSERT OR IGNORE keeps the first seq of a change still pending (coalescing). Every write
  // numbers its rows from max(seq) + 1 inside its own transaction, so seqs are unique and only grow: the rows a
  // drain took are exactly those up to the last seq it took (doneThrough).
  const nextSeq = db.prepare<[], { s: number }>('SELECT coalesce(max(seq), 0) + 1 AS s FROM ledger_changes')
  const insert = db.prepare('INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq) VALUES (?, ?, ?, ?, ?)')
  const runAsset = db.prepare(
    'INSERT OR IGNORE INTO ledger_run_assets (node, run_id, asset_kind, asset_id) VALUES (?, ?, ?, ?)',
  )
  const take = db.prepare<[number], Row & { seq: number }>(
    'SELECT kind, node, a, b, seq FROM ledger_changes ORDER BY seq LIMIT ?',
  )
  const doneThrough = db.prepare('DELETE FROM ledger_changes WHERE seq <= ?')
  const nodeAssets = db.prepare<[string], { asset_kind: string; asset_id: string }>(
    'SELECT asset_kind, asset_id FROM ledger_assets WHERE node = ?',
  )
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ledger_changes')

  const writeRows = (rows: Iterable<Row>): number => {
    let seq = (nextSeq.get() as { s: number }).s
    let n = 0
    for (const r of rows) {
      n += insert.run(r.kind, r.node, r.a, r.b, seq++).changes
    }
    return n
  }
  const now: LedgerChangeSink = {
    mark: (c) => {
      writeRows([encode(c)])
    },
    runProduced: (node, runId, assetKind, assetId) => {
      runAsset.run(node, runId, assetKind, assetId)
      now.mark({ kind: 'asset', node, assetKind, assetId })
    },
  }
  return {
    ...now,
    buffer: () => createBuffer(writeRows, runAsset),
    take: (limit) => take.all(limit).map((r) => ({ seq: r.seq, change: decode(r) })),
    doneThrough: (seq) => {
      doneThrough.run(seq)
    },
    requeueNode: (node) => {
      writeRows(
        nodeAssets.all(node).map((a) => encode({ kind: 'asset', node, assetKind: a.asset_kind, assetId: a.asset_id })),
      )
    },
    pending: () => (count.get() as { n: number }).n,
  }
}

function createBuffer(
  writeRows: (rows: Iterable<Row>) => number,
  runAsset: { run(...params: string[]): unknown },
): LedgerChangeBuffer {
  // Insertion-ordered: the first mark of a change decides its place in the drain, as it would row by row.
  const changes = new Map<string, Row>()
  const runAssets = new Map<string, readonly [string, string, string, string]>()
  const added: (readonly [Map<string, unknown>, string])[] = []
  const put = <V>(m: Map<string, V>, key: string, v: V): void => {
    if (!m.has(key)) {
      m.set(key, v)
      added.push([m, key])
    }
  }
  const buffer: LedgerChangeBuffer = {
    mark: (c) => {
      const r = encode(c)
      put(changes, keyOf(r), r)
    },
    runProduced: (node, runId, assetKind, assetId) => {
      put(runAssets, `${node}\u0000${runId}\u0000${assetKind}\u0000${assetId}`, [node, runId, assetKind, assetId])
      buffer.mark({ kind: 'asset', node, assetKind, assetId })
    },
    checkpoint: () => added.length,
    rollbackTo: (n) => {
      for (const [m, key] of added.splice(n)) {
        m.delete(key)
      }
    },
    write: () => {
      for (const args of runAssets.values()) {
        runAsset.run(...args)
      }
      return writeRows(changes.values())
    },
  }
  return buffer
}
