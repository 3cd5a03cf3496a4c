import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { connects, freePort } from '../../test/lib/openssh.js'
import { waitFor } from '../../test/lib/wait.js'
import { tempDir } from './openssh.js'
import { onCleanup, spawnTracked, stop } from './processes.js'

/**
 * The hand-built reference people put in front of `ssh -R` (DESIGN.md, "Benchmarks"):
 * Debian's nginx, `proxy_pass` to the sshd's forwarded port with upstream keep-alive,
 * one worker per core. Installed by scripts/run-bench.sh.
 */
export interface Nginx {
  port: number
  /** The master; its workers are its children, so CPU meters see the whole tree. */
  pid: number
}

export function nginxConfig(options: { port: number; upstreamPort: number; dir: string }): string {
  const { dir } = options
  return `daemon off;
master_process on;
worker_processes auto;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path ${path.join(dir, 'body')};
  proxy_temp_path ${path.join(dir, 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'scgi')};
  upstream device {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${options.port} reuseport;
    location / {
      proxy_pass http://device;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # Stream a bulk download through memory buffers; never spool it to disk.
      proxy_max_temp_file_size 0;
    }
  }
}
`
}

export async function startNginx(upstreamPort: number): Promise<Nginx> {
  const dir = tempDir('et-bench-nginx-')
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub), { recursive: true })
  const port = await freePort()
  const conf = path.join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig({ port, upstreamPort, dir }))
  const child = spawnTracked('nginx', ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  onCleanup(() => stop(child, 'SIGQUIT', 5000))
  await waitFor(`nginx on ${port}`, () => connects(port), 10_000).catch((err: Error) => {
    let log = ''
    try {
      log = readFileSync(path.join(dir, 'error.log'), 'utf8')
    } catch {
      // no log yet
    }
    throw new Error(`${err.message}: ${stderr.trim()} ${log.trim()}`)
  })
  return { port, pid: child.pid! }
}
