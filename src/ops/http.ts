/**
 * The process's HTTP endpoint for orchestrators and Prometheus: `GET /healthz` (200 or 503
 * with the reasons) and `GET /metrics` (text exposition format). node:http only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assessHealth, healthMetrics, mailboxStatuses } from '../domain/health.js';
import { exposition, PROMETHEUS_CONTENT_TYPE } from '../domain/prometheus.js';
import type { Logger } from '../log.js';
import type { HealthMonitor } from './health.js';

export interface HttpEndpoint {
  port: number;
  close(): Promise<void>;
}

export async function startHttpEndpoint(
  monitor: HealthMonitor,
  bind: { host: string; port: number },
  log: Logger,
): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/healthz' && path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void monitor
      .snapshot({ counts: path === '/metrics' })
      .then((snapshot) => {
        const verdict = assessHealth(snapshot);
        if (path === '/healthz') {
          const body = JSON.stringify({
            status: verdict.healthy ? 'ok' : 'unavailable',
            checks: verdict.checks,
            reasons: verdict.reasons,
            mailboxes: mailboxStatuses(snapshot),
          });
          res
            .writeHead(verdict.healthy ? 200 : 503, {
              'content-type': 'application/json',
              'cache-control': 'no-store',
            })
            .end(req.method === 'HEAD' ? undefined : `${body}\n`);
        } else {
          res
            .writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE })
            .end(req.method === 'HEAD' ? undefined : exposition(healthMetrics(snapshot, verdict)));
        }
      })
      .catch((err: Error) => {
        log.error({ component: 'http', err: err.message }, 'health snapshot failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err.message}\n`);
      });
  });
  // A health checker that hangs up early is no reason to log an error.
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ component: 'http', host: bind.host, port }, 'health and metrics endpoint listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
