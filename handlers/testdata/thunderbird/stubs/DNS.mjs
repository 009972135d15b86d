// Stands in for Thunderbird's DNS.sys.mjs (a worker calling the system
// resolver). The harness answers from globalThis.harnessDNS, which is empty
// unless a test fills it: no SRV, MX or TXT records, as for a domain that
// publishes none.

const records = (type, name) => globalThis.harnessDNS?.[type]?.[name.toLowerCase()] ?? [];

export const DNS = {
  async lookup() {
    return [];
  },
  async srv(hostname) {
    return records("srv", hostname);
  },
  async txt(hostname) {
    return records("txt", hostname);
  },
  async mx(hostname) {
    return records("mx", hostname);
  },
};
