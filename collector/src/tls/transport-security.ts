import type { CollectorTls } from './load-or-create.ts'

/**
 * mqtts and HTTPS are the default. Plain TCP exists for loopback development and the quick start only, and
 * must be asked for explicitly (`allowPlaintext: true` / `--insecure-plaintext`); it is logged as a warning
 * on every start so it never goes unnoticed in production.
 */
export type TransportSecurity = { readonly mode: 'tls'; readonly tls: CollectorTls } | { readonly mode: 'plaintext' }

export interface WarnLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export function chooseTransportSecurity(opts: {
  allowPlaintext: boolean
  loadTls: () => CollectorTls
  log: WarnLog
  listenHost?: string
}): TransportSecurity {
  if (opts.allowPlaintext) {
    const loopback = opts.listenHost === undefined || ['127.0.0.1', '::1', 'localhost'].includes(opts.listenHost)
    opts.log.warn(
      { listenHost: opts.listenHost ?? 'unknown', loopback },
      loopback
        ? 'TLS is OFF (plain MQTT and HTTP): development mode; never use this across a network'
        : 'TLS is OFF on a non-loopback address: node credentials and commands travel in clear text; ' +
            'remove allowPlaintext',
    )
    return { mode: 'plaintext' }
  }
  const tls = opts.loadTls()
  opts.log.info({ fingerprint: tls.fingerprint, source: tls.source }, 'TLS on: agents pin this CA fingerprint')
  return { mode: 'tls', tls }
}

/** Options for `tls.createServer` (aedes) and fastify's `https`. */
export function serverTlsOptions(tls: CollectorTls): { cert: string; key: string; minVersion: 'TLSv1.2' } {
  return { cert: tls.certChain, key: tls.key, minVersion: 'TLSv1.2' }
}
