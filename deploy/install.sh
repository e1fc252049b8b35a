#!/usr/bin/env bash
# Installs Backstop from this checkout onto the machine it runs on.
#   deploy/install.sh --collector   collector bundle + production node_modules into /opt/backstop/collector,
#                                   unit backstop-collector.service (runs plain node, no tsx)
#   deploy/install.sh --agent       agent single binary into /usr/local/bin, unit backstop-agent.service
# Configs go to /etc/backstop/ from deploy/config/*.example.yaml and are never overwritten.
# Run as root. Does not start anything: edit the configs, then `systemctl enable --now <unit>`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: install.sh --collector | --agent [both allowed]" >&2; exit 2; }

install -d -m 0755 /etc/backstop
for arg in "$@"; do
  case "$arg" in
    --collector)
      bash "$repo/scripts/setup.sh"
      getent passwd backstop >/dev/null || useradd --system --home /var/lib/backstop-collector --shell /usr/sbin/nologin backstop
      install -d -m 0755 /opt/backstop
      # Built JavaScript (collector/scripts/build.mjs) plus only the production dependencies it leaves external
      # (`pnpm deploy --prod`: package.json "files" is dist/). Staged beside the old copy, then swapped in.
      (cd "$repo" && pnpm --filter @backstop/collector build)
      rm -rf /opt/backstop/collector.new
      (cd "$repo" && npm_config_nodedir=/usr pnpm --filter @backstop/collector deploy --legacy --prod /opt/backstop/collector.new)
      rm -rf /opt/backstop/collector.old
      # Installs before the bundle copied the whole workspace into /opt/backstop; only collector/ is kept now.
      [ ! -e /opt/backstop/pnpm-workspace.yaml ] ||
        find /opt/backstop -mindepth 1 -maxdepth 1 ! -name collector ! -name collector.new -exec rm -rf {} +
      [ ! -e /opt/backstop/collector ] || mv /opt/backstop/collector /opt/backstop/collector.old
      mv /opt/backstop/collector.new /opt/backstop/collector
      rm -rf /opt/backstop/collector.old
      install -m 0644 "$repo/README.md" /opt/backstop/README.md
      /usr/bin/node /opt/backstop/collector/dist/backstop-collector.mjs --version
      [ -e /etc/backstop/collector.yaml ] || install -m 0640 -g backstop "$repo/deploy/config/collector.example.yaml" /etc/backstop/collector.yaml
      install -m 0644 "$here/systemd/backstop-collector.service" /etc/systemd/system/
      echo "installed collector: edit /etc/backstop/collector.yaml, then systemctl enable --now backstop-collector"
      ;;
    --agent)
      [ -x "$repo/agent/dist/backstop-agent" ] || (cd "$repo" && bash scripts/setup.sh && pnpm --filter @backstop/agent build)
      install -m 0755 "$repo/agent/dist/backstop-agent" /usr/local/bin/backstop-agent
      [ -e /etc/backstop/agent.yaml ] || install -m 0600 "$repo/deploy/config/agent.example.yaml" /etc/backstop/agent.yaml
      install -m 0644 "$here/systemd/backstop-agent.service" /etc/systemd/system/
      echo "installed agent: edit /etc/backstop/agent.yaml (node, collector.url, enrollment token, jobs),"
      echo "check it with: backstop-agent configcheck --config /etc/backstop/agent.yaml"
      echo "then: systemctl enable --now backstop-agent"
      ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
command -v systemctl >/dev/null && systemctl daemon-reload || true
