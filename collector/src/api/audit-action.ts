import type { FastifyRequest } from 'fastify'
import { actorOf } from './auth-guard.ts'
import type { AppDeps } from './deps.ts'

/** Records an operator action made through the API in the hash-chained audit log, stamped by the one clock. */
export type AuditAction = (req: FastifyRequest, action: string, target: string, detail: Record<string, unknown>) => void

export function auditAction(deps: Pick<AppDeps, 'audit' | 'clock'>): AuditAction {
  return (req, action, target, detail) => {
    deps.audit.append({ actor: actorOf(req), action, target, detail }, new Date(deps.clock.now()))
  }
}
