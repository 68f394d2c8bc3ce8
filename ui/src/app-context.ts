import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session } from "./session.js";

/**
 * What every page gets: the session, a way to end it (with the reason shown on the sign-in page),
 * and the provider rotations now failing (the header's counter; undefined while unknown or not
 * readable with this token).
 */
export interface AppContext {
  session: Session;
  signOut(reason?: string): void;
  failingRotations: ReadonlySet<string> | undefined;
  /** Asks the header to count failing rotations again, after a page changed one. */
  rotationChanged(): void;
}

export const AppCtx = createContext<AppContext | undefined>(undefined);

/** The signed-in session; pages render only inside a session. */
export function useApp(): AppContext {
  const ctx = useContext(AppCtx);
  if (!ctx) throw new Error("page rendered outside a session");
  return ctx;
}
