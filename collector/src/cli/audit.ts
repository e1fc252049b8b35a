import type { Command } from 'commander'
import { BackstopError } from '@backstop/shared'
import { openSecurityContext } from './token-context.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/** `backstop-collector audit verify|list|head`. verify exits 1 (BK_ERR_AUDIT_TAMPERED) when the chain is broken. */
export function registerAuditCommands(program: Command, io: CliOut): void {
  const audit = program.command('audit').description('the append-only, hash-chained audit log')
  audit
    .command('verify')
    .description(
      'recompute the hash chain; detects edited, deleted and reordered entries (and a cut-off tail with --expect-head)',
    )
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--expect-head <seq:hash>', 'a head recorded earlier (from `audit head`, logs or a backup)')
    .action((o: { config: string; expectHead?: string }) => {
      let expect: { seq: number; hash: string } | undefined
      if (o.expectHead) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(o.expectHead)
        if (!m) {
          throw new BackstopError(
            'BK_ERR_API_VALIDATION',
            '--expect-head must look like <seq>:<64 hex digits> (see `audit head`)',
          )
        }
        expect = { seq: Number(m[1]), hash: m[2] as string }
      }
      const ctx = openSecurityContext(o.config)
      try {
        const v = ctx.audit.verify(expect)
        if (!v.ok) {
          throw new BackstopError(
            'BK_ERR_AUDIT_TAMPERED',
            `${v.problem} at entry ${v.atSeq}: ${v.detail} (checked ${v.count} entries of ${ctx.config.dbFile})`,
          )
        }
        io.out(`audit log OK: ${v.count} entries, head ${v.head}`)
      } finally {
        ctx.close()
      }
    })
  audit
    .command('head')
    .description('print the newest entry as <seq>:<hash>; keep it somewhere else to detect truncation later')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((o: { config: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        const h = ctx.audit.head()
        io.out(h ? `${h.seq}:${h.hash}` : '0:' + '0'.repeat(64))
      } finally {
        ctx.close()
      }
    })
  audit
    .command('list')
    .description('print entries as JSON lines, oldest first')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--after <seq>', 'only entries after this sequence number', '0')
    .option('--limit <n>', 'at most this many (max 1000)', '100')
    .option('--action <action>', 'e.g. node.revoke, copy.delete')
    .action((o: { config: string; after: string; limit: string; action?: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        for (const e of ctx.audit.list({
          afterSeq: Number(o.after) || 0,
          limit: Number(o.limit) || 100,
          ...(o.action ? { action: o.action } : {}),
        })) {
          io.out(JSON.stringify(e))
        }
      } finally {
        ctx.close()
      }
    })
}
