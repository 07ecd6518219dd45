/** Download an authenticated file (an invoice PDF): fetched with the session's token, saved under `name`. */
import { ApiError } from "./request";
import { session } from "./session";

export async function downloadFile(path: string, name: string): Promise<void> {
  const token = await session.accessToken();
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: "same-origin" });
  if (!response.ok) {
    throw new ApiError(response.status, `http_${response.status}`, `The server answered ${response.status} for ${name}.`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
