import { createContext, useContext } from "react";
import type { Me } from "../api/generated";

/** Who is logged in; `null` while the app checks. Screens read it, only App sets it. */
export interface Session {
  me: Me;
  logout: () => Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a logged-in screen");
  return session;
}
