/**
 * The operator command `lvskit-director pool|depool|drain SERVICE HOST` (`main`),
 * and the writers it uses (etcd conftool key, pool file).
 */
export { main, OPS_USAGE } from './cli.js';
export { EtcdPoolWriter, FilePoolWriter, type PoolWriter, type WriteResult } from './writer.js';
export { editPoolText, type EntryChange, type EditResult } from './edit.js';
