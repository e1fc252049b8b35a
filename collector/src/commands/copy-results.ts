import type { CommandKind, CommandOutcome } from '@backstop/shared'
import type { Db } from '../store/db.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'

/**
 * What a reverify-copy / restore-test result does to the copy it was about, inside the ingest transaction:
 * - reverify-copy: the copy's verification follows the finding (`verified` + time, or `failed` + the coded
 *   error). The copy's asset is marked as a ledger change, so its 3-2-1-1-0 verdict (the 0-errors rule) is
 *   re-judged by the ledger right after the commit. A finding older than the copy's current verification
 *   (a job run re-reported it since) does not overwrite it.
 * - restore-test: stored on the copy as `restore_test` (newest wins); verification is left to the job and to
 *   reverify-copy, because a restore test may have picked the copy itself.
 */
interface CopyAsset {
  readonly asset_kind: string
  readonly asset_id: string
}

export function createCopyResults(db: Db): {
  apply(node: string, commandId: string, kind: CommandKind, args: { copyId?: string }, o: CommandOutcome): void
} {
  const verify = db.prepare<
    Record<string, string>,
    CopyAsset
  >(`UPDATE copies SET verification_state = @state, verification_at = @at, verification_method = @method,
      verification_detail = @detail
    WHERE node = @node AND copy_id = @copyId AND deleted_at IS NULL
      AND (verification_at IS NULL OR verification_at <= @at)
    RETURNING asset_kind, asset_id`)
  const restore = db.prepare<Record<string, string>, CopyAsset>(`UPDATE copies SET restore_test = @json
    WHERE node = @node AND copy_id = @copyId AND (restore_test IS NULL OR json_extract(restore_test, '$.at') <= @at)
    RETURNING asset_kind, asset_id`)
  const changes = createLedgerChangesRepo(db)
  const changed = (node: string, r: CopyAsset | undefined): void => {
    if (r !== undefined) {
      changes.mark({ kind: 'asset', node, assetKind: r.asset_kind, assetId: r.asset_id })
    }
  }
  return {
    apply(node, commandId, kind, args, o) {
      if (kind === 'reverify-copy') {
        // The copy asked about, from our own command row; an outcome about another copy is ignored.
        if (args.copyId === undefined || (o.copyId !== undefined && o.copyId !== args.copyId)) {
          return
        }
        const ok = o.result === 'ok'
        const verified = verify.get({
          node,
          copyId: args.copyId,
          at: o.at,
          state: ok ? 'verified' : 'failed',
          method: `reverify:${o.method}`.slice(0, 256),
          detail: (ok
            ? `re-verified by command ${commandId}: ${o.checks.join('; ')}`
            : `re-verify (command ${commandId}) failed: ${o.error?.code ?? 'BK_ERR_VERIFY_FAILED'}: ` +
              `${o.error?.message ?? ''}`
          ).slice(0, 8192),
        })
        changed(node, verified)
        return
      }
      if (kind === 'restore-test') {
        const copyId = o.copyId ?? args.copyId
        if (copyId === undefined) {
          return
        }
        const tested = restore.get({
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
        changed(node, tested)
      }
    },
  }
}
