/** Authenticated API calls: the session's access token, one retry after a refresh on 401. */
import { ApiError, request, type RequestOptions } from "./request";
import { session } from "./session";

export async function api<T>(path: string, options: Omit<RequestOptions, "token"> = {}): Promise<T> {
  const token = await session.accessToken();
  try {
    return await request<T>(path, { ...options, token });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    const fresh = await session.refresh();
    return request<T>(path, { ...options, token: fresh });
  }
}

export { ApiError };
