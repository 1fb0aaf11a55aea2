/**
 * Making a signal of ours follow a caller's signal for as long as ours is in use, without leaking.
 *
 * `AbortSignal.any([callerSignal, ours])` is the obvious tool, but in Node it leaks when the caller's signal
 * lives long (an app-wide shutdown signal, a component's signal reused for every request): each call leaves
 * an entry behind on the long-lived signal that no GC reclaims. Measured here: ~80 B a call on Node 20.20,
 * ~200 B on Node 22.23 (nodejs/node#55351, #54614). It also costs ~5 µs a call. In Node a link is therefore
 * one weak reference in a set per caller signal, removed once its signal is collected (and, should
 * finalizers run late, pruned as the set doubles), so the set stays proportional to the links alive.
 */

/** A caller signal's links: weak references to our signals, pruned when the set doubles. */
interface Links {
  readonly signals: Set<WeakRef<AbortSignal>>;
  pruneAt: number;
}

const PRUNE_FLOOR = 64;

/**
 * Where the runtime's own `AbortSignal.any` is used instead. Weak links are for Node, whose `any` leaks
 * (Node 20 through 22 at least) and whose `fetch` (undici) holds the signal it was given for as long as the
 * response body is read, which a weak link relies on. Deno fixed its `any` (2.9 measures flat), browsers
 * implement the spec's rule that keeps a dependent signal alive while it can still abort, and Workers keep
 * every WeakRef's target alive without the `enable_weak_ref` flag (checked in workerd): there the platform's
 * link is the right one.
 */
const weakLinks =
  typeof WeakRef === "function" &&
  typeof FinalizationRegistry === "function" &&
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string" &&
  (globalThis as { Deno?: unknown }).Deno === undefined;

const linksOf = new WeakMap<AbortSignal, Links>();
/** Each linked signal's controller, kept exactly as long as the signal itself (a WeakMap value). */
const controllerOf = new WeakMap<AbortSignal, AbortController>();
/** Drops a collected signal's entry; the held value must not reach the signal, or it would never be collected. */
const forget = weakLinks
  ? new FinalizationRegistry<{ readonly links: Links; readonly ref: WeakRef<AbortSignal> }>(({ links, ref }) =>
      links.signals.delete(ref),
    )
  : undefined;

/**
 * What each linked signal follows at the root: the caller's signals, never one of our own linked signals,
 * which may be collected before the signals that follow it (a total deadline's, once its call settled, while
 * the attempt's signal still serves a body). `AbortSignal.any` flattens its sources the same way.
 */
const rootsOf = new WeakMap<AbortSignal, readonly AbortSignal[]>();

/**
 * Returns `controller.signal`, made to abort with `source.reason` when `source` aborts, for as long as that
 * signal is reachable (by the `fetch` reading a body with it, say). `source` holds no strong reference to
 * `controller`, and one listener in all, however many controllers follow it.
 */
export function followSignal(source: AbortSignal, controller: AbortController): AbortSignal {
  const signal = controller.signal;
  if (signal.aborted) return signal;
  if (!weakLinks) return AbortSignal.any([source, signal]);
  // The source itself while it lives (its own aborts too), and what it follows once it is gone.
  const roots = rootsOf.get(source);
  link(source, controller);
  if (roots !== undefined) for (const root of roots) link(root, controller);
  rootsOf.set(signal, roots ?? [source]);
  return signal;
}

function link(source: AbortSignal, controller: AbortController): void {
  const signal = controller.signal;
  if (signal.aborted) return;
  if (source.aborted) {
    controller.abort(source.reason);
    return;
  }
  let links = linksOf.get(source);
  if (links === undefined) {
    const created: Links = { signals: new Set(), pruneAt: PRUNE_FLOOR };
    links = created;
    linksOf.set(source, created);
    source.addEventListener(
      "abort",
      () => {
        linksOf.delete(source);
        for (const ref of created.signals) {
          const follower = ref.deref();
          if (follower !== undefined) controllerOf.get(follower)?.abort(source.reason);
        }
        created.signals.clear();
      },
      { once: true },
    );
  }
  controllerOf.set(signal, controller);
  const ref = new WeakRef(signal);
  links.signals.add(ref);
  forget?.register(signal, { links, ref });
  if (links.signals.size >= links.pruneAt) prune(links);
}

function prune(links: Links): void {
  for (const ref of links.signals) if (ref.deref() === undefined) links.signals.delete(ref);
  links.pruneAt = Math.max(PRUNE_FLOOR, 2 * links.signals.size);
}
