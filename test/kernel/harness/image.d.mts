// Types for image.mjs (the kernel-tier VM image builder, plain ESM so scripts/kernel-image.mjs can use it).

/** Repository root (absolute, with a trailing slash). */
export declare const REPO_ROOT: string;
/** `<repo>/.cache/kernel`. */
export declare const DEFAULT_CACHE_DIR: string;
/** Modules /init loads before reading the input disk. */
export declare const BOOT_MODULES: readonly string[];
/** Modules (plus dependencies) shipped in the image; loadable with modprobe inside the VM. */
export declare const IMAGE_MODULES: readonly string[];
/** The VM's /init. */
export declare const INIT_SCRIPT: string;

export declare class ImageError extends Error {
  readonly code: 'ERR_VM_IMAGE';
  constructor(message: string, options?: { cause?: unknown });
}

export interface PrepareImageOptions {
  /** Cache directory (default `<repo>/.cache/kernel`). */
  cacheDir?: string;
  /** Progress messages (download, build). */
  log?: (msg: string) => void;
  /**
   * Extra host binaries (absolute paths) copied into the image at the same paths, with the shared
   * libraries `ldd` lists for them (e.g. `/sbin/ip`, `/usr/sbin/bird`, `/usr/bin/etcd`). They win over
   * a busybox applet of the same path. Part of the image's cache key.
   */
  binaries?: readonly string[];
  /** Extra kernel modules (with their dependencies) shipped beside IMAGE_MODULES. Part of the cache key. */
  modules?: readonly string[];
}

export interface PreparedImage {
  /** Hash of every input of the image. */
  key: string;
  /** `<cacheDir>/img-<key>`. */
  dir: string;
  /** Path of the kernel (bzImage). */
  kernel: string;
  /** Path of the uncompressed newc initramfs. */
  initramfs: string;
  /** `name=version` of the Debian kernel package. */
  kernelPackage: string;
  /** True when the image was already in the cache. */
  cacheHit: boolean;
}

/** Host prerequisites that are missing (empty when the kernel tier can run). */
export declare function checkHost(): string[];

/** Make sure an image for the current inputs is cached; build it (downloading the kernel) if not. */
export declare function prepareImage(opts?: PrepareImageOptions): Promise<PreparedImage>;
