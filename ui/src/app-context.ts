import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session } from "./session.js";

/** What every page gets: the session and a way to end it (with the reason shown on the sign-in page). */
export interface AppContext {
  session: Session;
  signOut(reason?: string): void;
}

export const AppCtx = createContext<AppContext | undefined>(undefined);

/** The signed-in session; pages render only inside a session. */
export function useApp(): AppContext {
  const ctx = useContext(AppCtx);
  if (!ctx) throw new Error("page rendered outside a session");
  return ctx;
}
