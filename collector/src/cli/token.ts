import type { Command } from 'commander'
import { BackstopError } from '@backstop/shared'
import { openSecurityContext, parseDuration } from './token-context.ts'

export interface CliOut {
  readonly out: (line: string) => void
}

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/** `backstop-collector token create|list|revoke` and `token operator <name>` (read-only MQTT credentials). */
export function registerTokenCommands(program: Command, io: CliOut): void {
  const token = program.command('token').description('one-time enrollment tokens for new agents')
  token
    .command('create')
    .description('create a one-time enrollment token (shown once) and print what the agent config needs')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--ttl <duration>', 'validity, e.g. 30m, 24h, 7d (max 30d)', '24h')
    .option('--approval', 'park the node until an admin runs `node approve`', false)
    .option('--note <text>', 'free text kept with the token (e.g. which machine it is for)')
    .action((o: { config: string; ttl: string; approval: boolean; note?: string }) => {
      const ttlMs = parseDuration(o.ttl)
      if (Number.isNaN(ttlMs)) {
        throw new BackstopError(
          'BK_ERR_API_VALIDATION',
          `--ttl ${JSON.stringify(o.ttl)}: use a number with s, m, h or d (e.g. 24h)`,
        )
      }
      const ctx = openSecurityContext(o.config)
      try {
        const t = ctx.identity.createToken({ ttlMs, requireApproval: o.approval, note: o.note, actor: ctx.actor })
        const fp = ctx.caFingerprint()
        io.out(`token:       ${t.token}`)
        io.out(`id:          ${t.id}`)
        const approvalHint = ' (needs `backstop-collector node approve <node>` after the agent enrolls)'
        io.out(`expires:     ${t.expiresAt}${o.approval ? approvalHint : ''}`)
        const noFingerprint =
          '(no TLS material yet: start the collector once, or TLS is operator-supplied without caFile)'
        io.out(`fingerprint: ${fp ?? noFingerprint}`)
        io.out('agent config:')
        io.out('  collector:')
        io.out(`    enrollmentToken: ${t.token}`)
        if (fp) {
          io.out(`    fingerprint: "${fp}"`)
        }
        io.out('The token is shown only now; the collector stores its hash.')
      } finally {
        ctx.close()
      }
    })
  token
    .command('list')
    .description('list enrollment tokens (never their secrets)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--json', 'machine-readable output', false)
    .action((o: { config: string; json: boolean }) => {
      const ctx = openSecurityContext(o.config)
      try {
        const rows = ctx.identity.listTokens()
        if (o.json) {
          io.out(JSON.stringify(rows, null, 2))
          return
        }
        const now = Date.now()
        io.out('ID        STATE     EXPIRES                   USED BY         NOTE')
        for (const r of rows) {
          const state = r.revokedAt
            ? 'revoked'
            : r.usedAt
              ? 'used'
              : Date.parse(r.expiresAt) <= now
                ? 'expired'
                : 'valid'
          io.out(
            `${r.id}  ${state.padEnd(8)}  ${r.expiresAt.padEnd(24)}  ${(r.usedByNode ?? '-').padEnd(14)}  ` +
              `${r.note ?? ''}${r.requireApproval ? ' [approval]' : ''}`,
          )
        }
      } finally {
        ctx.close()
      }
    })
  token
    .command('revoke <id>')
    .description('revoke an unused token')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((id: string, o: { config: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        ctx.identity.revokeToken(id, ctx.actor)
        io.out(`token ${id} revoked`)
      } finally {
        ctx.close()
      }
    })
  token
    .command('operator <name>')
    .description('create read-only MQTT credentials for a dashboard (alert topics only); shown once')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--revoke', 'revoke instead of create', false)
    .action((name: string, o: { config: string; revoke: boolean }) => {
      const ctx = openSecurityContext(o.config)
      try {
        if (o.revoke) {
          ctx.operators.revoke(name, ctx.actor)
          io.out(`MQTT operator ${name} revoked`)
          return
        }
        const c = ctx.operators.create(name, ctx.actor)
        io.out(`username: ${c.username}`)
        io.out(`password: ${c.password}`)
        io.out('may subscribe to backstop/v1/alerts/# only')
      } finally {
        ctx.close()
      }
    })
}
