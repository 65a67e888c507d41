-- (0.2.0) The provider's tokens are no longer kept by default (`STORE_PROVIDER_TOKENS` in
-- `oauth2.rs`): a stored token is a credential at the provider for whoever reads the database.
-- The tokens that earlier versions stored are forgotten; the links stay. An app that turns the
-- constant on gets each account's tokens again at its next login. (The columns keep their
-- definition: "no token" is an empty access token and no refresh token.)

UPDATE oauth_accounts SET access_token = '', refresh_token = NULL, expires_at = NULL;
