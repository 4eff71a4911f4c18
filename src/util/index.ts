/**
 * Shared pieces used by every module (and by nothing else): the error base,
 * the clock, byte reader/writer, the internet checksum, logger types and
 * cancellation helpers. Modules never import each other; they import this.
 */
export * from './errors.js';
export * from './clock.js';
export * from './bytes.js';
export * from './checksum.js';
export * from './logger.js';
export * from './abort.js';
export * from './address.js';
