#!/usr/bin/env node
/**
 * `lvskit-director`: the director daemon's command line.
 *
 *   lvskit-director --config /etc/lvskit/director.yaml [--dry-run] [--log-format pretty]
 *   lvskit-director --config FILE --check        validate the configuration and exit
 *   lvskit-director pool|depool|drain SERVICE HOST   operator command (examples/director/ops)
 *   lvskit-director migrate-pybal pybal.conf     print the equivalent YAML (examples/director/pybal)
 *
 * Signals: SIGHUP reloads the configuration (unchanged services untouched);
 * SIGTERM / SIGINT stop (VIPs withdrawn); SIGUSR2 stops for a restart (with
 * BGP graceful restart configured, routes stay in the routers).
 *
 * Exit status: 0 after a clean stop, 2 bad usage, 77 missing permission or
 * capability, 78 bad configuration, 1 anything else.
 */
import { parseArgs } from 'node:util';
import { LvskitError } from 'lvskit';
import { IN_CONFIG_WORKER, loadConfig } from './config.js';
import { startDirector } from './director.js';
import { ConfigError, DirectorError } from './errors.js';
import { createLogger } from './logger.js';
import { main as operatorCommand } from './ops/index.js';
import { main as migratePybal } from './pybal/index.js';

export const USAGE = `usage: lvskit-director --config FILE [options]
       lvskit-director pool|depool|drain SERVICE HOST [options]   (see pool --help)
       lvskit-director migrate-pybal PYBAL_CONF [--inline] [--output FILE]

A load-balancer director: health checks -> pools -> IPVS, service IPs
announced over BGP (or held with VRRP), status API on localhost.

options:
  -c, --config FILE        YAML configuration (see docs/director.md)
      --dry-run            never touch IPVS: log the ipvsadm commands instead
                           (automatic when the kernel has no IPVS)
      --check              validate the configuration and exit
      --log-format FORMAT  json (default when not a terminal) or pretty
      --log-level LEVEL    trace, debug, info (default), warn, error
      --status-port PORT   status API port (overrides the config)
  -h, --help               this text

signals: HUP reload, TERM/INT stop (withdraw VIPs), USR2 stop for a restart
(BGP graceful restart keeps the routes)

exit status: 0 clean stop, 2 usage, 77 permission, 78 configuration, 1 other
`;

export function exitCodeOf(e: unknown): number {
  if (e instanceof ConfigError) return 78;
  if (e instanceof DirectorError && e.code === 'ERR_DIRECTOR_PERMISSION') return 77;
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  // Subcommands: the operator command (examples/director/ops) and the PyBal migration (examples/director/pybal).
  if (argv[0] === 'pool' || argv[0] === 'depool' || argv[0] === 'drain') return operatorCommand(argv);
  if (argv[0] === 'migrate-pybal') return migratePybal(argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'dry-run': { type: 'boolean' },
        check: { type: 'boolean' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        'status-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`lvskit-director: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = args.values;
  if (v.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.positionals.length > 0) {
    process.stderr.write(`lvskit-director: unknown command ${args.positionals[0]}\n\n${USAGE}`);
    return 2;
  }
  if (v.config === undefined) {
    process.stderr.write(`lvskit-director: --config FILE is required\n\n${USAGE}`);
    return 2;
  }
  const format = v['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') {
    process.stderr.write(`lvskit-director: --log-format must be json or pretty\n`);
    return 2;
  }
  let statusPort: number | undefined;
  if (v['status-port'] !== undefined) {
    statusPort = Number(v['status-port']);
    if (!Number.isInteger(statusPort) || statusPort < 0 || statusPort > 65535) {
      process.stderr.write(`lvskit-director: --status-port must be a port number\n`);
      return 2;
    }
  }
  let config;
  try {
    config = await loadConfig(v.config);
  } catch (e) {
    process.stderr.write(`lvskit-director: bad configuration:\n${(e as Error).message}\n`);
    return exitCodeOf(e);
  }
  if (v.check === true) {
    process.stdout.write(`${v.config}: OK (${config.services.length} service(s))\n`);
    return 0;
  }
  const logger = createLogger({ level: v['log-level'] ?? config.log.level, format: format ?? config.log.format });
  const ac = new AbortController();
  // lvskit's timers are unref'd (a library must not hold a process open): the daemon does, until stopped.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let director;
  try {
    director = await startDirector(config, { logger, signal: ac.signal, ...(v['dry-run'] === true ? { dryRun: true } : {}), ...(statusPort === undefined ? {} : { statusPort }) });
  } catch (e) {
    logger.fatal({ err: e }, 'director failed to start');
    const hint = e instanceof LvskitError ? ` [${e.code}]` : '';
    process.stderr.write(`lvskit-director: cannot start: ${(e as Error).message}${hint}\n`);
    clearInterval(keepAlive);
    return exitCodeOf(e);
  }
  const d = director;
  void d.stopped.then(() => clearInterval(keepAlive));
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the configuration');
    d.reload().catch((e: unknown) => logger.error({ err: e }, `reload failed, keeping the running configuration: ${(e as Error).message}`));
  });
  // The handlers stay while stopping: a second SIGTERM (an impatient operator, or a supervisor that
  // signals the process group and the process) must not kill the director halfway through
  // withdrawing its VIPs, as Node's default action would once a `once` handler is gone.
  let stopping = false;
  const stop = (restart: boolean) => (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.info({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    logger.info({ restart, signal }, 'stopping');
    void d.stop({ restart });
  };
  process.on('SIGTERM', stop(false));
  process.on('SIGINT', stop(false));
  process.on('SIGUSR2', stop(true));
  await d.stopped;
  return 0;
}

// A config-parsing worker loads this file too (config.ts): it must not run the daemon.
if (!IN_CONFIG_WORKER) main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Exit through process.exit once the loop is empty (every write done): a natural exit tears down
    // the signal handlers first, and a SIGTERM arriving in that window (a supervisor's second one)
    // would end the process by signal instead of with this code.
    process.once('beforeExit', () => process.exit(code));
    // Sockets of stopped peers may linger for a moment; nothing is left to do.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (e: unknown) => {
    process.stderr.write(`lvskit-director: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
