import type { Command } from 'commander'
import { createLedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import { openSecurityContext } from './token-context.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/**
 * `backstop-collector media site <fsUuid> <site>`: rotation from the collector host, the CLI twin of
 * `PUT /api/v1/media/site`. Written next to a running collector; the affected assets are queued as ledger changes,
 * so the collector re-judges them at its next ingest commit (a heartbeat at the latest).
 */
export function registerMediaCommands(program: Command, io: CliOut): void {
  const media = program.command('media').description('removable media: where a rotated medium is now')
  media
    .command('site <fsUuid> <site>')
    .description('record (audited) that the medium with this filesystem UUID is now at <site>')
    .option('--note <text>', 'kept in the audit log')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((fsUuid: string, site: string, o: { config: string; note?: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        const now = new Date()
        const assets = createLedgerAssetsRepo(ctx.db)
        const changes = createLedgerChangesRepo(ctx.db)
        const affected = ctx.db.transaction(() => {
          const keys = assets.setMediumSite(fsUuid, site, ctx.actor, now.getTime())
          for (const k of keys) {
            changes.mark({ kind: 'asset', node: k.node, assetKind: k.kind, assetId: k.id })
          }
          const detail = { site, ...(o.note !== undefined ? { note: o.note } : {}) }
          ctx.audit.append({ actor: ctx.actor, action: 'medium.site', target: fsUuid.toLowerCase(), detail }, now)
          return keys
        })()
        io.out(`medium ${fsUuid.toLowerCase()}: at site ${site}; ${affected.length} asset(s) to re-judge`)
        for (const k of affected) {
          io.out(`  ${k.node}/${k.kind}/${k.id}`)
        }
      } finally {
        ctx.close()
      }
    })
}
