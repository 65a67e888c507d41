/// Revokes one credential (logout).
pub async fn revoke(state: &UsersState, credential: &Credential) -> Result<(), ApiError> {
    db::delete_token(&state.db, &credential.token_hash).await?;
    Ok(())
}

/// Revokes every credential of the user except `keep`, on the pool (`&state.db`) or in a
/// transaction (`&mut *connection`){% if "magic-link" in handlers %}, and their login links{% endif %}{% if "totp" in handlers %}{% if "magic-link" in handlers %} and{% else %}, and their{% endif %} logins waiting for a second step{% endif %}{% if "magic-link" in handlers or "totp" in handlers %}: each is a
/// credential waiting to be used, and must not outlive what ends the others (a new password, a
/// deactivation, a change of address){% endif %}.
pub async fn revoke_all(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    user_id: Uuid,
    keep: Option<&Credential>,
) -> Result<(), ApiError> {
    let keep = keep.map(|credential| credential.token_hash.as_str());
{%- if "magic-link" in handlers and "totp" in handlers %}
    let purposes = [CREDENTIAL, Purpose::MagicLink, Purpose::Mfa];
{%- elif "magic-link" in handlers %}
    let purposes = [CREDENTIAL, Purpose::MagicLink];
{%- elif "totp" in handlers %}
    let purposes = [CREDENTIAL, Purpose::Mfa];
{%- else %}
    let purposes = [CREDENTIAL];
{%- endif %}
    db::delete_user_tokens(executor, user_id, &purposes, keep).await?;
    Ok(())
}
