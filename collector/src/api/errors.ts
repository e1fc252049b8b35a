import Type from 'typebox'
import type { FastifyError } from 'fastify'
import { errorTable, type ErrorCode } from '@backstop/shared'

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
  }),
})

export function errorBody(
  code: ErrorCode,
  message: string,
  field?: string,
): { error: { code: string; message: string; field?: string } } {
  return { error: { code, message: message || errorTable[code].message, ...(field !== undefined ? { field } : {}) } }
}

/** `querystring.limit`, `params.node`, or `querystring` for a missing required field (named in the message). */
export function validationField(err: FastifyError): string {
  const first = err.validation?.[0] as { instancePath?: string; params?: Record<string, unknown> } | undefined
  const part = err.validationContext ?? 'request'
  const path = (first?.instancePath ?? '').split('/').filter(Boolean).join('.')
  const required = first?.params?.['requiredProperties']
  if (!path && Array.isArray(required) && required.length > 0) {
    return `${part}.${String(required[0])}`
  }
  return path ? `${part}.${path}` : part
}
