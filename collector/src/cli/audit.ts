import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { BackstopError, type AuditSegment } from '@backstop/shared'
import { openSecurityContext, type SecurityContext } from './token-context.ts'
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
    .option(
      '--segments <dir>',
      'also verify the sealed segment files in <dir> (retention.audit.exportDir): the whole chain across the cuts',
    )
    .option('--public-key <base64>', "the key the segments were signed with (default: the collector's own key)")
    .action((o: { config: string; expectHead?: string; segments?: string; publicKey?: string }) => {
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
        if (o.segments !== undefined) {
          verifyWithSegments(ctx, o.segments, o.publicKey, expect, io)
          return
        }
        const v = ctx.audit.verify(expect)
        if (!v.ok) {
          throw new BackstopError(
            'BK_ERR_AUDIT_TAMPERED',
            `${v.problem} at entry ${v.atSeq}: ${v.detail} (checked ${v.count} entries of ${ctx.config.dbFile})`,
          )
        }
        const cut = ctx.audit.sealed().at(-1)
        io.out(
          cut
            ? `audit log OK: ${v.count} entries after the cut at entry ${cut.toSeq}, head ${v.head}; entries ` +
                `1..${cut.toSeq} are sealed in ${ctx.audit.sealed().length} segment file(s) (check them with ` +
                `--segments ${dirname(cut.file)})`
            : `audit log OK: ${v.count} entries, head ${v.head}`,
        )
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

/** The whole chain across its cuts: every segment file in `dir`, signed with the collector key, then the table. */
function verifyWithSegments(
  ctx: SecurityContext,
  dir: string,
  publicKey: string | undefined,
  expect: { seq: number; hash: string } | undefined,
  io: CliOut,
): void {
  const files = readSegmentFiles(dir)
  const key = publicKey ?? collectorPublicKey(ctx.config.dataDir)
  const v = ctx.audit.verifySealed(
    files.map((f) => f.segment),
    key,
    expect,
  )
  if (!v.ok) {
    throw new BackstopError(
      'BK_ERR_AUDIT_TAMPERED',
      `${v.problem} (checked ${files.length} segment file(s) in ${dir} and ${ctx.config.dbFile})`,
    )
  }
  io.out(
    `audit log OK: ${v.count} entries (${v.sealed} sealed in ${files.length} segment file(s), ` +
      `${v.count - v.sealed} in the database), head ${v.head}`,
  )
}

function readSegmentFiles(dir: string): { file: string; segment: AuditSegment }[] {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => /^audit-segment-\d+\.json$/.test(n))
  } catch (e) {
    throw new BackstopError('BK_ERR_API_VALIDATION', `--segments ${dir}: ${(e as Error).message}`)
  }
  return names.sort().map((n) => {
    const file = join(dir, n)
    try {
      return { file, segment: JSON.parse(readFileSync(file, 'utf8')) as AuditSegment }
    } catch (e) {
      throw new BackstopError(
        'BK_ERR_AUDIT_TAMPERED',
        `segment file ${file} is not readable JSON: ${(e as Error).message}`,
      )
    }
  })
}

/** The collector key's public half (keys.ts), read without creating one. */
function collectorPublicKey(dataDir: string): string {
  const file = join(dataDir, 'keys', 'collector.json')
  try {
    const k = JSON.parse(readFileSync(file, 'utf8')) as { publicKey?: unknown }
    if (typeof k.publicKey === 'string') {
      return k.publicKey
    }
  } catch {
    // reported below
  }
  throw new BackstopError(
    'BK_ERR_API_VALIDATION',
    `cannot read the collector's public key from ${file}; pass the key the segments were signed with: ` +
      '--public-key <base64>',
  )
}
