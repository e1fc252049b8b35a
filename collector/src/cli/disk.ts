import type { Command } from 'commander'
import { BackstopError, diskKey } from '@backstop/shared'
import { createDiskHealthStore } from '../health/disk-health-store.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import { openSecurityContext } from './token-context.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/**
 * `backstop-collector disk acknowledge <node> <disk>`: the CLI twin of `POST /api/v1/nodes/:node/disks/:disk/
 * acknowledge` — the disk's current counters become its baseline (how a disk that arrived with damage is
 * baselined). Written next to a running collector, which has no alert service here: the disk's alerts resolve
 * at its next report, and its node's assets are queued to be re-judged at the collector's next ingest commit.
 */
export function registerDiskCommands(program: Command, io: CliOut): void {
  const disk = program.command('disk').description("disk health: accept a disk's counters as its baseline")
  disk
    .command('acknowledge <node> <disk>')
    .description('accept (audited) the current counters of <disk> (serial:<serial> or name:<dev>) as its baseline')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((node: string, key: string, o: { config: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        const now = new Date()
        const store = createDiskHealthStore(ctx.db)
        const acked = ctx.db.transaction(() => {
          const b = store.acknowledge(node, key, ctx.actor, now)
          if (b !== undefined) {
            createLedgerChangesRepo(ctx.db).requeueNode(node)
            ctx.audit.append(
              {
                actor: ctx.actor,
                action: 'disk.acknowledge',
                target: `${node}/${key}`,
                detail: { counters: b.counters },
              },
              now,
            )
          }
          return b
        })()
        if (acked === undefined) {
          const keys = (store.latest(node)?.disks ?? []).map(diskKey)
          throw new BackstopError(
            'BK_ERR_API_NOT_FOUND',
            `node "${node}" has no disk "${key}" in its latest report; known: ${keys.join(', ') || 'none'}`,
          )
        }
        const counters = Object.entries(acked.counters).map(([k, v]) => `${k} ${v}`)
        io.out(`${node} ${key}: baseline acknowledged (${counters.join(', ') || 'no counters'})`)
      } finally {
        ctx.close()
      }
    })
}
