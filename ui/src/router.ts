import { useEffect, useState } from "preact/hooks";

// Hash routes (`#/secrets?prefix=app/`), so the service serves one page at /ui and a reload keeps
// the place. Never put a token or a secret value in a route.

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function currentLocation(): Location {
  const hash = location.hash.replace(/^#/, "") || "/secrets";
  const [path, query] = hash.split("?", 2) as [string, string | undefined];
  return { path, query: new URLSearchParams(query ?? "") };
}

/** Goes to a console route, e.g. `navigate("/secret", { path: "app/db" })`. */
export function navigate(path: string, query?: Record<string, string | undefined>): void {
  location.hash = href(path, query);
}

/** The `#…` link of a console route. */
export function href(path: string, query?: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") params.set(k, v);
  const qs = params.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

/** The current location, updated on every hash change. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(currentLocation);
  useEffect(() => {
    const onChange = () => setLoc(currentLocation());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return loc;
}
