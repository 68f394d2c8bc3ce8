import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { isScaiVaultError, timestampDate, type Timestamp } from "./api.js";
import { useApp } from "./app-context.js";

/** Shows an API error as the contract gives it: message, code and the request id to quote. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = isScaiVaultError(error) ? error : undefined;
  return (
    <div class="error" role="alert">
      <strong>{e ? e.message : String((error as Error)?.message ?? error)}</strong>
      {e && (
        <span class="error-meta">
          {" "}code <code>{e.code}</code>
          {e.requestId && (
            <>
              {" "}· request id <code class="request-id">{e.requestId}</code>
            </>
          )}
        </span>
      )}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A timestamp in the browser's locale (or a dash). */
export function when(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toLocaleString() : "—";
}

/**
 * Runs API calls for a page: remembers the error to show and sends an expired or rejected token
 * back to sign-in with the service's message.
 */
export function useCall() {
  const { signOut } = useApp();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = useCallback(
    async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
      setBusy(true);
      setError(undefined);
      try {
        return await fn();
      } catch (err) {
        if (isScaiVaultError(err) && err.code === "unauthenticated") {
          signOut(`You were signed out: ${err.message}${err.requestId ? ` (request id ${err.requestId})` : ""}`);
          return undefined;
        }
        setError(err);
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [signOut],
  );
  return { error, setError, busy, run };
}

/** Loads data when its inputs change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const { error, run } = useCall();
  const [data, setData] = useState<T>();
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    const result = await run(load);
    if (mine !== seq.current) return;
    setData(result);
    setLoading(false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload };
}

/**
 * Keyset paging over a `cursor`/`has_more` list: keeps the cursors of the pages before this one,
 * so Previous goes back without loading anything else.
 */
export function useKeysetPages(resetKey: string) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  useEffect(() => setCursors([undefined]), [resetKey]);
  const cursor = cursors[cursors.length - 1];
  return {
    cursor,
    page: cursors.length,
    next: (nextCursor: string | undefined) => nextCursor && setCursors((c) => [...c, nextCursor]),
    previous: () => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)),
  };
}

export function Pager({ page, hasMore, nextCursor, pages }: { page: number; hasMore: boolean; nextCursor?: string; pages: ReturnType<typeof useKeysetPages> }) {
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" onClick={pages.previous} disabled={page <= 1}>
        ← Previous
      </button>
      <span>Page {page}</span>
      <button type="button" onClick={() => pages.next(nextCursor)} disabled={!hasMore || !nextCursor}>
        Next →
      </button>
    </nav>
  );
}

/** One keyset page as a table (column headings, a row per item) with its pager below. */
export function PagedTable<T>(props: {
  headings: ComponentChildren[];
  items: readonly T[];
  row: (item: T) => ComponentChildren;
  page: { hasMore: boolean; cursor?: string };
  pages: ReturnType<typeof useKeysetPages>;
  tableClass?: string;
}) {
  const { headings, items, row, page, pages, tableClass } = props;
  return (
    <>
      <div class="table-wrap">
        <table class={tableClass}>
          <thead>
            <tr>
              {headings.map((heading, i) => (
                <th scope="col" key={i}>
                  {heading}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>{items.map(row)}</tbody>
        </table>
      </div>
      <Pager page={pages.page} hasMore={page.hasMore} nextCursor={page.cursor} pages={pages} />
    </>
  );
}

/** A labelled form field. */
export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

/** Splits a comma-separated input into trimmed, non-empty items. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function Badge({ tone, children }: { tone: "ok" | "off" | "bad" | "info"; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}
