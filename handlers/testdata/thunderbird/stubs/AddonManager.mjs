// Stands in for Gecko's AddonManager.sys.mjs, which account setup uses only
// to install Exchange add-ons. Never called by the harness's lookups.

export const AddonManager = {};
