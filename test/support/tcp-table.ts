import { readFileSync } from 'node:fs'

/** /proc/net/tcp states in which a server still holds the connection: established, or peer gone but not closed. */
const HELD = new Set(['01', '08'])

/**
 * The server side of TCP connections as the kernel sees them: sockets whose local port is `port` (the server's
 * accepted sockets, not the clients'), from a remote address starting with one of `fromPrefixes`, that are
 * ESTABLISHED or CLOSE_WAIT — i.e. the server process has not closed them. A socket the server closed is in
 * FIN_WAIT or gone. Reads /proc/net/tcp and tcp6 (IPv4-mapped addresses), so it sees every process's sockets.
 */
export function serverHeldSockets(port: number, fromPrefixes: readonly string[]): string[] {
  const held: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, remote, state] = line.trim().split(/\s+/)
      if (!local || !remote || !state || !HELD.has(state) || portOf(local) !== port) {
        continue
      }
      const ip = ipv4Of(remote)
      if (ip !== undefined && fromPrefixes.some((p) => ip.startsWith(p))) {
        held.push(`${ip}:${portOf(remote)}`)
      }
    }
  }
  return held
}

const portOf = (hexAddr: string): number => parseInt(hexAddr.slice(hexAddr.indexOf(':') + 1), 16)

/** The kernel prints each 32-bit word in host order (little-endian here); tcp6 maps IPv4 as ::ffff:a.b.c.d. */
function ipv4Of(hexAddr: string): string | undefined {
  const hex = hexAddr.slice(0, hexAddr.indexOf(':'))
  const word = hex.length === 8 ? hex : hex.slice(0, 24) === '0000000000000000FFFF0000' ? hex.slice(24) : undefined
  if (word === undefined) {
    return undefined
  }
  const bytes = [6, 4, 2, 0].map((i) => parseInt(word.slice(i, i + 2), 16))
  return bytes.join('.')
}
