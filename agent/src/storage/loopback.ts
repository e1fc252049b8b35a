/**
 * Names and addresses that reach the machine itself. A "remote" target there (an ssh push to `127.0.0.1`, a REST
 * repository on `localhost`) is storage of this host: it burns with it, and may sit on its disks.
 */
const loopbackNames: ReadonlySet<string> = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
  '::1',
  '0:0:0:0:0:0:0:1',
  // Connecting to the unspecified address reaches this host on Linux.
  '0.0.0.0',
  '::',
])

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return loopbackNames.has(h) || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h)
}
