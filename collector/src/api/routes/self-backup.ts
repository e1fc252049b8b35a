import Type from 'typebox'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const Iso = Type.String({ description: 'ISO 8601 UTC' })
const SelfBackup = Type.Object({
  target: Type.String({ description: 'target name (selfBackup.targets[].name)' }),
  path: Type.String(),
  takenAt: Iso,
  checkedAt: Iso,
  bytes: Type.Union([Type.Integer(), Type.Null()]),
  status: Type.Union([Type.Literal('verified'), Type.Literal('failed')]),
  integrity: Type.Union([Type.String(), Type.Null()], { description: 'PRAGMA integrity_check of the copy' }),
  auditHead: Type.Union([Type.Object({ seq: Type.Integer(), hash: Type.String() }), Type.Null()]),
  highWater: Type.Record(Type.String(), Type.Integer(), { description: 'per node, the highest seq the copy holds' }),
  error: Type.Union([Type.String(), Type.Null()]),
  deleted: Type.Union([Type.Object({ at: Iso, rule: Type.String() }), Type.Null()]),
})

/** The collector's backups of its own database with the result of each check (docs/reliability.md). */
export function selfBackupRoutes(app: App, deps: Pick<AppDeps, 'selfBackups'>): void {
  app.get(
    '/api/v1/self-backup',
    {
      schema: {
        tags: ['reliability'],
        summary: "Backups of the collector's database, newest first, with their integrity and audit-head checks",
        querystring: Type.Object(
          {
            target: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
            includeDeleted: Type.Optional(Type.Boolean({ description: 'also those the keep rules removed' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(SelfBackup) }), 400: ErrorResponse },
      },
    },
    async (req) => ({
      items: deps.selfBackups
        .list({
          ...(req.query.target !== undefined ? { target: req.query.target } : {}),
          includeDeleted: req.query.includeDeleted ?? false,
          limit: req.query.limit ?? 100,
        })
        .map((b) => ({
          target: b.target,
          path: `${b.dir}/${b.file}`,
          takenAt: new Date(b.takenAt).toISOString(),
          checkedAt: new Date(b.finishedAt).toISOString(),
          bytes: b.bytes,
          status: b.status,
          integrity: b.integrity,
          auditHead: b.auditHead,
          highWater: b.highWater,
          error: b.error,
          deleted: b.deleted && { at: new Date(b.deleted.at).toISOString(), rule: b.deleted.rule },
        })),
    }),
  )
}
