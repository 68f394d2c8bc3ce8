import { useState } from "preact/hooks";
import { Badge, Empty, ErrorBox, Field, Loading, PagedTable, splitList, useKeysetPages, useLoad, when } from "../components.js";
import { useApp } from "../app-context.js";
import { href, navigate } from "../router.js";

const pageSize = 50;
/** The secret types of the contract, for the type filter and the create form. */
export const secretTypes = ["kv", "json", "certificate", "ssh_key", "api_key"];

/** "1 secret matches", "37 secrets match", or "10,000+ secrets match" when the service counted only up to its bound. */
export function matchCount(page: { totalCount: number; totalCountExact: boolean }): string {
  if (page.totalCount === 1 && page.totalCountExact) return "1 secret matches";
  return `${page.totalCount.toLocaleString("en-US")}${page.totalCountExact ? "" : "+"} secrets match`;
}

/** Secrets under a path prefix, one keyset page at a time (never the whole tenant). */
export function SecretsPage({ query }: { query: URLSearchParams }) {
  const { session, failingRotations } = useApp();
  const prefix = query.get("prefix") ?? "";
  const tags = query.get("tags") ?? "";
  const type = query.get("type") ?? "";
  const pages = useKeysetPages(`${prefix}|${tags}|${type}`);
  const { data, error, loading } = useLoad(
    () =>
      session.client.secrets.listSecrets({
        prefix: prefix || undefined,
        tag: splitList(tags),
        secretType: type || undefined,
        limit: pageSize,
        cursor: pages.cursor,
      }),
    [session, prefix, tags, type, pages.cursor],
  );
  const [form, setForm] = useState({ prefix, tags, type });
  const crumbs = prefix.split("/").filter(Boolean);
  // Folders one level below the prefix, from this page's rows: a path tree without a full listing.
  const folders = [...new Set((data?.secrets ?? []).map((s) => s.path.slice(prefix.length).split("/")).filter((p) => p.length > 1).map((p) => p[0]!))];

  return (
    <section aria-labelledby="secrets-title">
      <div class="page-head">
        <h1 id="secrets-title">Secrets</h1>
        <a class="button primary" href={href("/secret/new", { prefix })}>
          New secret
        </a>
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate("/secrets", form);
        }}
      >
        <Field label="Path starts with">
          <input name="prefix" value={form.prefix} placeholder="app/prod/" onInput={(e) => setForm({ ...form, prefix: e.currentTarget.value })} />
        </Field>
        <Field label="Tags (all must match)">
          <input name="tags" value={form.tags} placeholder="team-a, db" onInput={(e) => setForm({ ...form, tags: e.currentTarget.value })} />
        </Field>
        <Field label="Type">
          <select name="type" value={form.type} onChange={(e) => setForm({ ...form, type: e.currentTarget.value })}>
            <option value="">Any</option>
            {secretTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">Search</button>
      </form>
      <nav class="crumbs" aria-label="Path">
        <a href={href("/secrets", { tags, type })}>(root)</a>
        {crumbs.map((c, i) => (
          <span key={i}>
            {" / "}
            <a href={href("/secrets", { prefix: crumbs.slice(0, i + 1).join("/") + "/", tags, type })}>{c}</a>
          </span>
        ))}
      </nav>
      {folders.length > 0 && (
        <ul class="folders" aria-label="Folders on this page">
          {folders.map((f) => (
            <li key={f}>
              <a href={href("/secrets", { prefix: `${prefix}${f}/`, tags, type })}>{f}/</a>
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="secrets" />
      ) : data && data.secrets.length === 0 ? (
        <Empty>No secrets match. Change the filters or create one.</Empty>
      ) : (
        data && (
          <>
            <p class="count">{matchCount(data)}</p>
            <PagedTable
              headings={["Path", "Type", "Version", "Tags", "Updated", "Expires"]}
              tableClass="secrets-table"
              items={data.secrets}
              page={data}
              pages={pages}
              row={(s) => (
                <tr key={s.path}>
                  <td data-label="Path">
                    <a href={href("/secret", { path: s.path })}>{s.path}</a>
                    {failingRotations?.has(s.path) && (
                      <>
                        {" "}
                        <a class="badge-link" href={href("/rotation/secrets", { status: "failing" })}>
                          <Badge tone="bad">rotation failing</Badge>
                        </a>
                      </>
                    )}
                  </td>
                  <td data-label="Type">{s.secretType}</td>
                  <td data-label="Version">{s.version}</td>
                  <td data-label="Tags">{s.tags.join(", ")}</td>
                  <td data-label="Updated">{when(s.updatedAt)}</td>
                  <td data-label="Expires">{when(s.expiresAt)}</td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}
