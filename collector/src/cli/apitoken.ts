import type { Command } from 'commander'
import { BackstopError } from '@backstop/shared'
import { apiRoles, createTokensRepo, type ApiRole } from '../auth/tokens.ts'
import { openSecurityContext } from './token-context.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/**
 * `backstop-collector apitoken create|list|revoke`: bearer tokens for the ops API. The API needs a token from the
 * first start (docs/security.md "API bootstrap"); this command, run on the collector host, makes the first one.
 */
export function registerApiTokenCommands(
  program: Command,
  io: CliOut & { readonly err?: (line: string) => void },
): void {
  const cmd = program.command('apitoken').description('bearer tokens for the HTTP API (roles viewer, operator, admin)')
  cmd
    .command('create')
    .description('create a token and print it once (the API requires tokens from then on)')
    .requiredOption('-n, --name <name>', 'who or what uses it, e.g. grafana, oncall-laptop')
    .option('-r, --role <role>', `one of ${apiRoles.join(', ')}`, 'viewer')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((o: { name: string; role: string; config: string }) => {
      if (!(apiRoles as readonly string[]).includes(o.role)) {
        throw new BackstopError('BK_ERR_API_VALIDATION', `--role "${o.role}" is not one of ${apiRoles.join(', ')}`)
      }
      if (!/^[\w .@-]{1,64}$/.test(o.name)) {
        throw new BackstopError(
          'BK_ERR_API_VALIDATION',
          `--name "${o.name}": use 1–64 letters, digits, space, '.', '_', '@' or '-'`,
        )
      }
      const ctx = openSecurityContext(o.config)
      try {
        const t = createTokensRepo(ctx.db).create(o.name, o.role as ApiRole, Date.now())
        ctx.audit.append(
          { actor: ctx.actor, action: 'apitoken.create', target: t.info.id, detail: { name: o.name, role: o.role } },
          new Date(),
        )
        io.out(t.token)
        io.err?.(
          `created ${o.role} token ${t.info.id} (${o.name}); it is shown only now. Use: Authorization: Bearer <token>`,
        )
      } finally {
        ctx.close()
      }
    })
  cmd
    .command('list')
    .description('list tokens (never their secrets)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((o: { config: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        for (const t of createTokensRepo(ctx.db).list()) {
          const revoked = t.revokedAt ? `  REVOKED ${new Date(t.revokedAt).toISOString()}` : ''
          io.out(`${t.id}  ${t.role.padEnd(8)}  ${t.name}  created ${new Date(t.createdAt).toISOString()}${revoked}`)
        }
      } finally {
        ctx.close()
      }
    })
  cmd
    .command('revoke <id>')
    .description('revoke a token at once')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((id: string, o: { config: string }) => {
      const ctx = openSecurityContext(o.config)
      try {
        if (!createTokensRepo(ctx.db).revoke(id, Date.now())) {
          throw new BackstopError(
            'BK_ERR_API_NOT_FOUND',
            `no active API token ${id}; see "backstop-collector apitoken list"`,
          )
        }
        ctx.audit.append({ actor: ctx.actor, action: 'apitoken.revoke', target: id, detail: {} }, new Date())
        io.out(`revoked ${id}`)
      } finally {
        ctx.close()
      }
    })
}
