import type { CommandKind, CommandOutcome } from '@backstop/shared'
import type { Db } from '../store/db.ts'

/**
 * What a reverify-copy / restore-test result does to the copy it was about, inside the ingest transaction:
 * - reverify-copy: the copy's verification follows the finding (`verified` + time, or `failed` + the coded
 *   error). The `copies` AFTER UPDATE trigger queues the asset, so its 3-2-1-1-0 verdict (the 0-errors rule)
 *   is re-judged by the ledger right after the commit. A finding older than the copy's current verification
 *   (a job run re-reported it since) does not overwrite it.
 * - restore-test: stored on the copy as `restore_test` (newest wins); verification is left to the job and to
 *   reverify-copy, because a restore test may have picked the copy itself.
 */
export function createCopyResults(db: Db): {
  apply(node: string, commandId: string, kind: CommandKind, args: { copyId?: string }, o: CommandOutcome): void
} {
  const verify =
    db.prepare(`UPDATE copies SET verification_state = @state, verification_at = @at, verification_method = @method,
      verification_detail = @detail
    WHERE node = @node AND copy_id = @copyId AND deleted_at IS NULL AND (verification_at IS NULL OR verification_at <= @at)`)
  const restore = db.prepare(`UPDATE copies SET restore_test = @json
    WHERE node = @node AND copy_id = @copyId AND (restore_test IS NULL OR json_extract(restore_test, '$.at') <= @at)`)
  return {
    apply(node, commandId, kind, args, o) {
      if (kind === 'reverify-copy') {
        // The copy asked about, from our own command row; an outcome about another copy is ignored.
        if (args.copyId === undefined || (o.copyId !== undefined && o.copyId !== args.copyId)) {
          return
        }
        const ok = o.result === 'ok'
        verify.run({
          node,
          copyId: args.copyId,
          at: o.at,
          state: ok ? 'verified' : 'failed',
          method: `reverify:${o.method}`.slice(0, 256),
          detail: (ok
            ? `re-verified by command ${commandId}: ${o.checks.join('; ')}`
            : `re-verify (command ${commandId}) failed: ${o.error?.code ?? 'BK_ERR_VERIFY_FAILED'}: ${o.error?.message ?? ''}`
          ).slice(0, 8192),
        })
        return
      }
      if (kind === 'restore-test') {
        const copyId = o.copyId ?? args.copyId
        if (copyId === undefined) {
          return
        }
        restore.run({
          node,
          copyId,
          at: o.at,
          json: JSON.stringify({
            result: o.result,
            at: o.at,
            commandId,
            method: o.method,
            bytes: o.bytes ?? null,
            code: o.error?.code ?? null,
          }),
        })
      }
    },
  }
}
