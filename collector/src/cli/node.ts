import type { Command } from 'commander'
import { openSecurityContext } from './token-context.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/** `backstop-collector node list|approve|deny|revoke|reenroll`: node identity administration, all audited. */
export function registerNodeCommands(program: Command, io: CliOut): void {
  const node = program.command('node').description('enrolled nodes: approval, revocation, re-enrollment')
  const withCtx = (configFile: string, fn: (ctx: ReturnType<typeof openSecurityContext>) => void): void => {
    const ctx = openSecurityContext(configFile)
    try {
      fn(ctx)
    } finally {
      ctx.close()
    }
  }
  node
    .command('list')
    .description('nodes with their key fingerprint and access state (active, pending, revoked, reenroll)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .option('--json', 'machine-readable output', false)
    .action((o: { config: string; json: boolean }) =>
      withCtx(o.config, (ctx) => {
        const rows = ctx.identity.listNodes()
        if (o.json) {
          io.out(JSON.stringify(rows, null, 2))
          return
        }
        io.out('NODE                 ACCESS    KEY FINGERPRINT                   HOST                 SINCE')
        for (const r of rows) {
          io.out(
            `${r.node.padEnd(20)} ${r.access.padEnd(9)} ${(r.fingerprint ?? '-').padEnd(33)} ` +
              `${(r.hostname ?? '-').padEnd(20)} ${r.accessChangedAt ?? r.enrolledAt ?? ''}` +
              `${r.reason ? `  (${r.reason})` : ''}`,
          )
        }
      }),
    )
  node
    .command('approve <node>')
    .description('approve a pending enrollment; the agent completes it on its next retry')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((n: string, o: { config: string }) =>
      withCtx(o.config, (ctx) => {
        ctx.identity.approve(n, ctx.actor)
        io.out(`node ${n}: enrollment approved`)
      }),
    )
  node
    .command('deny <node>')
    .description('deny a pending enrollment')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((n: string, o: { config: string }) =>
      withCtx(o.config, (ctx) => {
        ctx.identity.deny(n, ctx.actor)
        io.out(`node ${n}: enrollment denied`)
      }),
    )
  node
    .command('revoke <node>')
    .description('refuse the node from now on: its session is dropped and it cannot reconnect or re-enroll')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((n: string, o: { config: string; reason: string }) =>
      withCtx(o.config, (ctx) => {
        ctx.identity.revoke(n, ctx.actor, o.reason)
        io.out(`node ${n}: revoked (a running collector drops its session within seconds)`)
      }),
    )
  node
    .command('reenroll <node>')
    .description('allow the node to enroll once more with a new key (after a reinstall); lifts a revocation')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((n: string, o: { config: string; reason?: string }) =>
      withCtx(o.config, (ctx) => {
        ctx.identity.allowReenroll(n, ctx.actor, o.reason)
        io.out(`node ${n}: may re-enroll with a new key and a valid token (backstop-collector token create)`)
      }),
    )
}
