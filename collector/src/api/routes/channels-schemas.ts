import Type from 'typebox'
import { Nullable } from './schemas.ts'

const Secret = Type.String({ minLength: 1, maxLength: 1024 })

/**
 * Write-only in the API: sent when a channel is added or its credentials replaced, never returned (GET shows the
 * same shape with the secret masked). Which kind takes which type: notifiers/credentials.ts.
 */
export const CredentialsInput = Type.Union([
  Type.Object(
    { type: Type.Literal('token'), token: Secret },
    { additionalProperties: false, description: 'ntfy access token (Bearer) or Gotify application token' },
  ),
  Type.Object(
    { type: Type.Literal('basic'), username: Type.String({ minLength: 1, maxLength: 256 }), password: Secret },
    { additionalProperties: false, description: 'ntfy user and password (HTTP Basic)' },
  ),
  Type.Object(
    { type: Type.Literal('hmac'), secret: Secret },
    { additionalProperties: false, description: 'webhook signing secret, whsec_ + base64 (Standard Webhooks)' },
  ),
])

export const ChannelKindSchema = Type.Union([Type.Literal('webhook'), Type.Literal('ntfy'), Type.Literal('gotify')])

export const ChannelView = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String(),
  url: Type.String(),
  minSeverity: Type.String(),
  enabled: Type.Boolean(),
  /** The secret is always "********". */
  credentials: Nullable(
    Type.Object({
      type: Type.String(),
      username: Type.Optional(Type.String()),
      token: Type.Optional(Type.String()),
      password: Type.Optional(Type.String()),
      secret: Type.Optional(Type.String()),
    }),
  ),
  health: Type.Object({
    lastOkAt: Nullable(Type.String()),
    lastErrorAt: Nullable(Type.String()),
    lastError: Nullable(Type.String()),
    consecutiveFailures: Type.Integer(),
    deliveredTotal: Type.Integer(),
    failedTotal: Type.Integer(),
    pending: Type.Integer(),
    dead: Type.Integer(),
  }),
})

/** A generated webhook secret is in the response once; nothing can read it back later. */
export const SecretOnce = Type.Object({
  id: Type.Integer(),
  webhookSecret: Type.Optional(Type.String({ description: 'generated signing secret; shown only in this response' })),
})
