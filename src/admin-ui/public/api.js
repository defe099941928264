// The public mailotp REST API, exactly as any privacyIDEA admin client calls it.

const SESSION_KEY = 'mailotp.admin.session';

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** The session lives in sessionStorage only: it ends with the tab and is never written to disk as a cookie. */
export function readSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return session && typeof session.token === 'string' ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

const listeners = new Set();
/** Called when the server refuses the session (expired or invalid), so the app can show the login. */
export function onSessionLost(listener) {
  listeners.add(listener);
}

function queryString(query) {
  if (!query) return '';
  const entries = Object.entries(query).filter(([, value]) => value !== undefined && value !== null && value !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([key, value]) => [key, String(value)]))}`;
}

/**
 * Calls the API and returns result.value, or throws ApiError with the server's own message.
 * Bodies go as JSON: the server takes JSON values as they are (form values get a second URL decode).
 */
export async function call(method, path, { query, body, isAuthenticated = true } = {}) {
  const headers = { accept: 'application/json' };
  if (isAuthenticated) {
    const session = readSession();
    if (session) headers.authorization = session.token;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${path}${queryString(query)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError('The mailotp server cannot be reached. Check your network connection and try again.', 0, 'NETWORK');
  }
  let payload;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} without a readable body.`, response.status, 'BAD_RESPONSE');
  }
  const result = payload?.result;
  if (!response.ok || !result || result.status !== true) {
    const message = result?.error?.message ?? `The server answered ${response.status} ${response.statusText}.`;
    const error = new ApiError(message, response.status, payload?.detail?.error_code ?? result?.error?.code);
    if (isAuthenticated && response.status === 401) {
      clearSession();
      for (const listener of listeners) listener(error);
    }
    throw error;
  }
  return { value: result.value, detail: payload.detail ?? {} };
}

export async function login(username, password) {
  const { value } = await call('POST', '/auth', { body: { username, password }, isAuthenticated: false });
  saveSession({ token: value.token, username: value.username });
  return value;
}

export const api = {
  getSettings: async () => (await call('GET', '/system/')).value,
  setSettings: async (settings) => (await call('POST', '/system/setConfig', { body: settings })).value,

  listSmtpServers: async () => (await call('GET', '/smtpserver/')).value,
  saveSmtpServer: async (server) => (await call('POST', `/smtpserver/${encodeURIComponent(server.identifier)}`, { body: server })).value,
  deleteSmtpServer: async (identifier) => (await call('DELETE', `/smtpserver/${encodeURIComponent(identifier)}`)).value,
  sendTestEmail: async (identifier, recipient) => call('POST', '/smtpserver/send_test_email', { body: { identifier, recipient } }),

  listUsers: async () => (await call('GET', '/user/')).value,
  addUser: async (user) => (await call('POST', '/user/', { body: user })).value,
  deleteUser: async (resolver, login) =>
    (await call('DELETE', `/user/${encodeURIComponent(resolver)}/${encodeURIComponent(login)}`)).value,

  listTokens: async (query) => (await call('GET', '/token/', { query })).value,
  enrolToken: async (token) => call('POST', '/token/init', { body: { type: 'email', ...token } }),
  tokenAction: async (action, serial) => (await call('POST', `/token/${action}/${encodeURIComponent(serial)}`)).value,
  deleteToken: async (serial) => (await call('DELETE', `/token/${encodeURIComponent(serial)}`)).value,
};
