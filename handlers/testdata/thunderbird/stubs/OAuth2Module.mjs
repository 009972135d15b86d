// Stands in for Thunderbird's OAuth2Module.sys.mjs, which needs the login
// manager and a browser window. The harness never obtains OAuth2 tokens:
// initFromHostname reports no OAuth2 support, so Autodiscover requests use
// Basic auth, as Thunderbird does for every host outside its OAuth2 provider
// list (and after a failed OAuth2 login for hosts in it).

export function OAuth2Module() {}

OAuth2Module.prototype = {
  initFromHostname() {
    return false;
  },
  getAccessToken(listener) {
    listener.onFailure(new Error("harness: no OAuth2"));
  },
  cancelPrompt() {},
};
