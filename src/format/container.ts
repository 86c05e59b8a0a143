/** docker's short form of a 64-hex container id (12 digits); a name (LXC, systemd-nspawn) whole. */
export function shortContainerId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}
