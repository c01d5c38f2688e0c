// JSON over HTTP for the server's REST API (docs/protocol.md, REST).

export class ApiError extends Error {
  constructor(status, body, method, path) {
    super(`${method} ${path}: ${status} ${typeof body === "string" ? body : JSON.stringify(body)}`);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

export class Rest {
  constructor(baseUrl, { timeoutMs = 20000 } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.timeoutMs = timeoutMs;
  }

  // One request; the decoded JSON (null for an empty body). Throws ApiError for a
  // 4xx/5xx answer and NetworkError when the server cannot be reached.
  async call(method, path, { body, token, query, form } = {}) {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null) params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += "?" + text;
    }
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Token ${token}`;
    let payload;
    if (form) {
      payload = form; // multipart: the browser sets the boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, signal: abort.signal, credentials: "omit" });
    } catch (error) {
      throw new NetworkError(`${method} ${path}: ${error.message || error}`);
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text().catch(() => "");
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!response.ok) throw new ApiError(response.status, data, method, path);
    return data;
  }
}
