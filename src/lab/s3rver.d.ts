/**
 * The part of s3rver 3.7 (plain JavaScript, no types of its own) that
 * lab/s3.ts uses. Kept here rather than pulling in @types/s3rver for four
 * members; see node_modules/s3rver/lib/s3rver.js.
 */
declare module 's3rver' {
  import type { Server } from 'node:http';

  interface S3rverOptions {
    /** Root of the store: one directory per bucket. */
    directory: string;
    /** false: no log lines at all (lab/s3.ts logs each request itself). */
    silent?: boolean;
    /** false: buckets only from the path, never from the Host header. */
    vhostBuckets?: boolean;
    /** Must stay false: true deletes everything under `directory` on close. */
    resetOnClose?: boolean;
    /** Created (if missing) by configureBuckets(). */
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  class S3rver {
    constructor(options: S3rverOptions);
    configureBuckets(): Promise<void>;
    /** Listens like net.Server#listen (a unix socket path here); resolves with the http.Server. */
    listen(path: string): Promise<Server>;
  }

  export = S3rver;
}
