// Stands in for Thunderbird's GuessConfig.sys.mjs, which probes ports on
// real hosts. Autodiscover calls it only when a response lists no IMAP or
// POP3 server; the harness makes that probe find nothing, which Thunderbird
// handles by keeping the Exchange-only result (subSource "...-guess").

export const GuessConfig = {
  async guessConfig() {
    throw new Error("harness: port probing (GuessConfig) is not run");
  },
};
