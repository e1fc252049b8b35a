import Type from 'typebox'
import { AssetKind, NodeId } from '@backstop/shared'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const CopiesQuery = Type.Object(
  {
    node: Type.Optional(NodeId),
    assetKind: Type.Optional(AssetKind),
    assetId: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    includeDeleted: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  },
  { additionalProperties: false },
)

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const CopyView = Type.Object({
  node: Type.String(),
  copyId: Type.String(),
  /** The node holding this copy of `node`'s asset (a pulled replica); null when `node` holds it. */
  heldBy: Nullable(Type.String()),
  asset: Type.Object({ kind: Type.String(), id: Type.String(), name: Nullable(Type.String()) }),
  location: Type.Object({
    kind: Type.String(),
    target: Type.String(),
    device: Nullable(Type.Record(Type.String(), Type.String())),
  }),
  name: Type.String(),
  media: Type.String(),
  offsite: Type.Boolean(),
  offline: Type.Boolean(),
  immutable: Type.Boolean(),
  createdAt: Type.String(),
  bytes: Nullable(Type.Number()),
  checksum: Nullable(Type.String()),
  verification: Type.Object({
    state: Type.String(),
    at: Nullable(Type.String()),
    method: Nullable(Type.String()),
    detail: Nullable(Type.String()),
  }),
  firstRunId: Nullable(Type.String()),
  lastRunId: Nullable(Type.String()),
  lastReportedAt: Type.String(),
  deleted: Nullable(Type.Object({ at: Type.String(), rule: Type.String() })),
  restoreTest: Nullable(
    Type.Object({
      result: Type.String(),
      at: Type.String(),
      commandId: Type.String(),
      method: Type.String(),
      bytes: Nullable(Type.Number()),
      code: Nullable(Type.String()),
    }),
  ),
})

/** Live copies by default (`includeDeleted=true` adds tombstones with the retention rule that removed them). */
export function copyRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/api/v1/copies',
    {
      schema: {
        querystring: CopiesQuery,
        response: {
          200: Type.Object({
            copies: Type.Array(CopyView),
            limit: Type.Integer(),
            offset: Type.Integer(),
            next: Nullable(Type.Integer()),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query
      const limit = q.limit ?? 500
      const offset = q.offset ?? 0
      const copies = deps.copies.query({
        ...(q.node !== undefined ? { node: q.node } : {}),
        ...(q.assetKind !== undefined ? { assetKind: q.assetKind } : {}),
        ...(q.assetId !== undefined ? { assetId: q.assetId } : {}),
        includeDeleted: q.includeDeleted ?? false,
        limit: limit + 1,
        offset,
      })
      const more = copies.length > limit
      return { copies: more ? copies.slice(0, limit) : copies, limit, offset, next: more ? offset + limit : null }
    },
  )
}
