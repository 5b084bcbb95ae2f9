/** An error the caller caused or can act on; `status` is the HTTP status the Docker API answers with. */
export class EngineError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 501 | 502,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export const notFound = (what: string) => new EngineError(404, what);
export const conflict = (what: string) => new EngineError(409, what);
export const badRequest = (what: string) => new EngineError(400, what);
