import { isIP } from 'node:net'
import { weakTokenReason } from '@backstop/shared'
import type { AgentConfigInput } from './schema.ts'

type At = (path: (string | number)[], message: string) => void

/**
 * The `collector:` section beyond its schema: where the CONNECT password would travel in clear, and enrollment
 * tokens that are no secret (a sample's placeholder, a short or hand-typed one). Each problem is reported at its
 * field; configcheck and the daemon's start both refuse the file.
 */
export function checkCollectorSection(c: AgentConfigInput['collector'], at: At): void {
  checkPlaintext(c, at)
  if (c.enrollmentToken !== undefined) {
    const weak = weakTokenReason(c.enrollmentToken)
    if (weak !== null) {
      at(
        ['collector', 'enrollmentToken'],
        `${weak}; put the token printed by \`backstop-collector token create\` here (or in enrollmentTokenFile)`,
      )
    }
  }
}

function checkPlaintext(c: AgentConfigInput['collector'], at: At): void {
  let url: URL
  try {
    url = new URL(c.url)
  } catch {
    at(['collector', 'url'], `"${c.url}" is not a URL; use mqtts://host:port`)
    return
  }
  if (url.hostname === '') {
    at(['collector', 'url'], `"${c.url}" has no host; use mqtts://host:port`)
    return
  }
  if (url.protocol !== 'mqtt:' || isLoopback(url.hostname) || c.allowInsecurePlaintext === true) {
    return
  }
  at(
    ['collector', 'url'],
    `plaintext mqtt:// to ${url.hostname}, which is not this machine: the agent's CONNECT password (a signed login) ` +
      'and every event would cross the network in clear; use mqtts://' +
      `${url.host} with collector.fingerprint (printed by \`backstop-collector token create\`), or, on a network ` +
      'you trust completely, set collector.allowInsecurePlaintext: true',
  )
}

/** localhost, 127.0.0.0/8 and ::1 never leave the machine. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) {
    return true
  }
  if (isIP(h) === 4) {
    return h.startsWith('127.')
  }
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h)
}
