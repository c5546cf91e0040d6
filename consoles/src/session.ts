// Who is asking: the client's API token and the end user's ID token from the organisation's
// issuer, pasted once and kept in sessionStorage (this tab only, gone when it closes). The
// agent verifies both on every request, exactly as for any other client.
const TOKEN = "gerbang.token";
const ID_TOKEN = "gerbang.idToken";

export interface Credentials {
  token: string;
  idToken: string;
}

export function credentials(): Credentials | null {
  const token = sessionStorage.getItem(TOKEN);
  const idToken = sessionStorage.getItem(ID_TOKEN);
  return token && idToken ? { token, idToken } : null;
}

export function signIn(c: Credentials): void {
  sessionStorage.setItem(TOKEN, c.token.trim());
  sessionStorage.setItem(ID_TOKEN, c.idToken.trim());
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ID_TOKEN);
}

/** The subject of the ID token, for display only: the agent, not the page, verifies it. */
export function subject(c: Credentials): string {
  try {
    const part = c.idToken.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : "?";
  } catch {
    return "?";
  }
}
