/**
 * The part of `node:async_hooks` the Worker uses. workerd provides it with the `nodejs_compat` flag
 * (wrangler.toml); declared here because the Worker's types are workerd's, not Node's.
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, callback: () => R): R;
    getStore(): T | undefined;
  }
}
